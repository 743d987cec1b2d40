package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/corpus"
)

// word2vec trains on words: the identifiers of the (Go) text, the most
// frequent vocab−1 of them plus <unk> at id 0.

const (
	// WordsFile is word2vec's vocabulary file in a checkpoint directory.
	WordsFile  = "words.json"
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

// WordVocab is word2vec's vocabulary.
type WordVocab struct {
	Words []string `json:"words"`
	index map[string]int32
}

func newWordVocab(words []string) *WordVocab {
	v := &WordVocab{Words: words, index: map[string]int32{}}
	for i, w := range words {
		v.index[w] = int32(i)
	}
	return v
}

// ID returns a word's id, and whether the vocabulary has it.
func (v *WordVocab) ID(w string) (int32, bool) {
	id, ok := v.index[w]
	return id, ok
}

// buildVocab keeps the most frequent words (ties in byte order).
func buildVocab(docs [][]byte, size int) *WordVocab {
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

// LoadWordVocab reads a saved vocabulary.
func LoadWordVocab(path string) (*WordVocab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v WordVocab
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(v.Words) == 0 || v.Words[0] != unk {
		return nil, fmt.Errorf("%s: not a word2vec vocabulary (want %q first)", path, unk)
	}
	return newWordVocab(v.Words), nil
}

func (v *WordVocab) encode(docs [][]byte) []int32 {
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
	valSet      []Batch
	fingerprint string // of the vocabulary
	files       map[string][]byte
}

func newSkipGram(c *corpus.Corpus, o Options) (Dataset, error) {
	size := o.Config("vocab")
	path := filepath.Join(o.Dir, WordsFile)
	var v *WordVocab
	var err error
	files := map[string][]byte{}
	if o.Resume {
		if v, err = LoadWordVocab(path); err != nil {
			return nil, err
		}
		if len(v.Words) != size {
			return nil, fmt.Errorf("%s: %d words, the model's vocab is %d", path, len(v.Words), size)
		}
	} else {
		v = buildVocab(c.Train.Docs(), size)
		if len(v.Words) != size {
			return nil, fmt.Errorf("%s: only %d distinct words for a vocab of %d", c.Root, len(v.Words), size)
		}
		if files[WordsFile], err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	d := &skipGram{train: v.encode(c.Train.Docs()), val: v.encode(c.Val.Docs()), batch: o.Config("batch"), k: o.Config("negatives"),
		rng: runtime.RNG{State: runtime.SeedFor(o.Seed, "data")}, fingerprint: v.Fingerprint(), files: files}
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
	o.Log("words: %d training, %d validation, vocabulary %d\n", len(d.train), len(d.val), size)
	return d, nil
}

func (d *skipGram) Fixed() bool              { return false }
func (d *skipGram) Files() map[string][]byte { return d.files }
func (d *skipGram) Meta() map[string]string  { return map[string]string{"train.words": d.fingerprint} }
func (d *skipGram) State() string            { return rngState(&d.rng) }
func (d *skipGram) Restore(s string) error   { return restoreRNG(&d.rng, s) }

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

func (d *skipGram) batchFrom(stream []int32, r *runtime.RNG) Batch {
	center, context, neg := make([]int32, d.batch), make([]int32, d.batch), make([]int32, d.batch*d.k)
	for b := range d.batch {
		center[b], context[b] = d.pair(stream, r)
		for k := range d.k {
			neg[b*d.k+k] = d.negative(r)
		}
	}
	return Batch{"center": IDs(center, d.batch), "context": IDs(context, d.batch), "negatives": IDs(neg, d.batch, d.k)}
}

func (d *skipGram) Next() (Batch, error) {
	return d.batchFrom(d.train, &d.rng), nil
}

func (d *skipGram) Validation() []Batch {
	if d.valSet == nil {
		r := runtime.RNG{State: 777}
		for range valBatches {
			d.valSet = append(d.valSet, d.batchFrom(d.val, &r))
		}
	}
	return d.valSet
}

// Fingerprint is the hex SHA-256 of the word list.
func (v *WordVocab) Fingerprint() string {
	h := sha256.New()
	for _, w := range v.Words {
		h.Write([]byte(w))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
