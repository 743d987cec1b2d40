package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
)

// TestEmbedSentences: a trained bert embeds sentences by masked mean
// pooling; the query's own line comes first at cosine 1, the others
// below it, and bad flags are one-line errors.
func TestEmbedSentences(t *testing.T) {
	testutil.Long(t, "trains a bert")
	t.Setenv("MLC_CACHE", t.TempDir())
	corpus := t.TempDir()
	if err := testutil.WriteGoCorpus(corpus); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if code, _, errs := runCLI("train", "-model", "bert", "-config", "vocab=300,ctx=32,d=32,heads=2,layers=1,ffn=64,batch=8", "-steps", "10", "-data", corpus, "-ckpt", dir); code != 0 {
		t.Fatal(errs)
	}
	file := filepath.Join(t.TempDir(), "sentences.txt")
	lines := "func Index(s, substr string) int\nthe quick brown fox\nreturn strings.Builder{}\nfor i := range n {\nvar x = 1\n"
	if err := os.WriteFile(file, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("embed", "-ckpt", dir, "-sentence", "the quick brown fox", "-sentences", file, "-k", "5", "-json")
	if code != 0 {
		t.Fatal(errs)
	}
	var hits []sentenceHit
	if err := json.Unmarshal([]byte(out), &hits); err != nil {
		t.Fatal(err)
	}
	if len(hits) != 5 || hits[0].Sentence != "the quick brown fox" || hits[0].Cosine < 1-1e-6 || hits[1].Cosine >= hits[0].Cosine {
		t.Fatalf("hits: %+v", hits)
	}
	// The interpreter finds the same sentences in the same order.
	code, outI, errs := runCLI("embed", "-ckpt", dir, "-sentence", "the quick brown fox", "-sentences", file, "-k", "5", "-engine", "interp", "-json")
	if code != 0 {
		t.Fatal(errs)
	}
	var interp []sentenceHit
	if err := json.Unmarshal([]byte(outI), &interp); err != nil {
		t.Fatal(err)
	}
	for i := range hits {
		if i >= len(interp) || interp[i].Sentence != hits[i].Sentence || math.Abs(interp[i].Cosine-hits[i].Cosine) > 1e-4 {
			t.Fatalf("-engine interp: %+v\ngen: %+v", interp, hits)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"embed", "-ckpt", dir, "-sentence", "x"}, "-sentence needs -sentences FILE"},
		{[]string{"embed", "-ckpt", dir, "-sentence", "x", "-near", "y"}, "give one of -near WORD"},
		{[]string{"embed", "-ckpt", dir, "-sentence", "x", "-sentences", file, "-k", "0"}, "-k must be at least 1"},
		{[]string{"embed", "-ckpt", dir, "-sentence", "x", "-sentences", file, "-engine", "tpu"}, `-engine must be gen or interp, got "tpu"`},
		{[]string{"embed", "-ckpt", dir, "-sentence", "x", "-sentences", filepath.Join(dir, "missing.txt")}, "missing.txt"},
	} {
		if code, _, errs := runCLI(c.args...); code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q", c.args, code, errs)
		}
	}
}
