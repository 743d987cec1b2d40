package bert_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models/bert"
	"github.com/mlc-dev/mlc/runtime"
)

func TestBatch(t *testing.T) {
	for _, tc := range []struct {
		seqs     [][]int
		ctx, pad int
		ids      []int32
		keep     []bool
		err      string
	}{
		{[][]int{{5, 6}, {7}}, 3, 0, []int32{5, 6, 0, 7, 0, 0}, []bool{true, true, false, true, false, false}, ""},
		{[][]int{{1, 2, 3}}, 3, 9, []int32{1, 2, 3}, []bool{true, true, true}, ""},
		{nil, 4, 0, []int32{}, []bool{}, ""},
		{[][]int{{1}, {}}, 3, 0, nil, nil, "sequence 1 has 0 tokens, want 1 to ctx = 3"},
		{[][]int{{1, 2, 3, 4}}, 3, 0, nil, nil, "sequence 0 has 4 tokens, want 1 to ctx = 3"},
		{[][]int{{1}}, 0, 0, nil, nil, "ctx must be positive, got 0"},
	} {
		ids, keep, err := bert.Batch(tc.seqs, tc.ctx, tc.pad)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Batch(%v, %d): error %v, want %q", tc.seqs, tc.ctx, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(ids, tc.ids) || !slices.Equal(keep, tc.keep) {
			t.Errorf("Batch(%v, %d, %d) = %v, %v, %v; want %v, %v", tc.seqs, tc.ctx, tc.pad, ids, keep, err, tc.ids, tc.keep)
		}
	}
}

func TestMeanPool(t *testing.T) {
	// Two sequences of ctx 3, d 2.
	hidden := []float64{
		1, 2, 3, 4, 100, 200, // sequence 0: two real tokens, then padding
		-1, 0, 5, 5, 2, -2, // sequence 1: all real
	}
	for _, tc := range []struct {
		keep []bool
		want []float64
		err  string
	}{
		{[]bool{true, true, false, true, true, true}, []float64{2, 3, 2, 1}, ""},
		{[]bool{false, true, false, true, false, false}, []float64{3, 4, -1, 0}, ""},
		{[]bool{true, true, true, true, true, true}, []float64{104.0 / 3, 206.0 / 3, 2, 1}, ""},
		{[]bool{true, true, false, false, false, false}, nil, "sequence 1 has no real token"},
		{[]bool{true, true, false, true}, nil, "mask of 4 positions is not a whole number of sequences of ctx = 3"},
		{[]bool{true, true, true}, nil, "12 hidden values, want batch·ctx·d = 1·3·2 = 6"},
	} {
		got, err := bert.MeanPool(hidden, tc.keep, 3, 2)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("MeanPool(keep %v): error %v, want %q", tc.keep, err, tc.err)
			}
			continue
		}
		if err != nil || testutil.CompareSlices(got, tc.want, 1e-15) != "" {
			t.Errorf("MeanPool(keep %v) = %v, %v; want %v", tc.keep, got, err, tc.want)
		}
		// float32 agrees, rounded once.
		h32 := make([]float32, len(hidden))
		for i, v := range hidden {
			h32[i] = float32(v)
		}
		got32, err := bert.MeanPool(h32, tc.keep, 3, 2)
		for i := range got32 {
			if err != nil || got32[i] != float32(tc.want[i]) {
				t.Errorf("float32 MeanPool(keep %v) = %v, %v; want %v", tc.keep, got32, err, tc.want)
				break
			}
		}
	}
	if _, err := bert.MeanPool([]float64{1}, []bool{true}, 1, 0); err == nil {
		t.Error("d = 0 accepted")
	}
}

