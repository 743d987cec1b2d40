package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

func cmdEmbed(c *cli, args []string) error {
	fs := c.flags("embed")
	ckpt := fs.String("ckpt", "", "directory of a word2vec checkpoint written by mlc train (required)")
	near := fs.String("near", "", "print the words closest to this one")
	analogy := fs.String("analogy", "", "a,b,c: print the words closest to a − b + c")
	sentence := fs.String("sentence", "", "with a bert checkpoint: print the lines of -sentences closest to this sentence (masked mean pooling of the final hidden states)")
	sentences := fs.String("sentences", "", "with -sentence: a file of sentences to search, one per line")
	k := fs.Int("k", 10, "how many words or sentences to print")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *ckpt == "" {
		return fmt.Errorf("-ckpt DIR is required")
	}
	if *k < 1 {
		return fmt.Errorf("-k must be at least 1, got %d", *k)
	}
	given := 0
	for _, f := range []string{*near, *analogy, *sentence} {
		if f != "" {
			given++
		}
	}
	if given != 1 {
		return fmt.Errorf("give one of -near WORD, -analogy a,b,c (word2vec) or -sentence TEXT -sentences FILE (bert)")
	}
	if *sentence != "" {
		if *sentences == "" {
			return fmt.Errorf("-sentence needs -sentences FILE, the sentences to search")
		}
		hits, err := nearestSentences(*ckpt, *sentence, *sentences, *k)
		if err != nil {
			return err
		}
		if *asJSON {
			b, _ := json.MarshalIndent(hits, "", "  ")
			fmt.Fprintln(c.stdout, string(b))
			return nil
		}
		for _, h := range hits {
			fmt.Fprintf(c.stdout, "%.3f  %s\n", h.Cosine, h.Sentence)
		}
		return nil
	}
	ckPath := filepath.Join(*ckpt, ckptFile)
	ck, st, err := train.LoadCheckpoint(ckPath)
	if err != nil {
		return err
	}
	if st.Model != "word2vec" {
		return fmt.Errorf("%s: a %s checkpoint; mlc embed reads word2vec's", ckPath, st.Model)
	}
	vocabPath := filepath.Join(*ckpt, data.WordsFile)
	v, err := data.LoadWordVocab(vocabPath)
	if err != nil {
		return err
	}
	if ck.Metadata["train.words"] != v.Fingerprint() {
		return fmt.Errorf("%s does not match the checkpoint %s", vocabPath, ckPath)
	}
	emb, err := unitRows(ck, len(v.Words))
	if err != nil {
		return fmt.Errorf("%s: %v", ckPath, err)
	}
	lookup := func(w string) ([]float64, error) {
		id, ok := v.ID(w)
		if !ok || id == 0 {
			return nil, fmt.Errorf("%q is not in the vocabulary of %d words", w, len(v.Words))
		}
		return emb[id], nil
	}
	var query []float64
	exclude := map[int32]bool{0: true}
	if *near != "" {
		if query, err = lookup(*near); err != nil {
			return err
		}
		id, _ := v.ID(*near)
		exclude[id] = true
	} else {
		parts := strings.Split(*analogy, ",")
		if len(parts) != 3 {
			return fmt.Errorf("-analogy wants three words a,b,c, got %q", *analogy)
		}
		query = make([]float64, len(emb[0]))
		for i, w := range parts {
			e, err := lookup(strings.TrimSpace(w))
			if err != nil {
				return err
			}
			id, _ := v.ID(strings.TrimSpace(w))
			exclude[id] = true
			sign := 1.0
			if i == 1 {
				sign = -1
			}
			for j := range query {
				query[j] += sign * e[j]
			}
		}
	}
	type hit struct {
		Word   string  `json:"word"`
		Cosine float64 `json:"cosine"`
	}
	qn := norm(query)
	var hits []hit
	for id, e := range emb {
		if exclude[int32(id)] {
			continue
		}
		dot := 0.0
		for j := range e {
			dot += e[j] * query[j]
		}
		hits = append(hits, hit{v.Words[id], dot / qn})
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].Cosine > hits[j].Cosine })
	hits = hits[:min(*k, len(hits))]
	if *asJSON {
		b, _ := json.MarshalIndent(hits, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
		return nil
	}
	for _, h := range hits {
		fmt.Fprintf(c.stdout, "%-24s %.4f\n", h.Word, h.Cosine)
	}
	return nil
}

func norm(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

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
