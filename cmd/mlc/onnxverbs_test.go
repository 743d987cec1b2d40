package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// TestONNXEveryVerb: an ONNX file exported from PyTorch goes through every
// model verb like a zoo model: graph with the pass flags, compile, inspect,
// stats, run in both engines (the same numbers), bench, and train with a
// loss attached on examples from a file, then resume.
func TestONNXEveryVerb(t *testing.T) {
	testutil.Long(t, "builds generated code")
	t.Setenv("MLC_CACHE", t.TempDir())
	model, err := filepath.Abs("../../onnx/testdata/mlp/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"-model", model, "-config", "batch=8", "-loss", "cross_entropy"}
	cli := func(verb string, args ...string) string {
		t.Helper()
		code, out, errs := runCLI(append(append([]string{verb}, base...), args...)...)
		if code != 0 {
			t.Fatalf("mlc %s %v: exit %d: %s", verb, args, code, errs)
		}
		return out + errs
	}
	if o0 := cli("graph", "-stage", "train", "-O0", "-time-passes"); strings.Contains(o0, "simplify") {
		t.Errorf("graph -O0 ran the optional passes:\n%s", o0)
	}
	if after := cli("graph", "-stage", "train", "-after", "simplify"); !strings.Contains(after, `"fc1.weight"`) {
		t.Errorf("graph -after: the ONNX names are not kept:\n%.300s", after)
	}
	cli("compile", "-o", filepath.Join(t.TempDir(), "out"), "-module", "example.com/mlpx")
	if src := cli("inspect", "-phase", "backward"); !strings.Contains(src, "dfc1_weight") {
		t.Errorf("inspect: %.300s", src)
	}
	if st := cli("stats", "-json"); !strings.Contains(st, `"params": 83`) {
		t.Errorf("stats: 4·8+8 + 8+8 + 8·3+3 = 83 parameters:\n%s", st)
	}
	var a, b runtime.RunResult
	if err := json.Unmarshal([]byte(cli("run", "-json", "-grads", "-dtype", "f64", "-engine", "interp")), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(cli("run", "-json", "-grads", "-dtype", "f64", "-engine", "gen")), &b); err != nil {
		t.Fatal(err)
	}
	for name, g := range a.Grads {
		got, want := floatsOf(b.Grads[name]), floatsOf(g)
		if d := testutil.CompareSlices(got, want, 1e-12); d != "" {
			t.Errorf("d%s: the engines disagree: %s", name, d)
		}
	}
	if len(a.Grads) != 6 {
		t.Errorf("%d gradients, want 6 (keyed by initializer name)", len(a.Grads))
	}
	cli("bench", "-runs", "1", "-time", "20ms")

	file := filepath.Join(t.TempDir(), "examples.safetensors")
	x := safetensors.Tensor{Name: "x", DType: safetensors.F32, Shape: []int{32, 4}}
	y := safetensors.Tensor{Name: "logits_target", DType: safetensors.I32, Shape: []int{32}}
	for i := range 32 {
		u, v := float32(i%4)-1.5, float32(i%5)-2
		x.F32 = append(x.F32, u, v, u*v/3, 1)
		y.I32 = append(y.I32, map[bool]int32{true: 1}[u+v > 0])
	}
	if err := safetensors.WriteFileAtomic(file, &safetensors.File{Tensors: []safetensors.Tensor{x, y}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cli("train", "-data", file, "-steps", "40", "-until", "20", "-ckpt", dir)
	code, out, errs := runCLI("train", "-resume", "-ckpt", dir)
	if code != 0 || !strings.Contains(out, "from step 20") {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errs)
	}
	// The exported GPT (exact GELU fused into GELUErf, additive −inf causal
	// masks as constants) compiles to a package that type-checks.
	gpt, err := filepath.Abs("../../onnx/testdata/gpt/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI("compile", "-model", gpt, "-config", "batch=1", "-o", filepath.Join(t.TempDir(), "gpt")); code != 0 {
		t.Errorf("compile the GPT: exit %d\n%s%s", code, out, errs)
	}
	// Without a loss, an ONNX model says how to attach one.
	code, _, errs = runCLI("train", "-model", model, "-config", "batch=8", "-data", file)
	if code != 1 || !strings.Contains(errs, "give -loss cross_entropy, mse or bce_with_logits") {
		t.Errorf("train without -loss: exit %d, %s", code, errs)
	}
}
