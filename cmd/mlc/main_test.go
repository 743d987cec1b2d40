package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/models"
)

// runCLI runs the CLI in-process and returns exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIBadInput(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `mlc: unknown verb "frobnicate"`},
		{[]string{"graph", "-model", "nope"}, 1, `mlc graph: unknown model "nope" (models: ` + strings.Join(models.Names(), ", ") + ")"},
		{[]string{"graph"}, 1, "mlc graph: -model is required"},
		{[]string{"graph", "-model", "mlp", "-config", "sizes"}, 1, `mlc graph: malformed -config item "sizes": want key=value`},
		{[]string{"graph", "-model", "mlp", "-config", "depth=3"}, 1, `mlc graph: unknown config key "depth" for mlp (keys: sizes, act, batch, dropout)`},
		{[]string{"graph", "-model", "mlp", "-config", "batch=x"}, 1, `mlc graph: config key "batch": "x" is not an integer`},
		{[]string{"graph", "-model", "xor", "-format", "svg"}, 1, `mlc graph: -format must be text, dot or json, got "svg"`},
		{[]string{"graph", "-model", "xor", "-stage", "decode"}, 1, `mlc graph: -stage must be forward or train, got "decode"`},
		{[]string{"graph", "-model", "xor", "-dtype", "f16"}, 1, `mlc graph: -dtype must be f32 or f64, got "f16"`},
		{[]string{"graph", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"graph", "-model", "xor", "extra"}, 1, `mlc graph: unexpected argument "extra"`},
		{[]string{"graph", "-model", "mlp", "-config", "sizes=0-3"}, 1, `mlc graph: models/mlp/mlp.go:`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
			if !strings.Contains(errs, c.want) {
				t.Errorf("stderr %q lacks %q", errs, c.want)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") > 0 && c.code == 1 {
				t.Errorf("error is not one line: %q", errs)
			}
		})
	}
}

func TestEveryVerbHasHelp(t *testing.T) {
	for _, v := range verbs {
		code, _, errs := runCLI(v.name, "-h")
		if code != 0 || !strings.Contains(errs, "usage: mlc "+v.name) {
			t.Errorf("%s -h: exit %d, %q", v.name, code, errs)
		}
	}
	code, out, _ := runCLI("help")
	if code != 0 || !strings.Contains(out, "graph") {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestGraphVerb(t *testing.T) {
	code, out, errs := runCLI("graph", "-model", "xor")
	if code != 0 || !strings.HasPrefix(out, "mlc-ir 1\ngraph \"xor\"") || errs != "" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = runCLI("graph", "-model", "seedmlp", "-stage", "train")
	if code != 0 || !strings.Contains(out, `name="dW1"`) {
		t.Fatalf("train stage: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("graph", "-model", "seedmlp", "-stage", "train", "-format", "dot")
	if code != 0 || !strings.HasPrefix(out, "digraph") || !strings.Contains(out, "#f4b183") {
		t.Fatalf("dot: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("graph", "-model", "mlp", "-config", "sizes=8-4-3,batch=2", "-format", "json")
	if code != 0 || !strings.Contains(out, `"format": 1`) || !strings.Contains(out, `"f32[2,8]"`) {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("list")
	if code != 0 || !strings.Contains(out, "tinydecoder") || !strings.Contains(out, "sizes") {
		t.Fatalf("list: %s", out)
	}
}
