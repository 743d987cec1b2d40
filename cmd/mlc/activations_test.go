package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/runtime/text"
)

// The probe and SAE tests that need a language model share one tiny model,
// trained once on a small synthetic Go corpus, as subtests of one test.
const tinyLMConfig = "vocab=300,ctx=32,d=32,heads=2,layers=2,ffn=64,batch=8"

// TestProbeSAEPipeline trains the tiny model, then runs the collection,
// probe and SAE tests on it.
func TestProbeSAEPipeline(t *testing.T) {
	testutil.Long(t, "trains a language model")
	root := t.TempDir()
	corpus, ckpt := filepath.Join(root, "corpus"), filepath.Join(root, "lm")
	if err := writeTinyCorpus(corpus); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI("train", "-model", "gpt", "-config", tinyLMConfig, "-data", corpus, "-steps", "40", "-lr", "0.01", "-ckpt", ckpt)
	if code != 0 {
		t.Fatalf("training the tiny model: exit %d: %s", code, errs)
	}
	t.Run("CollectAlignment", func(t *testing.T) { testCollectAlignment(t, ckpt, corpus) })
	t.Run("ProbeSynthetic", func(t *testing.T) { testProbeSynthetic(t, ckpt, corpus) })
	t.Run("ProbeTask", func(t *testing.T) { testProbeTask(t, ckpt, corpus) })
	t.Run("SAE", func(t *testing.T) { testSAE(t, ckpt, corpus) })
}

