package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// TestSAEStats: dead features, L0, L1, MSE and the fraction of variance
// explained on a hand-made case:
//
//	codes          x       x̂
//	[0 1.5 0]      [1 2]   [1 1]    1 active, squared error 1
//	[0 0.5 2]      [3 0]   [2 0]    2 active, squared error 1
//	[0 0   0]      [2 1]   [2 1]    0 active, squared error 0
//
// Feature 0 never fires: 1 of 3 dead. L0 = 3/3, L1 = 4/3, MSE = 2/(3·2).
// x̄ = (2, 1), Σ‖x − x̄‖² = 4, so FVE = 1 − 2/4.
func TestSAEStats(t *testing.T) {
	s := newSAEStats(3, 2)
	s.add([]float64{0, 1.5, 0}, []float64{1, 2}, []float64{1, 1})
	s.add([]float64{0, 0.5, 2}, []float64{3, 0}, []float64{2, 0})
	s.add([]float64{0, 0, 0}, []float64{2, 1}, []float64{2, 1})
	got := s.metrics()
	want := saeMetrics{Tokens: 3, Features: 3, Dead: 1, DeadFraction: 1.0 / 3, L0: 1, L1: 4.0 / 3, MSE: 1.0 / 3, FVE: 0.5}
	close := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if got.Tokens != want.Tokens || got.Features != want.Features || got.Dead != want.Dead ||
		!close(got.DeadFraction, want.DeadFraction) || !close(got.L0, want.L0) || !close(got.L1, want.L1) ||
		!close(got.MSE, want.MSE) || !close(got.FVE, want.FVE) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// No rows: every feature is dead and nothing divides by zero.
	if m := newSAEStats(4, 2).metrics(); m.Dead != 4 || m.DeadFraction != 1 || m.L0 != 0 || math.IsNaN(m.FVE) {
		t.Errorf("empty: %+v", m)
	}
}

func TestSAETokenContext(t *testing.T) {
	text := "ab\tc\ndéf"
	d := &lmDoc{text: []byte(text), off: []int{0, 1, 2, 3, 4, 5, 6, 8, 9}}
	d.ids = make([]int32, len(d.off)-1)
	cases := []struct {
		tok, before, after int
		want               string
	}{
		{3, 2, 2, "b ⟦c⟧⏎d"},
		{5, 0, 1, "⟦d⟧é"},       // 1 byte after cuts é in half: the cut moves to its end
		{6, 1, 0, "d⟦é⟧"},       // a two-byte token
		{0, 5, 1, "⟦a⟧b"},       // at the start
		{7, 9, 9, "ab c⏎dé⟦f⟧"}, // at the end
	}
	for _, c := range cases {
		if got := tokenContext(d, c.tok, c.before, c.after); got != c.want {
			t.Errorf("token %d (%d before, %d after): %q, want %q", c.tok, c.before, c.after, got, c.want)
		}
	}
}

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
	}
	for _, c := range cases {
		code, out, errs := runCLI(c.args...)
		if code != 1 || out != "" || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", c.args, code, out, errs, c.want)
		}
	}
}

// testSAE trains a small SAE on the tiny model's last layer, checks its
// metrics and checkpoint, and reads features back with -top: the held-out
// tokens -top searches are the ones the metrics were measured on, and a
// feature's contexts come largest first.
func testSAE(t *testing.T, ckpt, corpus string) {
	dir := filepath.Join(t.TempDir(), "sae")
	code, out, errs := runCLI("sae", "-ckpt", ckpt, "-layer", "1", "-features", "24", "-steps", "60", "-batch", "32", "-lr", "0.01",
		"-tokens", "0", "-data", corpus, "-o", dir, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m saeMetrics
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
	if ck.Model != "sae" || !strings.HasPrefix(ck.Config, "d=32,features=24,") || ck.Metadata[saeKeyLayer] != "h1.out" || ck.Metadata[saeKeyLM] == "" {
		t.Errorf("checkpoint %s %s %v", ck.Model, ck.Config, ck.Metadata)
	}
	var saved saeMetrics
	if err := json.Unmarshal([]byte(ck.Metadata[saeKeyMetrics]), &saved); err != nil || saved != m {
		t.Errorf("saved metrics %+v (%v), printed %+v", saved, err, m)
	}
	if b, err := os.ReadFile(filepath.Join(dir, csvFile)); err != nil || strings.Count(string(b), "\n") != 61 {
		t.Errorf("loss.csv: %v, %d lines, want a header and 60 steps", err, strings.Count(string(b), "\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, pngFile)); err != nil {
		t.Error(err)
	}

	live := false
	for f := 0; f < 24 && !live; f++ {
		code, out, errs := runCLI("sae", "-ckpt", dir, "-top", strconv.Itoa(f), "-k", "3", "-json")
		if code != 0 {
			t.Fatalf("-top %d: exit %d: %s", f, code, errs)
		}
		var rep saeTopReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if rep.Tokens != m.Tokens || rep.Layer != "h1.out" || rep.Active > rep.Tokens {
			t.Fatalf("-top %d searched %d tokens of %s (%d active); the metrics measured %d", f, rep.Tokens, rep.Layer, rep.Active, m.Tokens)
		}
		if rep.Active == 0 {
			if len(rep.Examples) != 0 {
				t.Errorf("-top %d: a dead feature with examples %+v", f, rep.Examples)
			}
			continue
		}
		live = true
		if len(rep.Examples) != min(3, rep.Active) || rep.Max != rep.Examples[0].Activation {
			t.Errorf("-top %d: %d examples of %d active, max %v: %+v", f, len(rep.Examples), rep.Active, rep.Max, rep.Examples)
		}
		for i, ex := range rep.Examples {
			if i > 0 && ex.Activation > rep.Examples[i-1].Activation {
				t.Errorf("-top %d: examples out of order: %+v", f, rep.Examples)
			}
			tok := strings.NewReplacer("\n", "⏎", "\t", " ").Replace(ex.Token)
			if !(ex.Activation > 0) || !strings.Contains(ex.Context, "⟦"+tok+"⟧") || !strings.HasPrefix(ex.Doc, "f") || ex.Line < 1 {
				t.Errorf("-top %d: example %+v", f, ex)
			}
		}
		code, out, _ = runCLI("sae", "-ckpt", dir, "-top", strconv.Itoa(f), "-k", "3")
		if code != 0 || !strings.HasPrefix(out, "feature "+strconv.Itoa(f)+" of the SAE on h1.out: active on ") || strings.Count(out, "⟦") != len(rep.Examples) {
			t.Errorf("text report:\n%s", out)
		}
	}
	if !live {
		t.Error("no live feature among the 24")
	}
	if m.Dead == 24 {
		t.Error("every feature dead")
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
