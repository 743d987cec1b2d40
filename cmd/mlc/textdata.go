package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/corpus"
	"github.com/mlc-dev/mlc/runtime/text"
)

// Text models train on a corpus: -data FILE|DIR, by default the .go files of
// the Go installation's own source tree, split into train and validation
// by file. The tokenizer (byte-level BPE sized to the model's vocab) is
// trained on the training split and saved beside the checkpoint.

const (
	tokenizerFile = "tokenizer.json"
	// corpusCap bounds the text read, so set-up stays in seconds on 2 cores.
	corpusCap = 48 << 20
	// bpeSample bounds the text the BPE trainer counts pairs over.
	bpeSample = 16 << 20
	// valBatches is how many validation batches each evaluation averages.
	valBatches = 16
	// The padding and [MASK] ids of BERT's data: the NUL and SOH bytes, which
	// never occur in text, so no real token is lost.
	bertPad, bertMask = 0, 1
)

// loadCorpus reads the training text.
func loadCorpus(path string) (*corpus.Corpus, error) {
	c, err := corpus.Load(path, corpus.Options{MaxBytes: corpusCap})
	if err != nil {
		return nil, err
	}
	if c.Train.Bytes == 0 || c.Val.Bytes == 0 {
		return nil, fmt.Errorf("%s: need text for both training and validation", c.Root)
	}
	return c, nil
}

// trainTokenizer trains a byte-level BPE with vocab ids on the corpus's
// training split.
func trainTokenizer(c *corpus.Corpus, vocab int) (*text.BPE, error) {
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

// tokenizerFor loads the run's tokenizer from dir, or trains one (and saves
// it in dir when dir is set).
func tokenizerFor(dir string, resume bool, c *corpus.Corpus, vocab int) (text.Tokenizer, error) {
	if resume {
		return loadTokenizer(filepath.Join(dir, tokenizerFile), vocab)
	}
	tok, err := trainTokenizer(c, vocab)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		b, err := tok.MarshalJSON()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, tokenizerFile), b, 0o644); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// loadTokenizer reads a saved tokenizer and checks it fits the model.
func loadTokenizer(path string, vocab int) (text.Tokenizer, error) {
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

// encode turns documents into one token stream.
func encode(tok text.Tokenizer, docs [][]byte) []int32 {
	var out []int32
	for _, d := range docs {
		for _, id := range tok.Encode(d) {
			out = append(out, int32(id))
		}
	}
	return out
}

// unigramBaseline is the cross-entropy (nats per token) of the validation
// tokens under the training tokens' unigram distribution (add-one
// smoothing): what a model that ignores context achieves.
func unigramBaseline(train, val []int32, vocab int) float64 {
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

// configInt reads an integer config key of the loaded model.
func configInt(m *loaded, key string) int {
	for _, k := range dsl.ConfigKeys(m.cfg) {
		if k.Name == key {
			n, _ := strconv.Atoi(k.Default)
			return n
		}
	}
	return 0
}

func ids(data []int32, shape ...int) runtime.JSONTensor {
	j := runtime.JSONTensor{Shape: shape, Data: make([]runtime.JSONFloat, len(data))}
	for i, v := range data {
		j.Data[i] = runtime.JSONFloat(v)
	}
	return j
}

func mask(data []bool, shape ...int) runtime.JSONTensor {
	j := runtime.JSONTensor{Shape: shape, Data: make([]runtime.JSONFloat, len(data))}
	for i, v := range data {
		if v {
			j.Data[i] = 1
		}
	}
	return j
}

// lmData feeds a causal language model: random windows of ctx+1 tokens, the
// first ctx as ids and the last ctx as targets (the ids shifted by one).
type lmData struct {
	train, val []int32
	batch, ctx int
	rng        runtime.RNG
	valSet     []map[string]runtime.JSONTensor
	baseline   float64
	tokenizer  string // fingerprint
}

func (d *lmData) meta() map[string]string {
	return map[string]string{"train.tokenizer": d.tokenizer, "train.unigram": strconv.FormatFloat(d.baseline, 'g', -1, 64)}
}

func (d *lmData) fixed() bool { return false }

func (d *lmData) window(stream []int32, start int, idsOut, tgtOut []int32) {
	copy(idsOut, stream[start:start+d.ctx])
	copy(tgtOut, stream[start+1:start+d.ctx+1])
}

func (d *lmData) next() (map[string]runtime.JSONTensor, error) {
	idsB := make([]int32, d.batch*d.ctx)
	tgtB := make([]int32, d.batch*d.ctx)
	for b := range d.batch {
		start := int(d.rng.Uint64() % uint64(len(d.train)-d.ctx-1))
		d.window(d.train, start, idsB[b*d.ctx:(b+1)*d.ctx], tgtB[b*d.ctx:(b+1)*d.ctx])
	}
	return map[string]runtime.JSONTensor{"ids": ids(idsB, d.batch, d.ctx), "targets": ids(tgtB, d.batch, d.ctx)}, nil
}

// validation is a fixed set of windows spread evenly over the validation text.
func (d *lmData) validation() []map[string]runtime.JSONTensor {
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
		d.valSet = append(d.valSet, map[string]runtime.JSONTensor{"ids": ids(idsB, d.batch, d.ctx), "targets": ids(tgtB, d.batch, d.ctx)})
	}
	return d.valSet
}

func (d *lmData) state() string { return strconv.FormatUint(d.rng.State, 10) }

func (d *lmData) restore(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad data position %q", s)
	}
	d.rng.State = v
	return nil
}

