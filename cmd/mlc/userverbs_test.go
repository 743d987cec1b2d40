package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
)

// TestUserPackageEveryVerb: a model from the user's own package, with a
// config, goes through every model verb the way a zoo model does: the pass
// flags reach the pipeline, both engines give the same JSON, and training
// checkpoints and resumes.
func TestUserPackageEveryVerb(t *testing.T) {
	testutil.Long(t, "runs the go command")
	t.Setenv("MLC_CACHE", t.TempDir())
	mod, err := filepath.Abs("testdata/usermod")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(mod)
	model := []string{"-model", "./withcfg", "-config", "hidden=6,batch=4"}
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
	if after := cli("graph", "-stage", "train", "-after", "simplify"); !strings.Contains(after, "graph \"withcfg\"") {
		t.Errorf("graph -after: %.200s", after)
	}
	if !strings.Contains(full, "f64[4,6]") {
		t.Errorf("the config did not reach the graph (want f64[4,6]):\n%.400s", full)
	}
	cli("compile", "-o", filepath.Join(t.TempDir(), "out"), "-opt", "adam", "-eps", "1e-6")
	if src := cli("inspect", "-phase", "backward"); !strings.Contains(src, "func (m *Model) backward") {
		t.Errorf("inspect: %.300s", src)
	}
	if st := cli("stats", "-json"); !strings.Contains(st, `"params": 30`) {
		t.Errorf("stats: 3·6 + 6·2 = 30 parameters:\n%s", st)
	}
	interp := cli("run", "-json", "-grads", "-engine", "interp")
	gen := cli("run", "-json", "-grads", "-engine", "gen")
	if interp != gen {
		t.Errorf("the engines disagree:\n%s\nvs\n%s", interp, gen)
	}
	if b := cli("bench", "-runs", "1", "-time", "20ms", "-json"); !strings.Contains(b, `"entry": "TrainStep"`) {
		t.Errorf("bench: %.300s", b)
	}
	dir := t.TempDir()
	cli("train", "-steps", "20", "-until", "10", "-ckpt", dir)
	code, out, errs := runCLI("train", "-resume", "-ckpt", dir)
	if code != 0 || !strings.Contains(out, "from step 10") {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errs)
	}
}