// writeTinyCorpus writes 40 small Go files of functions with identifiers,
// string literals (interpreted and raw) and numbers, drawn from a seeded
// generator.
func writeTinyCorpus(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha", "beta", "gamma", "delta", "value", "count", "name", "index", "buffer", "reader", "token", "state"}
	w := func() string { return words[r.IntN(len(words))] }
	for f := range 40 {
		var b strings.Builder
		fmt.Fprintf(&b, "package p%d\n\nimport \"fmt\"\n\n", f)
		for fn := range 8 {
			a, c := w(), w()
			fmt.Fprintf(&b, "// %s%d returns the %s of %s.\nfunc %s%d(%s int) string {\n", a, fn, w(), c, a, fn, c)
			fmt.Fprintf(&b, "\tif %s > %d {\n\t\treturn \"%s %s\"\n\t}\n", c, r.IntN(100), w(), w())
			if fn%3 == 0 {
				fmt.Fprintf(&b, "\tconst q = `%s\n%s`\n", w(), w())
			}
			fmt.Fprintf(&b, "\treturn fmt.Sprint(%s, \"%s=\", %d)\n}\n\n", c, w(), r.IntN(1000))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.go", f)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// byteTokenizer is a BPE without merges: one token per byte.
func byteTokenizer(t testing.TB) (text.Tokenizer, [][]byte) {
	t.Helper()
	tok, err := text.NewBPE(text.SplitCode, nil)
	if err != nil {
		t.Fatal(err)
	}
	pieces, err := tokenBytes(tok)
	if err != nil {
		t.Fatal(err)
	}
	return tok, pieces
}

func TestProbeDocWindows(t *testing.T) {
	cases := []struct {
		ntok, ctx, lead, perDoc int
		want                    []tokWindow
	}{
		// Without lead the windows tile the document.
		{10, 4, 0, 0, []tokWindow{{0, 0, 4, 0}, {0, 4, 4, 0}, {0, 8, 2, 0}}},
		// With lead 2 every window after the first starts 2 tokens early and
		// reads from there: the read parts 0-3, 4-5, 6-7, 8-9 tile it.
		{10, 4, 2, 0, []tokWindow{{0, 0, 4, 0}, {0, 2, 4, 2}, {0, 4, 4, 2}, {0, 6, 4, 2}}},
		{3, 4, 2, 0, []tokWindow{{0, 0, 3, 0}}},
		// perDoc keeps windows spread over the document.
		{40, 4, 0, 2, []tokWindow{{0, 0, 4, 0}, {0, 20, 4, 0}}},
		// A lead of the whole context is cut to ctx-1, so windows still advance.
		{6, 3, 5, 0, []tokWindow{{0, 0, 3, 0}, {0, 1, 3, 2}, {0, 2, 3, 2}, {0, 3, 3, 2}}},
	}
	for _, c := range cases {
		got := docWindows(0, c.ntok, c.ctx, c.lead, c.perDoc)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("docWindows(%d tokens, ctx %d, lead %d, %d per doc) = %v, want %v", c.ntok, c.ctx, c.lead, c.perDoc, got, c.want)
		}
		if c.perDoc == 0 { // the read parts cover every token once
			seen := make([]int, c.ntok)
			for _, w := range got {
				for p := w.from; p < w.n; p++ {
					seen[w.start+p]++
				}
			}
			for i, n := range seen {
				if n != 1 {
					t.Errorf("ntok %d lead %d: token %d read %d times", c.ntok, c.lead, i, n)
				}
			}
		}
	}
}

func TestProbeSelectWindows(t *testing.T) {
	var docs []*lmDoc
	for i := range 9 {
		docs = append(docs, &lmDoc{name: fmt.Sprint(i), ids: make([]int32, 10)})
	}
	docs[2].ids = nil // empty documents are skipped
	s, err := selectWindows(docs, 8, 0, 0, 35, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Docs 0, 1, 3, 4 are taken (40 tokens ≥ 35); the third taken (3) is held out.
	if len(s.docs) != 4 || s.docs[2].name != "3" {
		t.Fatalf("took %d docs, third %q", len(s.docs), s.docs[2].name)
	}
	td, hd, tt, ht := s.counts()
	if td != 3 || hd != 1 || tt != 30 || ht != 10 {
		t.Errorf("counts %d %d %d %d, want 3 1 30 10", td, hd, tt, ht)
	}
	for _, w := range s.heldOut {
		if w.doc != 2 {
			t.Errorf("held-out window of doc %d", w.doc)
		}
	}
	if _, err := selectWindows(docs[:2], 8, 0, 0, 0, 3); err == nil || !strings.Contains(err.Error(), "need at least 3 documents") {
		t.Errorf("two docs, one in three held out: %v", err)
	}
}

func TestProbePickLayers(t *testing.T) {
	taps := []string{"h_in", "h0.out", "h1.out"}
	cases := []struct {
		spec string
		want []string
		err  string
	}{
		{"all", taps, ""},
		{"in", []string{"h_in"}, ""},
		{"1", []string{"h1.out"}, ""},
		{"1,in,1", []string{"h1.out", "h_in"}, ""},
		{"h0.out", []string{"h0.out"}, ""},
		{"2", nil, `-layer "2": the model has no layer "2" (layers: all, in, 0…1, or a tap: h_in, h0.out, h1.out)`},
		{"x", nil, `no layer "x"`},
	}
	for _, c := range cases {
		got, err := pickLayers(c.spec, taps)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v %v, want %v", c.spec, got, err, c.want)
		}
	}
}

// testCollectAlignment: the rows collected for the embedding tap are
// wte[token] + wpe[position in its window] of the checkpoint, for every
// token read, so windows, lead and batching put each row on its token.
func testCollectAlignment(t *testing.T, ckpt, corpus string) {
	info, err := inspectCheckpoint(ckpt, "gpt")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.taps, []string{"h_in", "h0.out", "h1.out"}) || info.ctx != 32 {
		t.Fatalf("taps %v, ctx %d", info.taps, info.ctx)
	}
	docs, err := corpusLMDocs(corpus, info, 600, 3, 8)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := selectWindows(docs, info.ctx, 8, 3, 600, 4)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := loadTrained(ckpt, trainedOptions{taps: []string{"h_in"}})
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	ws := append(append([]tokWindow{}, sel.train...), sel.heldOut...)
	a, err := collectActs(&cli{stdout: os.Stdout, stderr: os.Stderr}, lm, sel.docs, ws, []string{"h_in"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, tt, ht := sel.counts()
	if len(a.rows) != tt+ht || len(a.x["h_in"]) != len(a.rows)*32 {
		t.Fatalf("%d rows, %d values; want %d rows of 32", len(a.rows), len(a.x["h_in"]), tt+ht)
	}
	ck, err := safetensors.LoadCheckpoint(filepath.Join(ckpt, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	params := map[string][]float32{}
	for _, p := range ck.Params {
		params[p.Name] = p.F32
	}
	wte, wpe := params["wte"], params["wpe"]
	i := 0
	for _, w := range ws {
		for p := w.from; p < w.n; p++ {
			id := sel.docs[w.doc].ids[w.start+p]
			if a.rows[i] != (tokRef{int32(w.doc), int32(w.start + p)}) {
				t.Fatalf("row %d is %v, want doc %d token %d", i, a.rows[i], w.doc, w.start+p)
			}
			for j, v := range a.row("h_in", i) {
				if want := wte[int(id)*32+j] + wpe[p*32+j]; v != want {
					t.Fatalf("row %d (doc %d, token %d at position %d): h_in[%d] = %v, want wte+wpe = %v", i, w.doc, w.start+p, p, j, v, want)
				}
			}
			i++
		}
	}
}
