package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunDropoutMasks: mlc run -masks trains with the caller's keep masks:
// the gradients follow them (all-dropped masks leave only the output
// layer's gradient), and a wrong file is a one-line error.
func TestRunDropoutMasks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	model := []string{"-model", "mlp", "-config", "sizes=3-4-2,batch=2,dropout=0.5", "-dtype", "f64"}
	mask := func(v string) string {
		return `{"dropout.0": {"shape": [2, 4], "data": [` + strings.TrimSuffix(strings.Repeat(v+",", 8), ",") + `]}}`
	}
	run := func(args ...string) (int, string, string) {
		return runCLI(append(append([]string{"run"}, model...), args...)...)
	}
	code, kept, errs := run("-grads", "-masks", write("ones.json", mask("1")))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, dropped, errs := run("-grads", "-masks", write("zeros.json", mask("0")))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if kept == dropped {
		t.Fatal("the masks do not change the run")
	}
	// Every hidden unit dropped: the second layer sees zeros, so its
	// weights' gradient is 0, and the first layer's too.
	for _, line := range strings.Split(dropped, "\n") {
		if strings.HasPrefix(line, "dW") && strings.Contains(line, "=") {
			for _, f := range strings.Fields(strings.Trim(strings.SplitN(line, "= ", 2)[1], "[]")) {
				if f != "0" && f != "-0" {
					t.Errorf("with every unit dropped: %s", line)
					break
				}
			}
		}
	}
	for _, c := range []struct{ file, want string }{
		{write("none.json", `{}`), "lacks the dropout masks dropout.0"},
		{write("half.json", mask("0.5")), "not a mask value (0 or 1)"},
	} {
		code, _, errs := run("-masks", c.file)
		if code != 1 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want a line with %q", c.file, code, errs, c.want)
		}
	}
}
