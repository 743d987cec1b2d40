package onnx_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx"
	"github.com/mlc-dev/mlc/runtime"
)

// TestImportedGPTDecodes: the GPTs exported from PyTorch (testdata/gpt:
// nn.TransformerEncoderLayer attention, sequence-first, q divided by √d,
// kᵀ through a Transpose, an added −inf triangular mask; testdata/nanogpt:
// batch-first heads, scores times 1/√d, a Where on a tril buffer compared
// with 0, positions looked up at arange(T)) get Prefill and
// DecodeStep from the KV-cache pass, and prefilling p tokens then decoding
// one at a time gives the full forward pass's logits at every position, in
// the interpreter and in generated code: float64 to 1e-10, float32 within
// 1e-5 of the largest logit.
func TestImportedGPTDecodes(t *testing.T) {
	for _, model := range []string{"gpt", "nanogpt"} {
		t.Run(model, func(t *testing.T) { testDecodes(t, model) })
	}
}

func testDecodes(t *testing.T, model string) {
	rec := readTorchRecord(t, model)
	T := rec.X.Shape[1]
	x := runtime.JSONTensor{Shape: []int{1, T}, Data: rec.X.Data[:T]} // the first sequence
	for _, c := range []struct {
		float graph.DType
		tol   float64
	}{{graph.F64, 1e-10}, {graph.F32, 1e-5}} {
		t.Run(c.float.String(), func(t *testing.T) {
			res, err := compile.ONNX("testdata/"+model+"/model.onnx", compile.ONNXOptions{
				Import:  onnx.Options{Dims: map[string]int{"batch": 1}, Float: c.float},
				Compile: compile.Options{Decode: "on"},
			})
			if err != nil {
				t.Fatal(err)
			}
			prog := res.Program
			if layers := map[string]int{"gpt": 2, "nanogpt": 1}[model]; prog.Decode == nil || len(prog.Decode.NodesWithOp(graph.OpAttendCache)) != layers {
				t.Fatalf("want a DecodeStep with one AttendCache per layer (%d)", layers)
			}
			full, err := compile.RunInterpreted(prog, compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": x}})
			if err != nil {
				t.Fatal(err)
			}
			want := full.Outputs["logits"]
			bin, err := compile.BuildRunner(prog)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := compile.StartServer(bin, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			for _, p := range []int{1, T / 2, T} {
				req := compile.RunRequest{Cmd: "predict", Inputs: map[string]runtime.JSONTensor{"x": x}, Phase: "decode", Prefill: p}
				interp, err := compile.RunInterpreted(prog, req)
				if err != nil {
					t.Fatal(err)
				}
				gen, err := srv.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				for engine, got := range map[string]runtime.JSONTensor{"interpreter": interp.Outputs["logits"], "generated": gen.Outputs["logits"]} {
					closeTo(t, fmt.Sprintf("%s, prefill %d", engine, p), got, want, c.tol)
				}
			}
		})
	}
}

// closeTo compares got with want within tol of want's largest magnitude.
func closeTo(t *testing.T, what string, got, want runtime.JSONTensor, tol float64) {
	t.Helper()
	if len(got.Data) != len(want.Data) {
		t.Fatalf("%s: %d values, want %d", what, len(got.Data), len(want.Data))
	}
	scale := 0.0
	for _, v := range want.Data {
		scale = max(scale, math.Abs(float64(v)))
	}
	bad := 0
	for i := range want.Data {
		g, w := float64(got.Data[i]), float64(want.Data[i])
		if math.Abs(g-w) > tol*scale || math.IsNaN(g) {
			if bad++; bad <= 3 {
				t.Errorf("%s: [%d] = %.12g, full forward %.12g", what, i, g, w)
			}
		}
	}
}