// mlmData feeds BERT: windows of ctx tokens, a fifth of them cut short and
// padded (so the padding mask matters), masked with the 80/10/10 rule.
type mlmData struct {
	lm  lmData
	mlm runtime.MLM
}

func (d *mlmData) fixed() bool { return false }

func (d *mlmData) batchFrom(stream []int32, starts []int, r *runtime.RNG) (map[string]runtime.JSONTensor, error) {
	B, T := d.lm.batch, d.lm.ctx
	raw := make([]int32, B*T)
	for b, s := range starts {
		row := raw[b*T : (b+1)*T]
		copy(row, stream[s:s+T])
		if r.Uint64()%5 == 0 { // pad the tail of one sequence in five
			cut := 1 + int(r.Uint64()%uint64(T-1))
			for i := cut; i < T; i++ {
				row[i] = bertPad
			}
		}
	}
	masked, targets, selected, err := d.mlm.Apply(r, raw, T)
	if err != nil {
		return nil, err
	}
	return map[string]runtime.JSONTensor{"ids": ids(masked, B, T), "targets": ids(targets, B, T), "mlm_mask": mask(selected, B, T)}, nil
}

func (d *mlmData) next() (map[string]runtime.JSONTensor, error) {
	starts := make([]int, d.lm.batch)
	for b := range starts {
		starts[b] = int(d.lm.rng.Uint64() % uint64(len(d.lm.train)-d.lm.ctx))
	}
	return d.batchFrom(d.lm.train, starts, &d.lm.rng)
}

func (d *mlmData) validation() []map[string]runtime.JSONTensor {
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

func (d *mlmData) meta() map[string]string { return d.lm.meta() }
func (d *mlmData) state() string           { return d.lm.state() }
func (d *mlmData) restore(s string) error  { return d.lm.restore(s) }

// textDataset builds the data of a text model, or returns nil for others.
func textDataset(m *loaded, prog *graph.Program, st trainSettings, ckptDir string, resume bool, out func(string, ...any)) (dataset, error) {
	name := m.entry.Name
	if name != "gpt" && name != "bert" && name != "word2vec" {
		return nil, nil
	}
	c, err := loadCorpus(st.Data)
	if err != nil {
		return nil, err
	}
	out("corpus %s\n", c)
	vocab := configInt(m, "vocab")
	if name == "word2vec" {
		return newSkipGram(c, m, st, ckptDir, resume, out)
	}
	tok, err := tokenizerFor(ckptDir, resume, c, vocab)
	if err != nil {
		return nil, err
	}
	train, val := encode(tok, c.Train.Docs()), encode(tok, c.Val.Docs())
	ctx := configInt(m, "ctx")
	lm := lmData{train: train, val: val, batch: configInt(m, "batch"), ctx: ctx, rng: runtime.RNG{State: runtime.SeedFor(st.Seed, "data")}}
	if len(train) < 2*ctx+2 || len(val) < valBatches*lm.batch+ctx+1 {
		return nil, fmt.Errorf("%s: too little text for context %d (%d training and %d validation tokens)", c.Root, ctx, len(train), len(val))
	}
	lm.baseline = unigramBaseline(train, val, vocab)
	lm.tokenizer = tok.Fingerprint()
	out("tokens: %d training, %d validation (BPE, %d ids, %.2f bytes/token); unigram baseline %.4f nats/token\n",
		len(train), len(val), tok.VocabSize(), float64(c.Train.Bytes)/float64(len(train)), lm.baseline)
	if name == "bert" {
		return &mlmData{lm: lm, mlm: runtime.MLM{Vocab: vocab, Pad: bertPad, Mask: bertMask, Rate: 0.15}}, nil
	}
	return &lm, nil
}
