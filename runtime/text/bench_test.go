package text

import (
	"testing"

	"github.com/mlc-dev/mlc/runtime/corpus"
)

// BenchmarkTrainBPEGoroot trains a 512-token BPE on a 20 MB slice of the
// default corpus (the Go standard library's source), the intended use.
func BenchmarkTrainBPEGoroot(b *testing.B) {
	c, err := corpus.Load("", corpus.Options{MaxBytes: 20 << 20})
	if err != nil {
		b.Skip(err)
	}
	docs := c.Train.Docs()
	b.SetBytes(c.Train.Bytes)
	var tok *BPE
	for b.Loop() {
		tok, err = TrainBPE(docs, BPEOptions{VocabSize: 512, Split: SplitCode})
		if err != nil {
			b.Fatal(err)
		}
	}
	if tok.VocabSize() != 512 {
		b.Fatalf("vocab %d, want 512", tok.VocabSize())
	}
	var n int
	for _, d := range docs {
		n += len(tok.Encode(d))
	}
	b.ReportMetric(float64(c.Train.Bytes)/float64(n), "bytes/token")
}
