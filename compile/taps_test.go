package compile_test

import (
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
)

// TestTaps: every tap of a gpt equals the interpreter's value for that node
// to 1e-12 (f64) in generated code; tapping changes no output; Predict stays
// allocation-free with taps; an unknown tap is refused with the list.
func TestTaps(t *testing.T) {
	testutil.Long(t, "builds generated packages")
	const config = "vocab=32,ctx=8,d=16,heads=2,layers=2,ffn=32,batch=2"
	e, _ := models.Lookup("gpt")
	cfg, err := e.Config(config)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := compile.Zoo("gpt", config, compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	tapped, err := compile.Zoo("gpt", config, compile.Options{Float: graph.F64, Taps: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tapped.Program.Predict.Taps()); n != 5 {
		t.Fatalf("%d taps, want h_in, and the weights and output of 2 blocks", n)
	}
	if n := len(plain.Program.Predict.Taps()); n != 0 {
		t.Fatalf("%d taps without asking", n)
	}
	req := compile.RunRequest{Cmd: "predict", Inputs: compile.ExampleInputs(plain.Program, e.Example(cfg), 1)}
	want, err := compile.RunInterpreted(tapped.Program, req)
	if err != nil {
		t.Fatal(err)
	}
	var results [2]*compile.ServerResult
	for i, res := range []*compile.Result{plain, tapped} {
		srv := startRunner(t, res.Program)
		if results[i], err = srv.Do(req); err != nil {
			t.Fatal(err)
		}
		b, err := srv.Do(compile.RunRequest{Cmd: "bench", Entry: "Predict", N: 50, Inputs: req.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		if b.Bench.Allocs > 2 { // one allocation per call would be 50; allow the runtime's own
			t.Errorf("Predict with %d taps: %d allocations in 50 calls", len(res.Program.Predict.Taps()), b.Bench.Allocs)
		}
	}
	if len(want.Taps) != 5 || len(results[1].Taps) != 5 {
		t.Fatalf("taps: interpreter %d, generated %d", len(want.Taps), len(results[1].Taps))
	}
	for name, w := range want.Taps {
		compare(t, "tap "+name, results[1].Taps[name], w, 1e-12)
	}
	for name, w := range results[0].Outputs {
		compare(t, "output "+name+" with taps", results[1].Outputs[name], w, 1e-12)
	}
	_, err = compile.Zoo("gpt", config, compile.Options{Taps: []string{"h7.out"}})
	if err == nil || !strings.Contains(err.Error(), `no tap "h7.out" (its taps: h_in, h0.attn.weights`) {
		t.Fatalf("unknown tap: %v", err)
	}
}

// TestGroupedAttentionTaps: llama's grouped-query attention taps its
// weights as [batch, heads, T, T], like gpt's, rows summing to 1 and equal
// in both engines; a tapped build still derives KV-cache decoding.
func TestGroupedAttentionTaps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a generated package")
	}
	const config = "vocab=32,ctx=6,d=16,heads=4,kv_heads=2,layers=1,ffn=16,batch=2"
	e, _ := models.Lookup("llama")
	cfg, err := e.Config(config)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compile.Zoo("llama", config, compile.Options{Float: graph.F64, Taps: []string{"all"}, Decode: "on"})
	if err != nil {
		t.Fatal(err)
	}
	req := compile.RunRequest{Cmd: "predict", Inputs: compile.ExampleInputs(res.Program, e.Example(cfg), 1)}
	want, err := compile.RunInterpreted(res.Program, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := startRunner(t, res.Program).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := want.Taps["h0.attn.weights"]
	if !ok || !graph.Shape(w.Shape).Equal(graph.Shape{2, 4, 6, 6}) {
		t.Fatalf("tap h0.attn.weights: %v, want shape [2,4,6,6]", w.Shape)
	}
	for r := range 2 * 4 * 6 {
		sum := 0.0
		for _, v := range w.Data[r*6 : r*6+6] {
			sum += float64(v)
		}
		if sum < 1-1e-12 || sum > 1+1e-12 {
			t.Fatalf("row %d of the weights sums to %v", r, sum)
		}
	}
	compare(t, "tap h0.attn.weights", got.Taps["h0.attn.weights"], w, 1e-12)
}
