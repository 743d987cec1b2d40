package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/corpus"
)

// word2vec trains on words: the identifiers of the (Go) text, the most
// frequent vocab−1 of them plus <unk> at id 0.

const (
	wordsFile  = "words.json"
	unk        = "<unk>"
	skipWindow = 5 // context positions on each side
)

// identifiers splits text into identifier-like words: a letter or '_'
// followed by letters, digits and '_' (bytes ≥ 0x80 count as letters).
func identifiers(b []byte, yield func(string)) {
	isStart := func(c byte) bool { return c == '_' || c >= 0x80 || c|0x20 >= 'a' && c|0x20 <= 'z' }
	for i := 0; i < len(b); {
		if !isStart(b[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(b) && (isStart(b[j]) || b[j] >= '0' && b[j] <= '9') {
			j++
		}
		yield(string(b[i:j]))
		i = j
	}
}

// wordVocab is word2vec's vocabulary.
type wordVocab struct {
	Words []string `json:"words"`
	index map[string]int32
}

func newWordVocab(words []string) *wordVocab {
	v := &wordVocab{Words: words, index: map[string]int32{}}
	for i, w := range words {
		v.index[w] = int32(i)
	}
	return v
}

// buildVocab keeps the most frequent words (ties in byte order).
func buildVocab(docs [][]byte, size int) *wordVocab {
	counts := map[string]int{}
	for _, d := range docs {
		identifiers(d, func(w string) { counts[w]++ })
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	if len(words) > size-1 {
		words = words[:size-1]
	}
	return newWordVocab(append([]string{unk}, words...))
}

func loadWordVocab(path string) (*wordVocab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v wordVocab
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(v.Words) == 0 || v.Words[0] != unk {
		return nil, fmt.Errorf("%s: not a word2vec vocabulary (want %q first)", path, unk)
	}
	return newWordVocab(v.Words), nil
}

func (v *wordVocab) encode(docs [][]byte) []int32 {
	var out []int32
	for _, d := range docs {
		identifiers(d, func(w string) { out = append(out, v.index[w]) }) // unknown words map to 0, <unk>
	}
	return out
}

// skipGram feeds word2vec: (center, context) pairs within the window and K
// negatives per pair drawn from the unigram distribution to the power 3/4.
type skipGram struct {
	train, val  []int32
	batch, k    int
	rng         runtime.RNG
	cum         []float64 // cumulative unigram^0.75
	valSet      []map[string]runtime.JSONTensor
	fingerprint string // of the vocabulary
}

func newSkipGram(c *corpus.Corpus, m *loaded, st trainSettings, dir string, resume bool, out func(string, ...any)) (dataset, error) {
	size := configInt(m, "vocab")
	var v *wordVocab
	var err error
	if resume {
		if v, err = loadWordVocab(filepath.Join(dir, wordsFile)); err != nil {
			return nil, err
		}
		if len(v.Words) != size {
			return nil, fmt.Errorf("%s: %d words, the model's vocab is %d", filepath.Join(dir, wordsFile), len(v.Words), size)
		}
	} else {
		v = buildVocab(c.Train.Docs(), size)
		if len(v.Words) != size {
			return nil, fmt.Errorf("%s: only %d distinct words for a vocab of %d", c.Root, len(v.Words), size)
		}
		if dir != "" {
			b, _ := json.Marshal(v)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, wordsFile), b, 0o644); err != nil {
				return nil, err
			}
		}
	}
	d := &skipGram{train: v.encode(c.Train.Docs()), val: v.encode(c.Val.Docs()), batch: configInt(m, "batch"), k: configInt(m, "negatives"),
		rng: runtime.RNG{State: runtime.SeedFor(st.Seed, "data")}, fingerprint: v.fingerprint()}
	counts := make([]float64, size)
	for _, t := range d.train {
		counts[t]++
	}
	counts[0] = 0 // never draw <unk> as a negative
	d.cum = make([]float64, size)
	acc := 0.0
	for i, n := range counts {
		acc += math.Pow(n, 0.75)
		d.cum[i] = acc
	}
	out("words: %d training, %d validation, vocabulary %d\n", len(d.train), len(d.val), size)
	return d, nil
}

func (d *skipGram) fixed() bool { return false }

func (d *skipGram) meta() map[string]string { return map[string]string{"train.words": d.fingerprint} }

// pair draws a center (not <unk>) and a context word within the window.
func (d *skipGram) pair(stream []int32, r *runtime.RNG) (int32, int32) {
	for {
		i := int(r.Uint64() % uint64(len(stream)))
		off := 1 + int(r.Uint64()%skipWindow)
		if r.Uint64()%2 == 0 {
			off = -off
		}
		j := i + off
		if j < 0 || j >= len(stream) || stream[i] == 0 || stream[j] == 0 {
			continue
		}
		return stream[i], stream[j]
	}
}

func (d *skipGram) negative(r *runtime.RNG) int32 {
	u := r.Float64() * d.cum[len(d.cum)-1]
	return int32(sort.SearchFloat64s(d.cum, u))
}

func (d *skipGram) batchFrom(stream []int32, r *runtime.RNG) map[string]runtime.JSONTensor {
	center, context, neg := make([]int32, d.batch), make([]int32, d.batch), make([]int32, d.batch*d.k)
	for b := range d.batch {
		center[b], context[b] = d.pair(stream, r)
		for k := range d.k {
			neg[b*d.k+k] = d.negative(r)
		}
	}
	return map[string]runtime.JSONTensor{"center": ids(center, d.batch), "context": ids(context, d.batch), "negatives": ids(neg, d.batch, d.k)}
}

func (d *skipGram) next() (map[string]runtime.JSONTensor, error) {
	return d.batchFrom(d.train, &d.rng), nil
}

func (d *skipGram) validation() []map[string]runtime.JSONTensor {
	if d.valSet == nil {
		r := runtime.RNG{State: 777}
		for range valBatches {
			d.valSet = append(d.valSet, d.batchFrom(d.val, &r))
		}
	}
	return d.valSet
}

func (d *skipGram) state() string { return strconv.FormatUint(d.rng.State, 10) }

func (d *skipGram) restore(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad data position %q", s)
	}
	d.rng.State = v
	return nil
}

// fingerprint is the hex SHA-256 of the word list.
func (v *wordVocab) fingerprint() string {
	h := sha256.New()
	for _, w := range v.Words {
		h.Write([]byte(w))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
