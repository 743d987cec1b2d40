package seq2seq_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models/seq2seq"
	"github.com/mlc-dev/mlc/runtime"
)

func small() seq2seq.Config {
	return seq2seq.Config{Vocab: 13, SrcCtx: 5, Ctx: 4, D: 16, Heads: 4, KVHeads: 2, EncLayers: 2, DecLayers: 2, FFN: 12,
		RopeTheta: 100, NormEps: 1e-6, Batch: 2}
}

// logitsOf runs the model (f64, random weights from a fixed seed) on src
// and ids and returns the logits.
func logitsOf(t *testing.T, it *runtime.Interpreter, src, ids []int) []float64 {
	t.Helper()
	in := map[string]*runtime.Tensor{}
	for name, v := range map[string][]int{"src": src, "ids": ids, "targets": ids} {
		c := small()
		shape := []int{c.Batch, c.SrcCtx}
		if name != "src" {
			shape = []int{c.Batch, c.Ctx}
		}
		x := runtime.NewTensor(graph.T(graph.I32, shape...))
		for i, id := range v {
			x.Set(i, float64(id))
		}
		in[name] = x
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	return it.Output("logits").Float64s()
}

// TestInformationFlow: a decoder position sees the decoder inputs at or
// before it only (causal self-attention) and the source sequence through
// cross-attention; sequences of the batch stay apart.
func TestInformationFlow(t *testing.T) {
	c := small()
	g, err := dsl.Build("seq2seq", "models/seq2seq/seq2seq.go", dsl.Options{Float: graph.F64}, func(b *dsl.Builder) { seq2seq.Build(b, c) })
	if err != nil {
		t.Fatal(err)
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	ids := func(n int) []int {
		v := make([]int, n)
		for i := range v {
			v[i] = r.IntN(c.Vocab)
		}
		return v
	}
	src, dec := ids(c.Batch*c.SrcCtx), ids(c.Batch*c.Ctx)
	base := logitsOf(t, it, src, dec)
	// changed reports, per (sequence, decoder position), whether its logits moved.
	changed := func(got []float64) [][]bool {
		out := make([][]bool, c.Batch)
		for b := range c.Batch {
			out[b] = make([]bool, c.Ctx)
			for p := range c.Ctx {
				for v := range c.Vocab {
					i := (b*c.Ctx+p)*c.Vocab + v
					if math.Abs(got[i]-base[i]) > 1e-12 {
						out[b][p] = true
					}
				}
			}
		}
		return out
	}
	// The last source token of sequence 1 reaches all of sequence 1's positions, none of sequence 0's.
	s2 := append([]int{}, src...)
	s2[2*c.SrcCtx-1] = (s2[2*c.SrcCtx-1] + 1) % c.Vocab
	for b, row := range changed(logitsOf(t, it, s2, dec)) {
		for p, ch := range row {
			if ch != (b == 1) {
				t.Errorf("source token (1, %d) changed position (%d, %d): %v", c.SrcCtx-1, b, p, ch)
			}
		}
	}
	// Decoder token (0, 2) reaches positions 2 and 3 of sequence 0 only.
	d2 := append([]int{}, dec...)
	d2[2] = (d2[2] + 1) % c.Vocab
	for b, row := range changed(logitsOf(t, it, src, d2)) {
		for p, ch := range row {
			if ch != (b == 0 && p >= 2) {
				t.Errorf("decoder token (0, 2) changed position (%d, %d): %v", b, p, ch)
			}
		}
	}
}

// TestBadConfigs: every mistake is a one-line error at the model's line.
func TestBadConfigs(t *testing.T) {
	for _, cc := range []struct {
		edit func(*seq2seq.Config)
		want []string
	}{
		{func(c *seq2seq.Config) { c.KVHeads = 3 }, []string{"kv_heads (3) must divide heads (4)"}},
		{func(c *seq2seq.Config) { c.D, c.Heads, c.KVHeads = 12, 4, 4 }, []string{"the head width d/heads = 3 must be even: RoPE rotates pairs of features"}},
		{func(c *seq2seq.Config) { c.SrcCtx, c.DecLayers = 0, -1 }, []string{"src_ctx must be positive, got 0", "dec_layers must be positive, got -1"}},
	} {
		c := small()
		cc.edit(&c)
		_, err := dsl.Build("seq2seq", "models/seq2seq/seq2seq.go", dsl.Options{}, func(b *dsl.Builder) { seq2seq.Build(b, c) })
		if err == nil {
			t.Errorf("%+v: no error", c)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(cc.want) {
			t.Errorf("%+v: %d errors, want %d:\n%v", c, len(lines), len(cc.want), err)
			continue
		}
		for i, l := range lines {
			if !strings.Contains(l, "models/seq2seq/seq2seq.go:") || !strings.HasSuffix(l, cc.want[i]) {
				t.Errorf("error %q, want the model's position and %q", l, cc.want[i])
			}
		}
	}
}
