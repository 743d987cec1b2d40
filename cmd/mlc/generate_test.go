package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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

	if code, out, errs := runCLI("generate", "-ckpt", ckpt, "-input", "readFile"); code != 1 || out != "" || !strings.Contains(errs, "-input is for encoder-decoder models (seq2seq); gpt continues a -prompt") {
		t.Errorf("-input on gpt: exit %d, stdout %q, stderr %q", code, out, errs)
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

// TestGenerateSeq2Seq: a seq2seq trained briefly on the case task (a
// corpus of camelCase identifiers) reports its validation exact match, and
// generate -input writes an output for an identifier: the same greedily
// with the KV cache and without it, and with sampling from a seed; bad
// input is a one-line error.
func TestGenerateSeq2Seq(t *testing.T) {
	testutil.Long(t, "trains a model and builds generated packages")
	dir := t.TempDir()
	var src strings.Builder
	words := []string{"read", "write", "file", "header", "size", "new", "buf", "reader", "close", "open", "name", "len"}
	for i := range 600 {
		a, b, c := words[i%12], words[i/12%12], words[i/144%12]
		fmt.Fprintf(&src, "var %s%s%s int\n", a, strings.ToUpper(b[:1])+b[1:], strings.ToUpper(c[:1])+c[1:])
	}
	corpus := filepath.Join(dir, "ids.go")
	if err := os.WriteFile(corpus, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "ckpt")
	code, out, errs := runCLI("train", "-model", "seq2seq", "-config", "vocab=128,src_ctx=18,ctx=20,d=32,heads=2,kv_heads=1,enc_layers=1,dec_layers=1,ffn=64",
		"-data", corpus, "-steps", "60", "-batch", "8", "-ckpt", ckpt)
	if code != 0 {
		t.Fatalf("training: exit %d\n%s", code, errs)
	}
	if !regexp.MustCompile(`step +60  validation exact match \d+\.\d\d% \(\d+/\d+\)`).MatchString(out) {
		t.Errorf("training output has no exact-match line:\n%s", out)
	}
	gen := func(args ...string) (string, string) {
		t.Helper()
		code, out, errs := runCLI(append([]string{"generate", "-ckpt", ckpt}, args...)...)
		if code != 0 {
			t.Fatalf("generate %v: exit %d\n%s", args, code, errs)
		}
		return out, errs
	}
	for _, in := range []string{"readFileHeader", "newBufReader"} {
		cached, errs := gen("-input", in)
		recomputed, _ := gen("-input", in, "-no-cache")
		if cached != recomputed || !strings.HasSuffix(cached, "\n") || strings.Count(cached, "\n") != 1 {
			t.Errorf("%s: with the cache %q, recomputing %q", in, cached, recomputed)
		}
		if !strings.Contains(errs, "tokens in") {
			t.Errorf("%s: stderr %q does not report the tokens", in, errs)
		}
		s1, _ := gen("-input", in, "-temperature", "1", "-top-k", "5", "-seed", "7")
		s2, _ := gen("-input", in, "-temperature", "1", "-top-k", "5", "-seed", "7", "-no-cache")
		if s1 != s2 {
			t.Errorf("%s: sampling with the cache %q, recomputing %q", in, s1, s2)
		}
	}
	for _, c := range []struct{ input, want string }{
		{"", "-input: the input is empty: give a Go identifier such as readFileHeader"},
		{"aVeryVeryLongIdentifierName", `-input: the input "aVeryVeryLongIdentifierName" has 27 bytes, more than the model's source length src_ctx = 18`},
		{"naïve", `-input: the input "naïve" holds byte 0xc3 at 2: the model reads ASCII text`},
	} {
		code, out, errs := runCLI("generate", "-ckpt", ckpt, "-input", c.input)
		if code != 1 || out != "" || strings.TrimSpace(errs) != "mlc generate: "+c.want && !strings.HasSuffix(strings.TrimSpace(errs), c.want) {
			t.Errorf("-input %q: exit %d, stdout %q, stderr %q; want %q", c.input, code, out, errs, c.want)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("-input %q: the error is not one line: %q", c.input, errs)
		}
	}
}
