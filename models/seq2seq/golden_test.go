package seq2seq_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// golden is testdata/golden.json, written by testdata/golden.py: a T5-like
// encoder-decoder written directly in PyTorch (float64), its weights and
// what it computes with them.
type golden struct {
	Config  string                        `json:"config"`
	Weights map[string]runtime.JSONTensor `json:"weights"`
	Src     runtime.JSONTensor            `json:"src"`
	IDs     runtime.JSONTensor            `json:"ids"`
	Targets runtime.JSONTensor            `json:"targets"`
	Logits  runtime.JSONTensor            `json:"logits"`
	Loss    float64                       `json:"loss"`
	Grads   map[string]runtime.JSONTensor `json:"grads"`
}

func near(t *testing.T, what string, got, want runtime.JSONTensor) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, want.Shape)
		return
	}
	for i := range want.Data {
		g, w := float64(got.Data[i]), float64(want.Data[i])
		if !(math.Abs(g-w) <= 1e-10*math.Max(1, math.Abs(w))) {
			t.Errorf("%s[%d] = %.17g, PyTorch %.17g", what, i, g, w)
			return
		}
	}
}

// TestMatchesPyTorch loads the PyTorch model's weights into the
// interpreter and the generated code (f64) and matches logits, loss and
// every gradient to 1e-10, and the logits of KV-cache decoding.
func TestMatchesPyTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var gd golden
	if err := json.Unmarshal(b, &gd); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MLC_CACHE", t.TempDir())
	res, err := compile.Zoo("seq2seq", gd.Config, compile.Options{Float: graph.F64, Decode: "on"})
	if err != nil {
		t.Fatal(err)
	}
	prog := res.Program
	var names []string
	for _, p := range prog.Train.Params() {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if got, want := strings.Join(names, " "), strings.Join(slices.Sorted(maps.Keys(gd.Weights)), " "); got != want {
		t.Fatalf("parameters\n %s\nPyTorch's weights\n %s", got, want)
	}
	req := compile.RunRequest{Params: gd.Weights, Inputs: map[string]runtime.JSONTensor{"src": gd.Src, "ids": gd.IDs, "targets": gd.Targets}, Loss: true, Grads: true}
	interp, err := compile.RunInterpreted(prog, req)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := compile.BuildRunner(prog)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := compile.RunGenerated(bin, req)
	if err != nil {
		t.Fatal(err)
	}
	// KV-cache decoding: Prefill encodes the source and the first p decoder
	// positions, DecodeStep each later one; the logits are the full model's.
	for _, p := range []int{1, 3} {
		dreq := compile.RunRequest{Params: gd.Weights, Inputs: map[string]runtime.JSONTensor{"src": gd.Src, "ids": gd.IDs}, Phase: "decode", Prefill: p}
		di, err := compile.RunInterpreted(prog, dreq)
		if err != nil {
			t.Fatal(err)
		}
		dg, err := compile.RunGenerated(bin, dreq)
		if err != nil {
			t.Fatal(err)
		}
		near(t, fmt.Sprintf("interpreter, prefill %d then decode: logits", p), di.Outputs["logits"], gd.Logits)
		near(t, fmt.Sprintf("generated, prefill %d then decode: logits", p), dg.Outputs["logits"], gd.Logits)
	}
	for _, e := range []struct {
		name string
		r    *runtime.RunResult
	}{{"interpreter", interp}, {"generated", gen}} {
		near(t, e.name+" logits", e.r.Outputs["logits"], gd.Logits)
		if e.r.Loss == nil || math.Abs(float64(*e.r.Loss)-gd.Loss) > 1e-10 {
			t.Errorf("%s loss %v, PyTorch %.17g", e.name, e.r.Loss, gd.Loss)
		}
		if len(e.r.Grads) != len(gd.Grads) {
			t.Errorf("%s: %d gradients, PyTorch %d", e.name, len(e.r.Grads), len(gd.Grads))
		}
		for name, want := range gd.Grads {
			near(t, e.name+" d"+name, e.r.Grads[name], want)
		}
	}
}

