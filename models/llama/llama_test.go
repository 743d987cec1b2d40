package llama_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models/llama"
	"github.com/mlc-dev/mlc/runtime"
)

// golden is testdata/golden.json, written by testdata/golden.py: a
// Llama-style model written directly in PyTorch (float64) with HF Llama's
// conventions, its weights, and what it computes with them.
type golden struct {
	Cases []struct {
		Name         string                        `json:"name"`
		Config       string                        `json:"config"`
		Weights      map[string]runtime.JSONTensor `json:"weights"`
		IDs          runtime.JSONTensor            `json:"ids"`
		Targets      runtime.JSONTensor            `json:"targets"`
		Logits       runtime.JSONTensor            `json:"logits"`
		Loss         float64                       `json:"loss"`
		Grads        map[string]runtime.JSONTensor `json:"grads"`
		PrefixLogits map[string]runtime.JSONTensor `json:"prefix_logits"`
	} `json:"cases"`
}

const tol = 1e-10

func near(t *testing.T, what string, got, want runtime.JSONTensor) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, want.Shape)
		return
	}
	for i := range want.Data {
		g, w := float64(got.Data[i]), float64(want.Data[i])
		if !(math.Abs(g-w) <= tol*math.Max(1, math.Abs(w))) {
			t.Errorf("%s[%d] = %.17g, PyTorch %.17g", what, i, g, w)
			return
		}
	}
}

// rows is the first p positions of logits [B, T, V].
func rows(x runtime.JSONTensor, p int) runtime.JSONTensor {
	B, T, V := x.Shape[0], x.Shape[1], x.Shape[2]
	out := runtime.JSONTensor{Shape: []int{B, p, V}}
	for b := range B {
		out.Data = append(out.Data, x.Data[b*T*V:b*T*V+p*V]...)
	}
	return out
}

// TestMatchesPyTorch loads the PyTorch model's weights into the
// interpreter and the generated code (f64) and matches logits, loss and
// every gradient to 1e-10; Prefill on p positions followed by DecodeStep
// gives the full logits, and its first p positions are those of PyTorch's
// model run on the prefix alone.
func TestMatchesPyTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var gd golden
	if err := json.Unmarshal(b, &gd); err != nil {
		t.Fatal(err)
	}
	if len(gd.Cases) == 0 {
		t.Fatal("no cases")
	}
	t.Setenv("MLC_CACHE", t.TempDir())
	for _, c := range gd.Cases {
		t.Run(c.Name, func(t *testing.T) {
			res, err := compile.Zoo("llama", c.Config, compile.Options{Float: graph.F64, Decode: "on"})
			if err != nil {
				t.Fatal(err)
			}
			prog := res.Program
			var names []string
			for _, p := range prog.Train.Params() {
				names = append(names, p.Name)
			}
			if got, want := strings.Join(slices.Sorted(slices.Values(names)), " "), strings.Join(slices.Sorted(maps.Keys(c.Weights)), " "); got != want {
				t.Fatalf("parameters\n %s\nPyTorch's weights\n %s", got, want)
			}
			req := compile.RunRequest{Params: c.Weights, Inputs: map[string]runtime.JSONTensor{"ids": c.IDs, "targets": c.Targets}, Loss: true, Grads: true}
			interp, err := compile.RunInterpreted(prog, req)
			if err != nil {
				t.Fatal(err)
			}
			bin, err := compile.BuildRunner(prog)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := compile.StartServer(bin, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			gen, err := srv.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []struct {
				name string
				r    *runtime.RunResult
			}{{"interpreter", interp}, {"generated", &gen.RunResult}} {
				near(t, e.name+" logits", e.r.Outputs["logits"], c.Logits)
				if e.r.Loss == nil || math.Abs(float64(*e.r.Loss)-c.Loss) > tol {
					t.Errorf("%s loss %v, PyTorch %.17g", e.name, e.r.Loss, c.Loss)
				}
				for name, want := range c.Grads {
					near(t, e.name+" d"+name, e.r.Grads[name], want)
				}
			}
			for ps, want := range c.PrefixLogits {
				p, err := strconv.Atoi(ps)
				if err != nil {
					t.Fatal(err)
				}
				dreq := compile.RunRequest{Params: c.Weights, Inputs: map[string]runtime.JSONTensor{"ids": c.IDs}, Phase: "decode", Prefill: p}
				di, err := compile.RunInterpreted(prog, dreq)
				if err != nil {
					t.Fatal(err)
				}
				dg, err := srv.Do(dreq)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range []struct {
					name string
					r    *runtime.RunResult
				}{{"interpreter", di}, {"generated", &dg.RunResult}} {
					what := fmt.Sprintf("%s, prefill %d then decode: ", e.name, p)
					near(t, what+"logits", e.r.Outputs["logits"], c.Logits)
					near(t, what+"prefix logits", rows(e.r.Outputs["logits"], p), want)
				}
			}
		})
	}
}

// TestBadConfigs: every mistake in a config is a one-line error at the
// model's line, reported all at once.
func TestBadConfigs(t *testing.T) {
	for _, c := range []struct {
		edit func(*llama.Config)
		want []string
	}{
		{func(c *llama.Config) { c.KVHeads = 3 }, []string{"kv_heads (3) must divide heads (4)"}},
		{func(c *llama.Config) { c.D, c.Heads, c.KVHeads = 12, 4, 2 }, []string{"the head width d/heads = 3 must be even: RoPE rotates pairs of features"}},
		{func(c *llama.Config) { c.D = 30 }, []string{"d (30) must be divisible by heads (4)"}},
		{func(c *llama.Config) { c.RopeTheta, c.NormEps, c.FFN = 0, -1, 0 }, []string{"ffn must be positive, got 0", "rope_theta must be positive, got 0", "norm_eps must be positive, got -1"}},
	} {
		cfg := llama.DefaultConfig()
		c.edit(&cfg)
		_, err := dsl.Build("llama", "models/llama/llama.go", dsl.Options{}, func(b *dsl.Builder) { llama.Build(b, cfg) })
		if err == nil {
			t.Errorf("%+v: no error", cfg)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(c.want) {
			t.Errorf("%+v: got %d errors, want %d:\n%v", cfg, len(lines), len(c.want), err)
			continue
		}
		for i, l := range lines {
			if !strings.Contains(l, "models/llama/llama.go:") || !strings.HasSuffix(l, c.want[i]) {
				t.Errorf("error %q, want the model's position and %q", l, c.want[i])
			}
		}
	}
}

// TestDefaultSize: the default is about the size of the default gpt.
func TestDefaultSize(t *testing.T) {
	g, err := dsl.Build("llama", "models/llama/llama.go", dsl.Options{}, func(b *dsl.Builder) { llama.Build(b, llama.DefaultConfig()) })
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range g.Params() {
		n += p.Type.Shape.Size()
	}
	// wte, and per layer two gains, Wq and Wo [128,128], Wk and Wv [128,64], three [128,384] MLP matrices; the final gain.
	want := 512*128 + 4*(2*128+2*128*128+2*128*64+3*128*384) + 128
	if n != want {
		t.Errorf("%d parameters, want %d", n, want)
	}
}
