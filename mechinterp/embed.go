package mechinterp

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models/bert"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

// Hit is a word or a sentence and its cosine similarity to a query.
type Hit struct {
	Text   string
	Cosine float64
}

// WordVectors are the center embeddings of a word2vec checkpoint, each row
// scaled to length 1.
type WordVectors struct {
	Vocab *data.WordVocab
	Rows  [][]float64 // Rows[id]
}

// OpenWordVectors reads a word2vec checkpoint written by mlc train and its
// vocabulary (words.txt), checking that they belong together.
func OpenWordVectors(dir string) (*WordVectors, error) {
	if dir == "" {
		return nil, fmt.Errorf("-ckpt DIR is required")
	}
	ckPath := filepath.Join(dir, train.CheckpointFile)
	ck, st, err := train.LoadCheckpoint(ckPath)
	if err != nil {
		return nil, err
	}
	if st.Model != "word2vec" {
		return nil, fmt.Errorf("%s: a %s checkpoint; mlc embed reads word2vec's", ckPath, st.Model)
	}
	vocabPath := filepath.Join(dir, data.WordsFile)
	v, err := data.LoadWordVocab(vocabPath)
	if err != nil {
		return nil, err
	}
	if ck.Metadata["train.words"] != v.Fingerprint() {
		return nil, fmt.Errorf("%s does not match the checkpoint %s", vocabPath, ckPath)
	}
	rows, err := unitRows(ck, len(v.Words))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", ckPath, err)
	}
	return &WordVectors{Vocab: v, Rows: rows}, nil
}

// vector is a word's row; the padding id 0 is not a word.
func (wv *WordVectors) vector(w string) (int32, []float64, error) {
	id, ok := wv.Vocab.ID(w)
	if !ok || id == 0 {
		return 0, nil, fmt.Errorf("%q is not in the vocabulary of %d words", w, len(wv.Vocab.Words))
	}
	return id, wv.Rows[id], nil
}

// Near returns the k words closest to w, w itself left out.
func (wv *WordVectors) Near(w string, k int) ([]Hit, error) {
	id, q, err := wv.vector(w)
	if err != nil {
		return nil, err
	}
	return wv.nearest(q, map[int32]bool{0: true, id: true}, k), nil
}

// Analogy returns the k words closest to a − b + c, the three left out.
func (wv *WordVectors) Analogy(a, b, c string, k int) ([]Hit, error) {
	query := make([]float64, len(wv.Rows[0]))
	exclude := map[int32]bool{0: true}
	for i, w := range []string{a, b, c} {
		id, e, err := wv.vector(strings.TrimSpace(w))
		if err != nil {
			return nil, err
		}
		exclude[id] = true
		sign := 1.0
		if i == 1 {
			sign = -1
		}
		for j := range query {
			query[j] += sign * e[j]
		}
	}
	return wv.nearest(query, exclude, k), nil
}

func (wv *WordVectors) nearest(query []float64, exclude map[int32]bool, k int) []Hit {
	qn := norm(query)
	var hits []Hit
	for id, e := range wv.Rows {
		if exclude[int32(id)] {
			continue
		}
		hits = append(hits, Hit{wv.Vocab.Words[id], dot(e, query) / qn})
	}
	return topHits(hits, k)
}

// topHits sorts hits by cosine, largest first (ties keep their order), and
// keeps k.
func topHits(hits []Hit, k int) []Hit {
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(b.Cosine, a.Cosine) })
	return hits[:min(max(k, 0), len(hits))]
}

func dot(a, b []float64) float64 {
	s := 0.0
	for j := range a {
		s += a[j] * b[j]
	}
	return s
}

func norm(x []float64) float64 { return math.Sqrt(dot(x, x)) }

// unitRows returns the center embeddings V, each row scaled to length 1.
func unitRows(ck *safetensors.Checkpoint, vocab int) ([][]float64, error) {
	t, ok := ck.Param("V")
	if !ok {
		return nil, fmt.Errorf("no embedding table V")
	}
	if len(t.Shape) != 2 || t.Shape[0] != vocab {
		return nil, fmt.Errorf("V has shape %v for %d words", t.Shape, vocab)
	}
	d := t.Shape[1]
	rows := make([][]float64, vocab)
	for i := range rows {
		row := make([]float64, d)
		for j := range row {
			if t.F32 != nil {
				row[j] = float64(t.F32[i*d+j])
			} else {
				row[j] = t.F64[i*d+j]
			}
		}
		if n := norm(row); n > 0 {
			for j := range row {
				row[j] /= n
			}
		}
		rows[i] = row
	}
	return rows, nil
}

// ReadLines reads the non-blank lines of a file, trimmed.
func ReadLines(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return lines, nil
}

// NearestSentences embeds the query and every sentence with a trained bert
// (the checkpoint in dir; masked mean pooling of its final hidden states)
// and returns the k sentences closest to the query by cosine similarity.
func NearestSentences(dir, query string, sentences []string, k int, engine Engine) ([]Hit, error) {
	if len(sentences) == 0 {
		return nil, fmt.Errorf("no sentences to search")
	}
	c, err := OpenCheckpoint(dir, "bert", "")
	if err != nil {
		return nil, err
	}
	tok, err := c.Tokenizer()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, fmt.Errorf("%s: a bert trained without a tokenizer", dir)
	}
	t, err := c.Start([]string{"hidden"}, engine)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	ins := t.Program.Predict.Inputs()
	ids := ins[0].Type.Shape
	batch, ctx := ids[0], ids[1]
	d := c.Model.ConfigInt("d")
	texts := append([]string{query}, sentences...)
	var emb []float64
	for start := 0; start < len(texts); start += batch {
		seqs := make([][]int, batch)
		for i := range seqs {
			s := texts[min(start+i, len(texts)-1)] // the last batch repeats its last text
			toks := tok.Encode([]byte(s))
			if len(toks) == 0 {
				toks = []int{data.BERTPad + 2} // an empty text still needs one token
			}
			seqs[i] = toks[:min(len(toks), ctx)]
		}
		flat, keep, err := bert.Batch(seqs, ctx, data.BERTPad)
		if err != nil {
			return nil, err
		}
		in := data.Batch{"ids": data.IDs(flat, batch, ctx)}
		if slices.ContainsFunc(ins, func(n *graph.Node) bool { return n.Name == "attention_mask" }) {
			in["attention_mask"] = data.Mask(keep, batch, ctx)
		}
		res, err := t.Predict(in)
		if err != nil {
			return nil, err
		}
		h := res.Taps["hidden"]
		pooled, err := bert.MeanPool(f64s(h.Data), keep, ctx, d)
		if err != nil {
			return nil, err
		}
		if err := bert.Normalize(pooled, d); err != nil {
			return nil, err
		}
		emb = append(emb, pooled[:min(batch, len(texts)-start)*d]...)
	}
	q := emb[:d]
	var hits []Hit
	for i, s := range sentences {
		hits = append(hits, Hit{s, dot(q, emb[(i+1)*d:(i+2)*d])})
	}
	return topHits(hits, k), nil
}
