package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/internal/testutil"
)

// TestGenerate: greedy text is the same with the KV cache and without it; a
// prompt longer than the context keeps its last ctx tokens, with a
// warning; a checkpoint whose tokenizer is not the one it was trained with
// is refused, by fingerprint or by vocabulary size.
func TestGenerate(t *testing.T) {
	testutil.Long(t, "trains a model and builds generated packages")
	ckpt := trainTinyGPT(t)
	gen := func(args ...string) (string, string) {
		t.Helper()
		code, out, errs := runCLI(append([]string{"generate", "-ckpt", ckpt, "-temperature", "0", "-n", "12"}, args...)...)
		if code != 0 {
			t.Fatalf("generate %v: exit %d\n%s", args, code, errs)
		}
		return out, errs
	}
	cached, errs := gen("-prompt", "func f1(a, b int) int {\n")
	recomputed, _ := gen("-prompt", "func f1(a, b int) int {\n", "-no-cache")
	if cached != recomputed {
		t.Errorf("with the cache:\n%q\nrecomputing:\n%q", cached, recomputed)
	}
	if !strings.HasPrefix(cached, "func f1(a, b int) int {\n") || len(cached) <= len("func f1(a, b int) int {\n\n") {
		t.Errorf("output %q does not continue the prompt", cached)
	}
	if !strings.Contains(errs, "12 tokens in") {
		t.Errorf("stderr %q does not report the tokens", errs)
	}
	_, errs = gen("-prompt", strings.Repeat("func f2(a, b int) int { return a }\n", 4))
	if !strings.Contains(errs, "more than the context of 24; keeping the last 24") {
		t.Errorf("long prompt: stderr %q has no truncation warning", errs)
	}

	// Another tokenizer: the same vocabulary size with two merges swapped,
	// and one merge fewer.
	path := filepath.Join(ckpt, data.TokenizerFile)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	if err := json.Unmarshal(orig, &tok); err != nil {
		t.Fatal(err)
	}
	merges := tok["merges"].([]any)
	for _, c := range []struct {
		name   string
		change func() []any
		want   string
	}{
		{"swapped merges", func() []any {
			m := append([]any(nil), merges...)
			m[0], m[1] = m[1], m[0]
			return m
		}, "tokenizer.json does not match the checkpoint " + filepath.Join(ckpt, ckptFile) + ": the model was trained with another tokenizer"},
		{"fewer merges", func() []any { return merges[:len(merges)-1] }, "tokenizer.json: the tokenizer has 299 tokens, the model's vocab is 300"},
	} {
		tok["merges"] = c.change()
		if c.name == "fewer merges" {
			tok["vocab_size"] = len(merges) - 1 + 256
			if counts, ok := tok["counts"].([]any); ok {
				tok["counts"] = counts[:len(counts)-1]
			}
		}
		b, err := json.Marshal(tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI("generate", "-ckpt", ckpt, "-n", "3")
		if code != 1 || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", c.name, code, out, errs, c.want)
		}
	}
}
