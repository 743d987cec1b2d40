package onnx_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/runtime"
)

// TestTrainImportedCNN attaches an MSE loss to PyTorch-converted models of
// ONNX's suite with parameters (a grouped Conv2d, a dilated Conv1d, an
// inference BatchNorm2d, a ConvTranspose2d) and checks that the interpreter and the generated
// code agree on the loss, every parameter gradient and the parameters after
// two SGD steps: the backward graphs through Im2Col and Col2Im and the
// grouped MatMul.
func TestTrainImportedCNN(t *testing.T) {
	for _, name := range []string{"pytorch-converted/test_Conv2d_groups", "pytorch-converted/test_Conv1d_dilated", "pytorch-converted/test_BatchNorm2d_eval", "pytorch-converted/test_ConvTranspose2d"} {
		dir := filepath.Join(*testData, name)
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("ONNX test data not installed (%s)", dir)
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			res, err := compile.ONNX(filepath.Join(dir, "model.onnx"), compile.ONNXOptions{Loss: "mse"})
			if err != nil {
				t.Fatal(err)
			}
			req := compile.RunRequest{Inputs: compile.ExampleInputs(res.Program, nil, 7), Loss: true, Grads: true, Steps: 2}
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
			near := func(what string, g, w float64) {
				if math.Abs(g-w) > 1e-4*math.Abs(w)+1e-5 {
					t.Errorf("%s: generated %v, interpreter %v", what, g, w)
				}
			}
			near("loss", float64(*got.Loss), float64(*want.Loss))
			if len(want.Grads) == 0 {
				t.Fatal("no gradients")
			}
			for _, m := range []struct {
				what       string
				got, wants map[string]runtime.JSONTensor
			}{{"d", got.Grads, want.Grads}, {"after 2 steps: ", got.Params, want.Params}} {
				for p, w := range m.wants {
					g := m.got[p]
					if len(g.Data) != len(w.Data) {
						t.Fatalf("%s%s: %d values, want %d", m.what, p, len(g.Data), len(w.Data))
					}
					for i := range w.Data {
						near(m.what+p, float64(g.Data[i]), float64(w.Data[i]))
					}
				}
			}
		})
	}
}
