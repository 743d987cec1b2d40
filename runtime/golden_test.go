package runtime_test

import (
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/golden"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/runtime"
)

func buildZoo(t *testing.T, name string) *graph.Graph {
	t.Helper()
	e, err := models.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.Config("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.Build(cfg, dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func tensor(t *testing.T, dt graph.DType, shape []int, data []float64) *runtime.Tensor {
	t.Helper()
	x, err := runtime.FromFloat64(dt, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func named(t *testing.T, g *graph.Graph, name string) *graph.Node {
	t.Helper()
	n := g.Find(name)
	if n == nil {
		t.Fatalf("no node named %q", name)
	}
	return n
}

// TestSeedMLPForward: the interpreter reproduces the text's worked example.
func TestSeedMLPForward(t *testing.T) {
	var gold golden.SeedMLP
	golden.MustLoad("seed_mlp.json", &gold)
	g := buildZoo(t, "seedmlp")
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*runtime.Tensor{
		"x": tensor(t, graph.F64, []int{1, 2}, gold.X.Data),
		"y": tensor(t, graph.F64, []int{1, 1}, []float64{gold.Y}),
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want golden.Tensor
	}{{"z1", gold.Z1}, {"a1", gold.A1}, {"z2", gold.Z2}, {"yhat", gold.Yhat}} {
		got := it.Value(named(t, g, c.name)).Float64s()
		if d := testutil.CompareSlices(got, c.want.Data, 1e-12); d != "" {
			t.Errorf("%s: %s", c.name, d)
		}
	}
	if !testutil.Close(it.Loss(), gold.Loss, 1e-12) {
		t.Errorf("loss = %.17g, want %.17g", it.Loss(), gold.Loss)
	}
}

// TestTinyDecoderForward: every forward intermediate of the text's decoder.
func TestTinyDecoderForward(t *testing.T) {
	var gold golden.TinyDecoder
	golden.MustLoad("tiny_decoder.json", &gold)
	g := buildZoo(t, "tinydecoder")
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*runtime.Tensor{
		"ids":     tensor(t, graph.I32, gold.IDs.Shape, gold.IDs.Data),
		"targets": tensor(t, graph.I32, gold.Targets.Shape, gold.Targets.Data),
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range []string{"X_emb", "X_prime", "Q", "K", "V", "scores", "attn_weights", "attn_out", "attn_proj",
		"resid1", "H_prime", "ffn_pre", "ffn_hidden", "ffn_out", "resid2", "H_double_prime", "logits", "probs"} {
		want, ok := gold.Intermediates[name]
		if !ok {
			t.Fatalf("golden file has no %s", name)
		}
		got := it.Value(named(t, g, name)).Float64s()
		if d := testutil.CompareSlices(got, want.Data, 1e-12); d != "" {
			t.Errorf("%s: %s", name, d)
		}
		checked++
	}
	if !testutil.Close(it.Loss(), gold.Loss, 1e-12) {
		t.Errorf("loss = %.17g, want %.17g", it.Loss(), gold.Loss)
	}
	if checked != 18 {
		t.Errorf("checked %d intermediates", checked)
	}
}
