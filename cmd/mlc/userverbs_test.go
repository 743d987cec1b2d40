package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// TestUserPackageEveryVerb: the example module's model package
// (examples/circles, a module of its own, as a user's), with a config, goes
// through every model verb the way a zoo model does: the pass flags reach
// the pipeline, both engines give the same JSON, and training on examples
// from a file checkpoints and resumes.
func TestUserPackageEveryVerb(t *testing.T) {
	testutil.Long(t, "runs the go command")
	t.Setenv("MLC_CACHE", t.TempDir())
	mod, err := filepath.Abs("../../examples/circles")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(mod)
	model := []string{"-model", "./model", "-config", "hidden=6,batch=4"}
	cli := func(verb string, args ...string) string {
		t.Helper()
		code, out, errs := runCLI(append(append([]string{verb}, model...), args...)...)
		if code != 0 {
			t.Fatalf("mlc %s %v: exit %d: %s", verb, args, code, errs)
		}
		return out + errs
	}
	// graph: -O0 runs only the required passes, -after prints a pass's
	// output; both differ from the default.
	full := cli("graph", "-stage", "train", "-time-passes")
	if o0 := cli("graph", "-stage", "train", "-O0", "-time-passes"); strings.Contains(o0, "simplify") || !strings.Contains(full, "simplify") {
		t.Errorf("graph -O0 ran the optional passes, or the default did not:\n%s\nvs\n%s", o0, full)
	}
	if after := cli("graph", "-stage", "train", "-after", "simplify"); !strings.Contains(after, "graph \"model\"") {
		t.Errorf("graph -after: %.200s", after)
	}
	if !strings.Contains(full, "f64[4,6]") {
		t.Errorf("the config did not reach the graph (want f64[4,6]):\n%.400s", full)
	}
	cli("compile", "-o", filepath.Join(t.TempDir(), "out"), "-opt", "adam", "-eps", "1e-6")
	if src := cli("inspect", "-phase", "backward"); !strings.Contains(src, "func (m *Model) backward") {
		t.Errorf("inspect: %.300s", src)
	}
	if st := cli("stats", "-json"); !strings.Contains(st, `"params": 32`) {
		t.Errorf("stats: 2·6 + 6 + 6·2 + 2 = 32 parameters:\n%s", st)
	}
	interp := cli("run", "-json", "-grads", "-engine", "interp", "-seed", "9", "-l2", "0.01")
	gen := cli("run", "-json", "-grads", "-engine", "gen", "-seed", "9", "-l2", "0.01")
	if interp != gen {
		t.Errorf("the engines disagree:\n%s\nvs\n%s", interp, gen)
	}
	if other := cli("run", "-json", "-grads", "-engine", "interp", "-seed", "10", "-l2", "0.01"); other == interp {
		t.Error("-seed does not change the initialisation")
	}
	if noL2 := cli("run", "-json", "-grads", "-engine", "interp", "-seed", "9"); noL2 == interp {
		t.Error("-l2 does not change the loss")
	}
	// A second Predict batch: one point, the same answer from both engines.
	one := filepath.Join(t.TempDir(), "one.json")
	if err := os.WriteFile(one, []byte(`{"x": {"shape": [1, 2], "data": [0.5, -1.5]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	interp1 := cli("run", "-json", "-predict-batch", "1", "-inputs", one, "-engine", "interp")
	if gen1 := cli("run", "-json", "-predict-batch", "1", "-inputs", one, "-engine", "gen"); interp1 != gen1 || !strings.Contains(interp1, `"shape": [
        1,
        2
      ]`) {
		t.Errorf("-predict-batch 1: the engines disagree or the shape is not [1 2]:\n%s\nvs\n%s", interp1, gen1)
	}
	if b := cli("bench", "-runs", "1", "-time", "20ms", "-json"); !strings.Contains(b, `"entry": "TrainStep"`) {
		t.Errorf("bench: %.300s", b)
	}
	// Training on examples from a file, then resuming: the same as one run.
	file := filepath.Join(t.TempDir(), "examples.safetensors")
	x := safetensors.Tensor{Name: "x", DType: safetensors.F64, Shape: []int{20, 2}}
	y := safetensors.Tensor{Name: "label", DType: safetensors.I32, Shape: []int{20}}
	for i := range 20 {
		a, b := float64(i%5)-2, float64(i%3)-1
		x.F64 = append(x.F64, a, b)
		y.I32 = append(y.I32, map[bool]int32{true: 1}[a*a+b*b > 2])
	}
	if err := safetensors.WriteFileAtomic(file, &safetensors.File{Tensors: []safetensors.Tensor{x, y}}); err != nil {
		t.Fatal(err)
	}
	whole, parts := t.TempDir(), t.TempDir()
	cli("train", "-data", file, "-steps", "20", "-opt", "adam", "-lr", "0.05", "-ckpt", whole)
	cli("train", "-data", file, "-steps", "20", "-opt", "adam", "-lr", "0.05", "-until", "10", "-ckpt", parts)
	code, out, errs := runCLI("train", "-resume", "-ckpt", parts)
	if code != 0 || !strings.Contains(out, "from step 10") {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errs)
	}
	a, _ := os.ReadFile(filepath.Join(whole, ckptFile))
	b, _ := os.ReadFile(filepath.Join(parts, ckptFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the resumed run on file data differs from the uninterrupted one")
	}
}
