package data

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/corpus"
	"github.com/mlc-dev/mlc/runtime/text"
)

// Text models train on a corpus: a file or directory, by default the .go
// files of the Go installation's own source tree, split into train and
// validation by file. The tokenizer (byte-level BPE sized to the model's
// vocab) is trained on the training split and saved beside the checkpoint.

const (
	// TokenizerFile is the tokenizer's file in a checkpoint directory.
	TokenizerFile = "tokenizer.json"
	// corpusCap bounds the text read, so set-up stays in seconds on 2 cores.
	corpusCap = 48 << 20
	// bpeSample bounds the text the BPE trainer counts pairs over.
	bpeSample = 16 << 20
	// valBatches is how many validation batches each evaluation averages.
	valBatches = 16
	// BERTPad and BERTMask are the padding and [MASK] ids of BERT's data:
	// the NUL and SOH bytes, which never occur in text, so no real token
	// is lost.
	BERTPad, BERTMask = 0, 1
)

// LoadCorpus reads the training text.
func LoadCorpus(path string) (*corpus.Corpus, error) {
	c, err := corpus.Load(path, corpus.Options{MaxBytes: corpusCap})
	if err != nil {
		return nil, err
	}
	if c.Train.Bytes == 0 || c.Val.Bytes == 0 {
		return nil, fmt.Errorf("%s: need text for both training and validation", c.Root)
	}
	return c, nil
}

// TrainTokenizer trains a byte-level BPE with vocab ids on the corpus's
// training split.
func TrainTokenizer(c *corpus.Corpus, vocab int) (*text.BPE, error) {
	var docs [][]byte
	n := 0
	for _, d := range c.Train.Docs() {
		if n >= bpeSample {
			break
		}
		docs = append(docs, d)
		n += len(d)
	}
	return text.TrainBPE(docs, text.BPEOptions{VocabSize: vocab})
}

// LoadTokenizer reads a saved tokenizer and checks it fits the model (vocab
// 0: any size).
func LoadTokenizer(path string, vocab int) (text.Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tok, err := text.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if vocab > 0 && tok.VocabSize() != vocab {
		return nil, fmt.Errorf("%s: the tokenizer has %d tokens, the model's vocab is %d", path, tok.VocabSize(), vocab)
	}
	return tok, nil
}

// Encode turns documents into one token stream.
func Encode(tok text.Tokenizer, docs [][]byte) []int32 {
	var out []int32
	for _, d := range docs {
		for _, id := range tok.Encode(d) {
			out = append(out, int32(id))
		}
	}
	return out
}

// UnigramBaseline is the cross-entropy (nats per token) of the validation
// tokens under the training tokens' unigram distribution (add-one
// smoothing): what a model that ignores context achieves.
func UnigramBaseline(train, val []int32, vocab int) float64 {
	counts := make([]float64, vocab)
	for _, t := range train {
		counts[t]++
	}
	total := float64(len(train) + vocab)
	sum := 0.0
	for _, t := range val {
		sum -= math.Log((counts[t] + 1) / total)
	}
	return sum / float64(len(val))
}

// lmData feeds a causal language model: random windows of ctx+1 tokens, the
// first ctx as ids and the last ctx as targets (the ids shifted by one).
type lmData struct {
	train, val []int32
	batch, ctx int
	rng        runtime.RNG
	valSet     []Batch
	baseline   float64
	tokenizer  string // fingerprint
	files      map[string][]byte
}

func (d *lmData) Meta() map[string]string {
	return map[string]string{"train.tokenizer": d.tokenizer, "train.unigram": strconv.FormatFloat(d.baseline, 'g', -1, 64)}
}

func (d *lmData) Files() map[string][]byte { return d.files }
func (d *lmData) Fixed() bool              { return false }
func (d *lmData) State() string            { return rngState(&d.rng) }
func (d *lmData) Restore(s string) error   { return restoreRNG(&d.rng, s) }

func (d *lmData) window(stream []int32, start int, idsOut, tgtOut []int32) {
	copy(idsOut, stream[start:start+d.ctx])
	copy(tgtOut, stream[start+1:start+d.ctx+1])
}

func (d *lmData) Next() (Batch, error) {
	idsB := make([]int32, d.batch*d.ctx)
	tgtB := make([]int32, d.batch*d.ctx)
	for b := range d.batch {
		start := int(d.rng.Uint64() % uint64(len(d.train)-d.ctx-1))
		d.window(d.train, start, idsB[b*d.ctx:(b+1)*d.ctx], tgtB[b*d.ctx:(b+1)*d.ctx])
	}
	return Batch{"ids": IDs(idsB, d.batch, d.ctx), "targets": IDs(tgtB, d.batch, d.ctx)}, nil
}

// Validation is a fixed set of windows spread evenly over the validation text.
func (d *lmData) Validation() []Batch {
	if d.valSet != nil {
		return d.valSet
	}
	n := valBatches * d.batch
	stride := (len(d.val) - d.ctx - 1) / n
	for v := range valBatches {
		idsB := make([]int32, d.batch*d.ctx)
		tgtB := make([]int32, d.batch*d.ctx)
		for b := range d.batch {
			d.window(d.val, (v*d.batch+b)*stride, idsB[b*d.ctx:(b+1)*d.ctx], tgtB[b*d.ctx:(b+1)*d.ctx])
		}
		d.valSet = append(d.valSet, Batch{"ids": IDs(idsB, d.batch, d.ctx), "targets": IDs(tgtB, d.batch, d.ctx)})
	}
	return d.valSet
}

