package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/bench/internal/gen/gptctx1024"
	"github.com/mlc-dev/mlc/bench/internal/gen/gpttrain"
)

// checkPrompt and checkTokens are the prompt's length and how many tokens
// the equivalence check decodes greedily after it.
const checkPrompt, checkTokens = 16, 32

// tensorFile is one named float32 tensor in a dump: its shape and where its
// values start in the .bin file (in floats).
type tensorFile struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int    `json:"offset"`
}

// dumpDoc is dump.json: what python/peers.py gpt-check reads to check that
// PyTorch's GPT with mlc's weights computes what mlc computes.
type dumpDoc struct {
	Config string `json:"config"`
	// The train model (gpttrain, seed 0): its initial parameters
	// (train_params0.bin), the batch, the logits of Predict on the ids
	// (train_logits.bin), the loss of the first TrainStep, and the
	// parameters after it (train_params1.bin).
	TrainParams []tensorFile `json:"train_params"`
	IDs         []int32      `json:"ids"`
	Targets     []int32      `json:"targets"`
	Batch       int          `json:"batch"`
	Ctx         int          `json:"ctx"`
	FirstLoss   float64      `json:"first_loss"`
	// The decode model (gptctx1024, seed 0): its parameters
	// (decode_params.bin), and greedy decoding with the cache after Prompt
	// (Prefill, then DecodeStep): the tokens, and the logits each token was
	// chosen from (decode_logits.bin, [checkTokens, vocab]).
	DecodeParams []tensorFile `json:"decode_params"`
	Positions    int          `json:"positions"`
	Prompt       []int32      `json:"prompt"`
	CheckScale   float32      `json:"check_scale"`
	Greedy       []int32      `json:"greedy"`
	// GreedyGap is, for each greedy token, its logit minus the runner-up's:
	// a tie within float error would let the tools pick differently.
	GreedyGap []float32 `json:"greedy_gap"`
}

// dump writes dir/dump.json and its .bin files (little-endian float32).
func dump(dir string) {
	fail := func(err error) {
		if err != nil {
			benchutil.Fatalf("gptwork: dump: %v", err)
		}
	}
	fail(os.MkdirAll(dir, 0o755))
	writeBin := func(name string, ts []tensorFile, data func(i int) []float32) {
		f, err := os.Create(filepath.Join(dir, name))
		fail(err)
		defer f.Close()
		for i := range ts {
			fail(binary.Write(f, binary.LittleEndian, data(i)))
		}
	}
	layout := func(names []string, shape func(string) []int) []tensorFile {
		var ts []tensorFile
		off := 0
		for _, n := range names {
			s := shape(n)
			ts = append(ts, tensorFile{Name: n, Shape: s, Offset: off})
			size := 1
			for _, d := range s {
				size *= d
			}
			off += size
		}
		return ts
	}
	doc := dumpDoc{Config: trainConfig, Batch: batch, Ctx: ctx, Positions: 1024}

	tm := gpttrain.New()
	defer tm.Close()
	doc.TrainParams = layout(tm.ParamNames(), tm.VarShape)
	writeBin("train_params0.bin", doc.TrainParams, func(i int) []float32 { return tm.Param(doc.TrainParams[i].Name) })
	doc.IDs, doc.Targets = trainBatch()
	logits, err := tm.Predict(doc.IDs)
	fail(err)
	fail(os.WriteFile(filepath.Join(dir, "train_logits.bin"), f32bytes(logits), 0o644))
	doc.FirstLoss, err = tm.TrainStep(doc.IDs, doc.Targets)
	fail(err)
	writeBin("train_params1.bin", doc.TrainParams, func(i int) []float32 { return tm.Param(doc.TrainParams[i].Name) })

	dm := gptctx1024.New()
	defer dm.Close()
	doc.DecodeParams = layout(dm.ParamNames(), dm.VarShape)
	writeBin("decode_params.bin", doc.DecodeParams, func(i int) []float32 { return dm.Param(doc.DecodeParams[i].Name) })
	// Greedy decoding with the cache after a prompt of random tokens (from
	// token 0 alone, an untrained tied-embedding model repeats token 0).
	r := rand.New(rand.NewPCG(3, 4))
	for range checkPrompt {
		doc.Prompt = append(doc.Prompt, int32(r.IntN(vocab)))
	}
	// Untrained, the model repeats the prompt's last token whatever its
	// weights compute; with every matrix scaled by CheckScale (a power of 2,
	// so exact in float32; peers.py scales them alike) the tokens vary.
	doc.CheckScale = 8
	for _, t := range doc.DecodeParams {
		if len(t.Shape) == 2 {
			for i, v := range dm.Param(t.Name) {
				dm.Param(t.Name)[i] = v * doc.CheckScale
			}
		}
	}
	dm.Reset()
	lg, err := dm.Prefill(doc.Prompt)
	fail(err)
	lg = lg[(checkPrompt-1)*vocab : checkPrompt*vocab]
	var steps []float32
	tok := []int32{0}
	for i := range checkTokens {
		if i > 0 {
			lg, err = dm.DecodeStep(tok)
			fail(err)
		}
		steps = append(steps, lg...)
		best := argmax(lg)
		second := float32(math.Inf(-1))
		for i, v := range lg {
			if int32(i) != best && v > second {
				second = v
			}
		}
		doc.Greedy = append(doc.Greedy, best)
		doc.GreedyGap = append(doc.GreedyGap, lg[best]-second)
		tok[0] = best
	}
	fail(os.WriteFile(filepath.Join(dir, "decode_logits.bin"), f32bytes(steps), 0o644))
	b, err := json.MarshalIndent(doc, "", " ")
	fail(err)
	fail(os.WriteFile(filepath.Join(dir, "dump.json"), b, 0o644))
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