func TestNormalize(t *testing.T) {
	emb := []float64{3, 4, 0, -2}
	if err := bert.Normalize(emb, 2); err != nil || testutil.CompareSlices(emb, []float64{0.6, 0.8, 0, -1}, 1e-15) != "" {
		t.Errorf("Normalize = %v, %v", emb, err)
	}
	for _, tc := range []struct {
		emb  []float32
		d    int
		want string
	}{
		{[]float32{1, 2, 0, 0}, 2, "row 1 has length 0"},
		{[]float32{1, 2, 3}, 2, "3 values are not rows of d = 2"},
		{[]float32{float32(math.Inf(1)), 1}, 2, "row 0 has length +Inf"},
	} {
		if err := bert.Normalize(tc.emb, tc.d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Normalize(%v, %d): %v, want %q", tc.emb, tc.d, err, tc.want)
		}
	}
}

// TestMeanPoolMatchesTorch: MeanPool of the interpreter's tap "hidden" is
// PyTorch's masked mean of its final hidden states, to 1e-10.
func TestMeanPoolMatchesTorch(t *testing.T) {
	for _, tc := range loadTorchRef(t).Cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := tc.config()
			it := torchInterpreter(t, c, tc.Params, false)
			in := torchInputs(t, it.G, tc.Inputs)
			if err := it.Run(in); err != nil {
				t.Fatal(err)
			}
			keep := in["attention_mask"]
			if keep == nil {
				keep = runtime.NewTensor(graph.T(graph.Bool, c.Batch, c.Ctx))
				for i, id := range in["ids"].I32 {
					keep.B[i] = id != int32(c.Pad)
				}
			}
			if slices.Index(keep.B, false) < 0 {
				t.Fatal("the batch has no padding")
			}
			emb, err := bert.MeanPool(it.Value(it.G.Tap("hidden")).Float64s(), keep.B, c.Ctx, c.D)
			if err != nil {
				t.Fatal(err)
			}
			if d := testutil.CompareSlices(emb, tc.Embedding, 1e-10); d != "" {
				t.Errorf("embedding: %s", d)
			}
		})
	}
}

// TestSentenceEmbeddingIgnoresPadding: one sentence padded with different
// tokens (mask=input) or at a different place in the batch has the same
// embedding, bit for bit, and another sentence a different one. Pooling
// every position instead does see the padding, so the mask matters.
func TestSentenceEmbeddingIgnoresPadding(t *testing.T) {
	c := tiny()
	c.Eps, c.EmbNorm, c.Head, c.Mask = 1e-5, "off", "linear", "input"
	it := setup(t, c, false, 9)
	sentence := []int{4, 7, 2, 9}
	ids, keep, err := bert.Batch([][]int{sentence, {5, 5, 6}, sentence}, c.Ctx, c.Pad)
	if err != nil {
		t.Fatal(err)
	}
	// Different padding content in rows 0 and 2: only attention_mask hides it.
	ids[4], ids[5] = 3, 11
	ids[2*c.Ctx+4], ids[2*c.Ctx+5] = 8, 1
	in := pipelineBatch(t, c, 1) // targets and mlm_mask, which the embedding does not read
	copy(in["ids"].I32, ids)
	copy(in["attention_mask"].B, keep)
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	hidden := it.Value(it.G.Tap("hidden")).Float64s()
	emb, err := bert.MeanPool(hidden, keep, c.Ctx, c.D)
	if err != nil {
		t.Fatal(err)
	}
	row := func(e []float64, b int) []float64 { return e[b*c.D : (b+1)*c.D] }
	if !slices.Equal(row(emb, 0), row(emb, 2)) {
		t.Errorf("the same sentence has embeddings\n%v\n%v", row(emb, 0), row(emb, 2))
	}
	if testutil.CompareSlices(row(emb, 0), row(emb, 1), 1e-6) == "" {
		t.Error("two different sentences have the same embedding")
	}
	all := slices.Repeat([]bool{true}, len(keep))
	unmasked, err := bert.MeanPool(hidden, all, c.Ctx, c.D)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(row(unmasked, 0), row(unmasked, 2)) {
		t.Error("control: pooling the padding too left the two rows equal")
	}
}
