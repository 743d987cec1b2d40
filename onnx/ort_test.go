package onnx_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx"
	"github.com/mlc-dev/mlc/runtime"
)

// ortScript is the peer benchmark's onnxruntime driver; onnxruntime-node
// is installed next to it (npm install --prefix bench/ort --ignore-scripts).
const ortScript = "../bench/ort/ort.js"

// onnxruntime runs model on inputs with onnxruntime-node and returns its
// outputs. It skips the test when node or the package is missing, unless
// MLC_NEED_ONNXRUNTIME=1 (CI installs it), which makes that a failure.
func onnxruntime(t *testing.T, model string, inputs map[string]runtime.JSONTensor) map[string]runtime.JSONTensor {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("MLC_NEED_ONNXRUNTIME") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(ortScript), "node_modules", "onnxruntime-node", "package.json")); err != nil {
		missing("onnxruntime-node is not installed: npm install --prefix bench/ort --ignore-scripts")
	}
	req, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, ortScript, "run", model)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnxruntime on %s: %v: %s", model, err, stderr.String())
	}
	var res struct {
		Outputs map[string]runtime.JSONTensor `json:"outputs"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("onnxruntime's answer: %v", err)
	}
	return res.Outputs
}

// TestOnnxruntime compares Predict of the PyTorch exports in testdata (an
// MLP, a CNN, two GPTs), on both engines, with onnxruntime's outputs for the
// same inputs: a second reference besides PyTorch's own (TestTorch), and
// one that runs the file exactly as written (PyTorch's numbers come from
// the model before export). float32, within 1e-5 of the output's largest
// magnitude.
func TestOnnxruntime(t *testing.T) {
	for _, model := range []string{"mlp", "cnn", "gpt", "nanogpt"} {
		t.Run(model, func(t *testing.T) {
			rec := readTorchRecord(t, model)
			path := "testdata/" + model + "/model.onnx"
			want := onnxruntime(t, path, map[string]runtime.JSONTensor{"x": rec.X})
			res, err := compile.ONNX(path, compile.ONNXOptions{Import: onnx.Options{Dims: map[string]int{"batch": rec.X.Shape[0]}, Float: graph.F32}})
			if err != nil {
				t.Fatal(err)
			}
			req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": rec.X}}
			bin, err := compile.BuildRunner(res.Program)
			if err != nil {
				t.Fatal(err)
			}
			engines := map[string]func() (*runtime.RunResult, error){
				"interpreter": func() (*runtime.RunResult, error) { return compile.RunInterpreted(res.Program, req) },
				"generated":   func() (*runtime.RunResult, error) { return compile.RunGenerated(bin, req) },
			}
			for _, engine := range []string{"interpreter", "generated"} {
				got, err := engines[engine]()
				if err != nil {
					t.Fatalf("%s: %v", engine, err)
				}
				if len(want) == 0 {
					t.Fatal("onnxruntime returned no outputs")
				}
				for name, w := range want {
					g, ok := got.Outputs[name]
					if !ok {
						t.Errorf("%s: no output %q", engine, name)
						continue
					}
					if !slicesEqual(g.Shape, w.Shape) {
						t.Errorf("%s: %s has shape %v, onnxruntime %v", engine, name, g.Shape, w.Shape)
						continue
					}
					scale := 0.0
					for _, v := range w.Data {
						scale = max(scale, math.Abs(float64(v)))
					}
					bad := 0
					for i := range w.Data {
						if d := math.Abs(float64(g.Data[i]) - float64(w.Data[i])); d > 1e-5*scale || math.IsNaN(float64(g.Data[i])) {
							if bad++; bad <= 3 {
								t.Errorf("%s: %s[%d] = %.9g, onnxruntime %.9g", engine, name, i, g.Data[i], w.Data[i])
							}
						}
					}
				}
			}
		})
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
