package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/mechinterp"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

func TestSAEBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sae", "-ckpt", "x", "-layer", "1"}, "mlc sae: give -o DIR to train an SAE, or -top FEATURE to read one"},
		{[]string{"sae", "-ckpt", "x", "-o", "y"}, "mlc sae: -layer is required"},
		{[]string{"sae", "-ckpt", "x", "-o", "y", "-layer", "1", "-steps", "0"}, "mlc sae: -features, -tokens and -windows must be >= 0; -steps, -batch and -lr positive"},
		{[]string{"sae", "-ckpt", "x", "-o", "y", "-layer", "1", "-lambda", "-1"}, "mlc sae: -lambda must be >= 0, got -1"},
		{[]string{"sae", "-o", "y", "-layer", "1"}, "mlc sae: -ckpt DIR is required"},
		{[]string{"sae", "-top", "3"}, "mlc sae: -ckpt DIR is required"},
		{[]string{"sae", "-top", "3", "-ckpt", "x", "-o", "y"}, "mlc sae: -top reads a trained SAE"},
		{[]string{"sae", "-top", "3", "-ckpt", "x", "-k", "0"}, "mlc sae: -k must be positive, got 0"},
		{[]string{"sae", "-top", "3", "-ckpt", "/nonexistent"}, "/nonexistent/checkpoint.safetensors"},
		{[]string{"sae", "-top", "3", "-ckpt", "x", "-engine", "interpreter"}, `mlc sae: -engine must be gen or interp, got "interpreter"`},
	}
	for _, c := range cases {
		code, out, errs := runCLI(c.args...)
		if code != 1 || out != "" || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", c.args, code, out, errs, c.want)
		}
	}
}

// testSAE trains a small SAE with mlc sae on the tiny model's last layer,
// checks what it prints and writes, and reads a feature back with -top.
func testSAE(t *testing.T, ckpt, corpus string) {
	dir := filepath.Join(t.TempDir(), "sae")
	code, out, errs := runCLI("sae", "-ckpt", ckpt, "-layer", "1", "-features", "24", "-steps", "60", "-batch", "32", "-lr", "0.01",
		"-tokens", "0", "-data", corpus, "-o", dir, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m mechinterp.SAEMetrics
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if m.Features != 24 || m.Tokens < 500 || m.Dead < 0 || m.Dead > 24 || m.DeadFraction != float64(m.Dead)/24 ||
		!(m.L0 > 0 && m.L0 <= 24) || !(m.MSE > 0) || !(m.FVE > 0.2 && m.FVE < 1) {
		t.Errorf("metrics %+v", m)
	}
	ck, err := safetensors.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Model != "sae" || !strings.HasPrefix(ck.Config, "d=32,features=24,") || ck.Metadata["sae.layer"] != "h1.out" || ck.Metadata["sae.lm"] == "" {
		t.Errorf("checkpoint %s %s %v", ck.Model, ck.Config, ck.Metadata)
	}
	var saved mechinterp.SAEMetrics
	if err := json.Unmarshal([]byte(ck.Metadata["sae.metrics"]), &saved); err != nil || saved != m {
		t.Errorf("saved metrics %+v (%v), printed %+v", saved, err, m)
	}
	if b, err := os.ReadFile(filepath.Join(dir, csvFile)); err != nil || strings.Count(string(b), "\n") != 61 {
		t.Errorf("loss.csv: %v, %d lines, want a header and 60 steps", err, strings.Count(string(b), "\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, pngFile)); err != nil {
		t.Error(err)
	}

	// -top prints what mechinterp.SAETop finds (tested there), as JSON and
	// as text: a header and a line per example, the token marked.
	code, out, errs = runCLI("sae", "-ckpt", dir, "-top", "0", "-k", "3", "-json")
	if code != 0 {
		t.Fatalf("-top 0: exit %d: %s", code, errs)
	}
	var rep mechinterp.SAETopReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Feature != 0 || rep.Tokens != m.Tokens || rep.Layer != "h1.out" || len(rep.Examples) != min(3, rep.Active) {
		t.Fatalf("-top 0: %+v; the metrics measured %d tokens", rep, m.Tokens)
	}
	code, out, _ = runCLI("sae", "-ckpt", dir, "-top", "0", "-k", "3")
	if code != 0 || !strings.HasPrefix(out, "feature 0 of the SAE on h1.out: active on ") || strings.Count(out, "⟦") != len(rep.Examples) ||
		(rep.Active == 0) != strings.Contains(out, "a dead feature") {
		t.Errorf("text report:\n%s", out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sae", "-ckpt", dir, "-top", "24"}, "mlc sae: -top 24: the SAE has features 0…23"},
		{[]string{"sae", "-ckpt", ckpt, "-top", "1"}, "not an SAE written by mlc sae -o"},
		{[]string{"sae", "-ckpt", ckpt, "-layer", "5", "-o", dir}, `the model has no layer "5"`},
		{[]string{"sae", "-ckpt", ckpt, "-layer", "all", "-o", dir}, `-layer "all" names 3 layers; an SAE encodes one`},
	} {
		code, _, errs := runCLI(c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want %q", c.args, code, errs, c.want)
		}
	}
}
