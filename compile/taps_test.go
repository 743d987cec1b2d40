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
