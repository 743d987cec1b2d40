package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/mechinterp"
)

func TestProbeBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"probe", "-ckpt", "x"}, "mlc probe: give one of -task string|ident or -labels FILE"},
		{[]string{"probe", "-ckpt", "x", "-task", "string", "-labels", "f"}, "mlc probe: give one of -task string|ident or -labels FILE"},
		{[]string{"probe", "-ckpt", "x", "-task", "comment"}, `mlc probe: -task must be string or ident, got "comment"`},
		{[]string{"probe", "-ckpt", "x", "-labels", "f", "-write-labels", "g"}, "mlc probe: -write-labels writes a -task's labels; give -task"},
		{[]string{"probe", "-ckpt", "x", "-labels", "f", "-data", "d"}, "mlc probe: -data is the text of a -task"},
		{[]string{"probe", "-ckpt", "x", "-task", "string", "-steps", "0"}, "mlc probe: -tokens and -windows must be >= 0, -steps and -lr positive"},
		{[]string{"probe", "-task", "string"}, "mlc probe: -ckpt DIR is required"},
		{[]string{"probe", "-ckpt", "x", "-task", "string", "-engine", "tpu"}, `mlc probe: -engine must be gen or interp, got "tpu"`},
		{[]string{"probe", "-task", "string", "-ckpt", "/nonexistent"}, "/nonexistent/checkpoint.safetensors"},
	}
	for _, c := range cases {
		code, out, errs := runCLI(c.args...)
		if code != 1 || out != "" || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", c.args, code, out, errs, c.want)
		}
	}
}

func runProbe(t *testing.T, args ...string) *mechinterp.ProbeReport {
	t.Helper()
	code, out, errs := runCLI(append([]string{"probe", "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("probe %v: exit %d: %s", args, code, errs)
	}
	var rep mechinterp.ProbeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("probe %v: %v\n%s", args, err, out)
	}
	return &rep
}

// testProbeTask: -task string runs, and -write-labels writes the same
// labelling as a labels file, on which the probes give the same figures.
func testProbeTask(t *testing.T, ckpt, corpus string) {
	path := filepath.Join(t.TempDir(), "string.labels")
	code, out, errs := runCLI("probe", "-ckpt", ckpt, "-task", "string", "-data", corpus, "-tokens", "2000", "-write-labels", path)
	if code != 0 || !strings.Contains(out, "labelled by task string to "+path) {
		t.Fatalf("-write-labels: exit %d\n%s%s", code, out, errs)
	}
	fromTask := runProbe(t, "-ckpt", ckpt, "-task", "string", "-data", corpus, "-tokens", "2000", "-layer", "in,1")
	fromFile := runProbe(t, "-ckpt", ckpt, "-labels", path, "-tokens", "2000", "-layer", "in,1")
	if fromTask.TrainTokens < 1000 || fromTask.HeldOutTokens < 300 {
		t.Errorf("read %d + %d tokens for a budget of 2000", fromTask.TrainTokens, fromTask.HeldOutTokens)
	}
	if !(fromTask.TrainPositive > 0.05 && fromTask.TrainPositive < 0.5) {
		t.Errorf("%.3f of the tokens inside strings", fromTask.TrainPositive)
	}
	fromFile.Labels, fromFile.Task = "", fromTask.Task
	a, _ := json.Marshal(fromTask)
	b, _ := json.Marshal(fromFile)
	if string(a) != string(b) {
		t.Errorf("-task and its labels file differ:\n%s\n%s", a, b)
	}
	if len(fromTask.Layers) != 2 || fromTask.Layers[0].Layer != "h_in" || fromTask.Layers[1].Layer != "h1.out" {
		t.Errorf("layers %+v", fromTask.Layers)
	}
	// The text report has a row per layer.
	code, out, _ = runCLI("probe", "-ckpt", ckpt, "-task", "string", "-data", corpus, "-tokens", "2000", "-layer", "in,1")
	if code != 0 || !strings.Contains(out, "\nh_in ") || !strings.Contains(out, "\nh1.out ") || !strings.Contains(out, "baseline") {
		t.Errorf("text report:\n%s", out)
	}
}
