package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models/bert"
	"github.com/mlc-dev/mlc/runtime"
)

// sentenceHit is one sentence and its cosine similarity to the query.
type sentenceHit struct {
	Sentence string  `json:"sentence"`
	Cosine   float64 `json:"cosine"`
}

// nearestSentences embeds the query and every line of file with a trained
// bert (masked mean pooling of its final hidden states, the text's recipe)
// and returns the k lines closest to the query by cosine similarity.
func nearestSentences(dir, query, file string, k int) ([]sentenceHit, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no sentences (one per line)", file)
	}
	t, err := loadTrained(dir, trainedOptions{model: "bert", taps: []string{"hidden"}})
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if t.tok == nil {
		return nil, fmt.Errorf("%s: a bert trained without a tokenizer", dir)
	}
	ids := t.prog.Predict.Inputs()[0].Type.Shape
	batch, ctx := ids[0], ids[1]
	d := t.m.ConfigInt("d")
	texts := append([]string{query}, lines...)
	var emb []float64
	for start := 0; start < len(texts); start += batch {
		seqs := make([][]int, batch)
		for i := range seqs {
			s := texts[min(start+i, len(texts)-1)] // the last batch repeats its last text
			toks := t.tok.Encode([]byte(s))
			if len(toks) == 0 {
				toks = []int{data.BERTPad + 2} // an empty text still needs one token
			}
			seqs[i] = toks[:min(len(toks), ctx)]
		}
		flat, keep, err := bert.Batch(seqs, ctx, data.BERTPad)
		if err != nil {
			return nil, err
		}
		in := map[string]runtime.JSONTensor{"ids": data.IDs(flat, batch, ctx)}
		if slices.ContainsFunc(t.prog.Predict.Inputs(), func(n *graph.Node) bool { return n.Name == "attention_mask" }) {
			in["attention_mask"] = data.Mask(keep, batch, ctx)
		}
		res, err := t.predict(in)
		if err != nil {
			return nil, err
		}
		h := res.Taps["hidden"]
		hidden := make([]float64, len(h.Data))
		for i, v := range h.Data {
			hidden[i] = float64(v)
		}
		pooled, err := bert.MeanPool(hidden, keep, ctx, d)
		if err != nil {
			return nil, err
		}
		if err := bert.Normalize(pooled, d); err != nil {
			return nil, err
		}
		emb = append(emb, pooled[:min(batch, len(texts)-start)*d]...)
	}
	q := emb[:d]
	var hits []sentenceHit
	for i, s := range lines {
		e := emb[(i+1)*d : (i+2)*d]
		dot := 0.0
		for j := range d {
			dot += q[j] * e[j]
		}
		hits = append(hits, sentenceHit{s, dot})
	}
	slices.SortStableFunc(hits, func(a, b sentenceHit) int {
		switch {
		case a.Cosine > b.Cosine:
			return -1
		case a.Cosine < b.Cosine:
			return 1
		}
		return 0
	})
	return hits[:min(k, len(hits))], nil
}
