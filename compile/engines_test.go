package compile_test

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/runtime"
)

func compare(t *testing.T, what string, got, want runtime.JSONTensor, tol float64) {
	t.Helper()
	if !graph.Shape(got.Shape).Equal(want.Shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, want.Shape)
		return
	}
	for i := range want.Data {
		g, w := float64(got.Data[i]), float64(want.Data[i])
		if math.IsNaN(g) != math.IsNaN(w) || math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) {
			t.Errorf("%s[%d]: generated %.17g, interpreter %.17g", what, i, g, w)
			return
		}
	}
}

// TestEnginesAgree: for every zoo model in both dtypes, generated code and the
// interpreter agree on outputs, loss and every gradient (f64 to 1e-12
// relative, f32 to 1e-5).
func TestEnginesAgree(t *testing.T) {
	testutil.Long(t, "builds every zoo model")
	for _, e := range models.Zoo {
		for _, dt := range []graph.DType{graph.F64, graph.F32} {
			t.Run(e.Name+"/"+dt.String(), func(t *testing.T) {
				config := smallConfig[e.Name]
				cfg, err := e.Config(config)
				if err != nil {
					t.Fatal(err)
				}
				res, err := compile.Zoo(e.Name, config, compile.Options{Float: dt})
				if err != nil {
					t.Fatal(err)
				}
				req := compile.RunRequest{Inputs: compile.ExampleInputs(res.Program, e.Example(cfg), 1), Loss: true, Grads: true}
				want, err := compile.RunInterpreted(res.Program, req)
				if err != nil {
					t.Fatal(err)
				}
				bin, err := compile.BuildRunner(res.Program)
				if err != nil {
					t.Fatal(err)
				}
				got, err := compile.RunGenerated(bin, req)
				if err != nil {
					t.Fatal(err)
				}
				tol := 1e-12
				if dt == graph.F32 {
					tol = 1e-5
				}
				for name, w := range want.Outputs {
					compare(t, "output "+name, got.Outputs[name], w, tol)
				}
				if got.Loss == nil || want.Loss == nil {
					t.Fatal("no loss")
				}
				compare(t, "loss", runtime.JSONTensor{Data: []runtime.JSONFloat{*got.Loss}}, runtime.JSONTensor{Data: []runtime.JSONFloat{*want.Loss}}, tol)
				if len(want.Grads) == 0 || len(got.Grads) != len(want.Grads) {
					t.Fatalf("%d gradients, interpreter has %d", len(got.Grads), len(want.Grads))
				}
				for name, w := range want.Grads {
					compare(t, "d"+name, got.Grads[name], w, tol)
				}
			})
		}
	}
}

// TestDropoutMasksAgree: with dropout active, the training loss and every
// gradient are the same in both engines for the same seed, so both drew the
// same masks; eval mode (Predict) equals the model without dropout.
func TestDropoutMasksAgree(t *testing.T) {
	testutil.Long(t, "builds generated code")
	res, err := compile.Zoo("mlp", "sizes=16-32-32-4,batch=8,dropout=0.5", compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := compile.Zoo("mlp", "sizes=16-32-32-4,batch=8,dropout=0", compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	req := compile.RunRequest{Inputs: compile.ExampleInputs(res.Program, nil, 3), Loss: true, Grads: true}
	want, err := compile.RunInterpreted(res.Program, req)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := compile.BuildRunner(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	got, err := compile.RunGenerated(bin, req)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "loss", runtime.JSONTensor{Data: []runtime.JSONFloat{*got.Loss}}, runtime.JSONTensor{Data: []runtime.JSONFloat{*want.Loss}}, 1e-12)
	for name, w := range want.Grads {
		compare(t, "d"+name, got.Grads[name], w, 1e-12)
	}
	noDrop, err := compile.RunInterpreted(plain.Program, req)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "eval-mode logits", got.Outputs["logits"], noDrop.Outputs["logits"], 1e-12)
	if *noDrop.Loss == *want.Loss {
		t.Fatal("dropout changed nothing in training mode")
	}
}
