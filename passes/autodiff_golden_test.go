package passes_test

import (
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/golden"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

func trainGraph(t *testing.T, name, config string) *graph.Graph {
	t.Helper()
	e, err := models.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.Config(config)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.Build(cfg, dsl.Options{Train: true})
	if err != nil {
		t.Fatal(err)
	}
	warns, err := passes.Autodiff(g, passes.AutodiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Fatalf("warnings: %v", warns)
	}
	return g
}

func mustTensor(t *testing.T, dt graph.DType, shape []int, data []float64) *runtime.Tensor {
	t.Helper()
	x, err := runtime.FromFloat64(dt, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestSeedMLPGradients: gradients and the weights after one SGD step (lr 0.5)
// match the golden file to 1e-12.
func TestSeedMLPGradients(t *testing.T) {
	var gold golden.SeedMLP
	golden.MustLoad("seed_mlp.json", &gold)
	g := trainGraph(t, "seedmlp", "")
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = it.Run(map[string]*runtime.Tensor{
		"x": mustTensor(t, graph.F64, []int{1, 2}, gold.X.Data),
		"y": mustTensor(t, graph.F64, []int{1, 1}, []float64{gold.Y}),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, key string }{{"W1", "W1_in_out"}, {"b1", "b1"}, {"W2", "W2_in_out"}, {"b2", "b2"}} {
		dp := it.Grad(p.name).Float64s()
		if d := testutil.CompareSlices(dp, gold.Grads["d"+p.key].Data, 1e-12); d != "" {
			t.Errorf("d%s: %s", p.name, d)
		}
		w := it.Var(p.name).Float64s()
		for i := range w {
			w[i] -= gold.LR * dp[i]
		}
		if d := testutil.CompareSlices(w, gold.ParamsAfter[p.key].Data, 1e-12); d != "" {
			t.Errorf("%s after SGD: %s", p.name, d)
		}
	}
	dz2 := it.Value(g.Find("dz2")).Float64s()
	if d := testutil.CompareSlices(dz2, gold.Grads["dz2"].Data, 1e-12); d != "" {
		t.Errorf("dz2: %s", d)
	}
}

// TestTinyDecoderGradients: every gradient of the text's decoder, including
// E through both the lookup and the tied output projection, to 1e-10.
func TestTinyDecoderGradients(t *testing.T) {
	var gold golden.TinyDecoder
	golden.MustLoad("tiny_decoder.json", &gold)
	g := trainGraph(t, "tinydecoder", "")
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = it.Run(map[string]*runtime.Tensor{
		"ids":     mustTensor(t, graph.I32, gold.IDs.Shape, gold.IDs.Data),
		"targets": mustTensor(t, graph.I32, gold.Targets.Shape, gold.Targets.Data),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(gold.Grads) != 14 {
		t.Fatalf("golden file has %d gradients", len(gold.Grads))
	}
	for name, want := range gold.Grads {
		got := it.Grad(name)
		if got == nil {
			t.Errorf("no gradient for %s", name)
			continue
		}
		if d := testutil.CompareSlices(got.Float64s(), want.Data, 1e-10); d != "" {
			t.Errorf("d%s: %s", name, d)
		}
	}
}