// mlmData feeds BERT: windows of ctx tokens, a fifth of them cut short and
// padded (so the padding mask matters), masked with the 80/10/10 rule.
type mlmData struct {
	lm       lmData
	mlm      runtime.MLM
	attnMask bool // the model takes an attention_mask input (true: attend)
}

func (d *mlmData) Fixed() bool              { return false }
func (d *mlmData) Meta() map[string]string  { return d.lm.Meta() }
func (d *mlmData) Files() map[string][]byte { return d.lm.files }
func (d *mlmData) State() string            { return d.lm.State() }
func (d *mlmData) Restore(s string) error   { return d.lm.Restore(s) }

func (d *mlmData) batchFrom(stream []int32, starts []int, r *runtime.RNG) (Batch, error) {
	B, T := d.lm.batch, d.lm.ctx
	raw := make([]int32, B*T)
	for b, s := range starts {
		row := raw[b*T : (b+1)*T]
		copy(row, stream[s:s+T])
		if r.Uint64()%5 == 0 { // pad the tail of one sequence in five
			cut := 1 + int(r.Uint64()%uint64(T-1))
			for i := cut; i < T; i++ {
				row[i] = BERTPad
			}
		}
	}
	masked, targets, selected, err := d.mlm.Apply(r, raw, T)
	if err != nil {
		return nil, err
	}
	b := Batch{"ids": IDs(masked, B, T), "targets": IDs(targets, B, T), "mlm_mask": Mask(selected, B, T)}
	if d.attnMask {
		keep := make([]bool, len(raw))
		for i, id := range raw {
			keep[i] = id != BERTPad
		}
		b["attention_mask"] = Mask(keep, B, T)
	}
	return b, nil
}

func (d *mlmData) Next() (Batch, error) {
	starts := make([]int, d.lm.batch)
	for b := range starts {
		starts[b] = int(d.lm.rng.Uint64() % uint64(len(d.lm.train)-d.lm.ctx))
	}
	return d.batchFrom(d.lm.train, starts, &d.lm.rng)
}

func (d *mlmData) Validation() []Batch {
	if d.lm.valSet != nil {
		return d.lm.valSet
	}
	r := runtime.RNG{State: 12345} // the same masks at every evaluation
	n := valBatches * d.lm.batch
	stride := (len(d.lm.val) - d.lm.ctx) / n
	for v := range valBatches {
		starts := make([]int, d.lm.batch)
		for b := range starts {
			starts[b] = (v*d.lm.batch + b) * stride
		}
		batch, err := d.batchFrom(d.lm.val, starts, &r)
		if err != nil {
			return nil
		}
		d.lm.valSet = append(d.lm.valSet, batch)
	}
	return d.lm.valSet
}

// textDataset builds the data of a text model.
func textDataset(o Options) (Dataset, error) {
	c, err := LoadCorpus(o.Path)
	if err != nil {
		return nil, err
	}
	o.Log("corpus %s\n", c)
	vocab := o.Config("vocab")
	if o.Kind == KindSkipGram {
		return newSkipGram(c, o)
	}
	var tok text.Tokenizer
	files := map[string][]byte{}
	if o.Resume {
		if tok, err = LoadTokenizer(filepath.Join(o.Dir, TokenizerFile), vocab); err != nil {
			return nil, err
		}
	} else {
		bpe, err := TrainTokenizer(c, vocab)
		if err != nil {
			return nil, err
		}
		b, err := bpe.MarshalJSON()
		if err != nil {
			return nil, err
		}
		tok, files[TokenizerFile] = bpe, b
	}
	train, val := Encode(tok, c.Train.Docs()), Encode(tok, c.Val.Docs())
	ctx := o.Config("ctx")
	lm := lmData{train: train, val: val, batch: o.Config("batch"), ctx: ctx, rng: runtime.RNG{State: runtime.SeedFor(o.Seed, "data")}, files: files}
	if len(train) < 2*ctx+2 || len(val) < valBatches*lm.batch+ctx+1 {
		return nil, fmt.Errorf("%s: too little text for context %d (%d training and %d validation tokens)", c.Root, ctx, len(train), len(val))
	}
	lm.baseline = UnigramBaseline(train, val, vocab)
	lm.tokenizer = tok.Fingerprint()
	o.Log("tokens: %d training, %d validation (BPE, %d ids, %.2f bytes/token); unigram baseline %.4f nats/token\n",
		len(train), len(val), tok.VocabSize(), float64(c.Train.Bytes)/float64(len(train)), lm.baseline)
	if o.Kind == KindMLM {
		return &mlmData{lm: lm, mlm: runtime.MLM{Vocab: vocab, Pad: BERTPad, Mask: BERTMask, Rate: 0.15}, attnMask: slices.Contains(o.Inputs, "attention_mask")}, nil
	}
	return &lm, nil
}
