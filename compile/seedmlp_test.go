package compile_test

import (
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/internal/golden"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

func floats(j runtime.JSONTensor) []float64 {
	out := make([]float64, len(j.Data))
	for i, v := range j.Data {
		out[i] = float64(v)
	}
	return out
}

// TestGeneratedSeedMLP: the generated seed MLP reproduces the text's worked
// example: forward values, every gradient and the weights after one SGD step
// with lr 0.5, to 1e-12.
func TestGeneratedSeedMLP(t *testing.T) {
	testutil.Long(t, "builds generated code")
	var gold golden.SeedMLP
	golden.MustLoad("seed_mlp.json", &gold)
	res, err := compile.Zoo("seedmlp", "", compile.Options{Optimizer: passes.OptimizerConfig{Kind: "sgd", LR: gold.LR}})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := compile.BuildRunner(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]runtime.JSONTensor{
		"x": {Shape: []int{1, 2}, Data: []runtime.JSONFloat{runtime.JSONFloat(gold.X.Data[0]), runtime.JSONFloat(gold.X.Data[1])}},
		"y": {Shape: []int{1, 1}, Data: []runtime.JSONFloat{runtime.JSONFloat(gold.Y)}},
	}
	got, err := compile.RunGenerated(bin, compile.RunRequest{Inputs: in, Loss: true, Grads: true, Steps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := testutil.CompareSlices(floats(got.Outputs["yhat"]), gold.Yhat.Data, 1e-12); d != "" {
		t.Errorf("yhat: %s", d)
	}
	if !testutil.Close(float64(*got.Loss), gold.Loss, 1e-12) {
		t.Errorf("loss %v, want %v", *got.Loss, gold.Loss)
	}
	for p, key := range map[string]string{"W1": "W1_in_out", "b1": "b1", "W2": "W2_in_out", "b2": "b2"} {
		if d := testutil.CompareSlices(floats(got.Grads[p]), gold.Grads["d"+key].Data, 1e-12); d != "" {
			t.Errorf("d%s: %s", p, d)
		}
		if d := testutil.CompareSlices(floats(got.Params[p]), gold.ParamsAfter[key].Data, 1e-12); d != "" {
			t.Errorf("%s after one SGD step: %s", p, d)
		}
	}
}
