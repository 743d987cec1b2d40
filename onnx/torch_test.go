package onnx_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx"
	"github.com/mlc-dev/mlc/runtime"
)

// torchRecord is testdata/mlp/torch.json, written by export.py.
type torchRecord struct {
	X      runtime.JSONTensor `json:"x"`
	Target runtime.JSONTensor `json:"target"`
	F32    torchRun           `json:"f32"`
	F64    torchRun           `json:"f64"`
}

type torchRun struct {
	Logits runtime.JSONTensor            `json:"logits"`
	Loss   float64                       `json:"loss"`
	Grads  map[string]runtime.JSONTensor `json:"grads"`
}

// TestTorch imports models that testdata/*/export.py exported from
// PyTorch — an MLP (Gemm, LayerNormalization, exact GELU: GELUErf in f32) and a
// CNN (Conv, eval-mode BatchNormalization, MaxPool, grouped strided Conv,
// Flatten, Gemm) and a GPT (embeddings, two pre-norm TransformerEncoder
// layers with a causal mask, LM head) and a nanoGPT-style decoder (a
// tril(ones) mask buffer compared with 0, which must become a constant and
// not a trained parameter; GELU's tanh form, fused at import) — attaches a
// cross-entropy loss and matches PyTorch's
// logits, loss and parameter gradients on both engines: float32 within
// 1e-5 relative, float64 (the same weights run in double by PyTorch, with
// the file's float32 constants; not for the GPT, whose attention scale and
// mask are float32 constants too) within 1e-10. BatchNorm's running
// statistics are constants, not parameters: PyTorch has no gradient for
// them and neither may mlc.
func TestTorch(t *testing.T) {
	for _, model := range []string{"mlp", "cnn", "gpt", "nanogpt"} {
		t.Run(model, func(t *testing.T) { testTorch(t, model) })
	}
}

func testTorch(t *testing.T, model string) {
	rec := readTorchRecord(t, model)
	req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": rec.X, "logits_target": rec.Target}, Loss: true, Grads: true}
	for _, c := range []struct {
		float    graph.DType
		want     torchRun
		rel, abs float64
	}{
		{graph.F32, rec.F32, 1e-5, 1e-7},
		{graph.F64, rec.F64, 1e-10, 1e-13},
	} {
		if c.want.Logits.Data == nil {
			continue // no float64 record (the GPT's file constants are float32)
		}
		t.Run(c.float.String(), func(t *testing.T) {
			res, err := compile.ONNX("testdata/"+model+"/model.onnx", compile.ONNXOptions{
				Import: onnx.Options{Dims: map[string]int{"batch": rec.X.Shape[0]}, Float: c.float},
				Loss:   "cross_entropy", LossOutput: "logits",
			})
			if err != nil {
				t.Fatal(err)
			}
			engines := map[string]func() (*runtime.RunResult, error){
				"interpreter": func() (*runtime.RunResult, error) { return compile.RunInterpreted(res.Program, req) },
				"generated": func() (*runtime.RunResult, error) {
					bin, err := compile.BuildRunner(res.Program)
					if err != nil {
						return nil, err
					}
					return compile.RunGenerated(bin, req)
				},
			}
			for _, engine := range []string{"interpreter", "generated"} {
				got, err := engines[engine]()
				if err != nil {
					t.Fatalf("%s: %v", engine, err)
				}
				near := func(what string, g, w, scale float64) {
					if math.Abs(g-w) > c.rel*scale+c.abs || math.IsNaN(g) {
						t.Errorf("%s: %s = %.12g, PyTorch %.12g", engine, what, g, w)
					}
				}
				matchTensor := func(what string, g, w runtime.JSONTensor) {
					if len(g.Data) != len(w.Data) {
						t.Fatalf("%s: %s has %d values, PyTorch %d", engine, what, len(g.Data), len(w.Data))
					}
					scale := 0.0 // relative to the tensor's largest value, so that near-zero entries compare sensibly
					for _, v := range w.Data {
						scale = max(scale, math.Abs(float64(v)))
					}
					for i := range w.Data {
						near(what, float64(g.Data[i]), float64(w.Data[i]), scale)
					}
				}
				matchTensor("logits", got.Outputs["logits"], c.want.Logits)
				if got.Loss == nil {
					t.Fatalf("%s: no loss", engine)
				}
				near("loss", float64(*got.Loss), c.want.Loss, math.Abs(c.want.Loss))
				if len(got.Grads) != len(c.want.Grads) {
					t.Errorf("%s: %d gradients, PyTorch %d", engine, len(got.Grads), len(c.want.Grads))
				}
				for name, w := range c.want.Grads {
					g, ok := got.Grads[name]
					if !ok {
						t.Errorf("%s: no gradient for %s", engine, name)
						continue
					}
					matchTensor("d"+name, g, w)
				}
			}
		})
	}
}

// readTorchRecord reads testdata/MODEL/torch.json, the export script's
// record of PyTorch's inputs, outputs, loss and gradients.
func readTorchRecord(t *testing.T, model string) torchRecord {
	t.Helper()
	b, err := os.ReadFile("testdata/" + model + "/torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec torchRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}
