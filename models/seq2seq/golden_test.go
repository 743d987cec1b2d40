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