// TestPaddingIsInvisible: in both engines (f64), with the PyTorch model's
// weights, (1) what the padded source positions hold (the pad token's
// embedding row, here perturbed) changes no logit except the pad token's
// own (the embedding is tied to the output), and (2) a source padded to
// src_ctx = 7 gives the logits of the same sources in a model with
// src_ctx = 4 (one padded by 2, one not padded at all), and so does
// KV-cache decoding.
func TestPaddingIsInvisible(t *testing.T) {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var gd golden
	if err := json.Unmarshal(b, &gd); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MLC_CACHE", t.TempDir())
	ids := func(shape []int, v ...float64) runtime.JSONTensor {
		j := runtime.JSONTensor{Shape: shape}
		for _, x := range v {
			j.Data = append(j.Data, runtime.JSONFloat(x))
		}
		return j
	}
	dec := ids([]int{2, 5}, 3, 1, 4, 1, 5, 9, 2, 6, 5, 3) // no pad id: the decoder never reads the pad row
	long := ids([]int{2, 7}, 7, 3, 12, 5, 0, 0, 0, 2, 9, 0, 0, 0, 0, 0)
	short := ids([]int{2, 4}, 7, 3, 12, 5, 2, 9, 0, 0)
	perturbed := maps.Clone(gd.Weights)
	wte := gd.Weights["wte"]
	perturbed["wte"] = runtime.JSONTensor{Shape: wte.Shape, Data: slices.Clone(wte.Data)}
	d := wte.Shape[1]
	for i := range d {
		perturbed["wte"].Data[i] += runtime.JSONFloat(0.7 * math.Sin(float64(3*i+1))) // row 0: the pad token
	}
	vocab := wte.Shape[0]
	// same compares logits [2, 5, vocab] except the pad column.
	same := func(what string, got, want runtime.JSONTensor) {
		t.Helper()
		for i := range want.Data {
			if i%vocab == 0 {
				continue
			}
			if g, w := float64(got.Data[i]), float64(want.Data[i]); !(math.Abs(g-w) <= 1e-10*math.Max(1, math.Abs(w))) {
				t.Errorf("%s: logits[%d] = %.17g, want %.17g", what, i, g, w)
				return
			}
		}
	}
	type run struct {
		name   string
		config string
		params map[string]runtime.JSONTensor
		src    runtime.JSONTensor
		phase  string
	}
	shortCfg := strings.Replace(gd.Config, "src_ctx=7", "src_ctx=4", 1)
	var ref runtime.JSONTensor
	for i, r := range []run{
		{"padded", gd.Config, gd.Weights, long, ""},
		{"padded, pad row perturbed", gd.Config, perturbed, long, ""},
		{"padded, pad row perturbed, KV-cache decoding", gd.Config, perturbed, long, "decode"},
		{"unpadded (src_ctx 4)", shortCfg, gd.Weights, short, ""},
		{"unpadded (src_ctx 4), KV-cache decoding", shortCfg, gd.Weights, short, "decode"},
	} {
		res, err := compile.Zoo("seq2seq", r.config, compile.Options{Float: graph.F64, Decode: "on"})
		if err != nil {
			t.Fatal(err)
		}
		req := compile.RunRequest{Params: r.params, Inputs: map[string]runtime.JSONTensor{"src": r.src, "ids": dec}, Phase: r.phase, Prefill: 2}
		interp, err := compile.RunInterpreted(res.Program, req)
		if err != nil {
			t.Fatal(err)
		}
		bin, err := compile.BuildRunner(res.Program)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := compile.RunGenerated(bin, req)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ref = interp.Outputs["logits"]
		}
		same("interpreter, "+r.name, interp.Outputs["logits"], ref)
		same("generated, "+r.name, gen.Outputs["logits"], ref)
	}
	// The control: without the mask the perturbation would show. A source
	// whose padding is replaced by real tokens gives other logits.
	res, err := compile.Zoo("seq2seq", gd.Config, compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	unmasked := ids([]int{2, 7}, 7, 3, 12, 5, 1, 1, 1, 2, 9, 1, 1, 1, 1, 1)
	other, err := compile.RunInterpreted(res.Program, compile.RunRequest{Params: gd.Weights, Inputs: map[string]runtime.JSONTensor{"src": unmasked, "ids": dec}})
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i, v := range other.Outputs["logits"].Data {
		if math.Abs(float64(v-ref.Data[i])) > 1e-6 {
			moved++
		}
	}
	if moved < len(ref.Data)/2 {
		t.Errorf("control: tokens in place of the padding moved only %d of %d logits", moved, len(ref.Data))
	}
}
