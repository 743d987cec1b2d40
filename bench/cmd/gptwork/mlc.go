package main

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/bench/internal/gen/gptctx1024"
	"github.com/mlc-dev/mlc/bench/internal/gen/gptctx256"
	"github.com/mlc-dev/mlc/bench/internal/gen/gptctx64"
	"github.com/mlc-dev/mlc/bench/internal/gen/gpttrain"
)

// train times TrainStep of internal/gpttrain: forward, backward and the
// AdamW update of one batch of 16 sequences of 64 tokens.
func train(reps int) {
	if reps <= 0 {
		reps = 10
	}
	m := gpttrain.New()
	defer m.Close()
	n := 0
	for _, p := range m.Params() {
		n += len(p.Data)
	}
	if want := paramCount(ctx); n != want {
		benchutil.Emit(benchutil.Result{Workload: "gpt train step", Tool: "mlc", Threads: benchutil.Threads(),
			Skipped: fmt.Sprintf("bench/internal/gen/gpttrain has %d parameters, the benchmark's GPT %d: check internal/genpkgs", n, want)})
		return
	}
	ids, targets := trainBatch()
	var loss float64
	times, allocs := benchutil.Measure(3, reps, 1, nil, func() {
		var err error
		if loss, err = m.TrainStep(ids, targets); err != nil {
			benchutil.Fatalf("gptwork: TrainStep: %v", err)
		}
	})
	benchutil.Emit(benchutil.Result{
		Workload: "gpt train step", Tool: "mlc", Threads: benchutil.Threads(), Unit: "step",
		Times: times, Allocs: benchutil.Ptr(allocs), FinalLoss: benchutil.Ptr(loss),
		Note: fmt.Sprintf("bench/internal/gen/gpttrain, f32, AdamW lr %g wd %g, %d params", trainLR, trainWD, n),
	})
}

// lm is the decoding API the three gptctx packages share.
type lm interface {
	Param(name string) []float32
	Predict(ids []int32) ([]float32, error)
	Prefill(ids []int32) ([]float32, error)
	DecodeStep(ids []int32) ([]float32, error)
	Reset()
	Pos() int
	Close()
}

// argmax is the first index of the largest value, as torch.argmax.
func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

func fatalIf(err error, what string) {
	if err != nil {
		benchutil.Fatalf("gptwork: %s: %v", what, err)
	}
}

// decode times greedy decoding on the batch-1 packages, as
// bench/python/peers.py does:
//
//   - "gpt decode 256 tok, cache": from token 0, 256 DecodeSteps at
//     positions 0..255 of gptctx1024, each fed the argmax of the last;
//   - "gpt decode 256 tok, recompute": the same tokens, each from Predict
//     over the whole prefix on gptctx256 (its window of 256 positions,
//     padded after the prefix: with static shapes every step computes all
//     256 positions, where PyTorch computes the prefix only);
//   - "gpt token @ctx C, cache": one DecodeStep at position C−1 of the
//     package whose window is C, after a Prefill of C−1 random tokens
//     (outside the timing: a step advances Pos, and position C−1 is the
//     window's last, so every repetition prefills again and times one step);
//   - "gpt token @ctx C, recompute": Predict over C tokens and the argmax of
//     the last position's logits.
//
// The three packages hold one model: gptctx1024's weights are copied into
// the others (wpe: its first rows).
func decode(reps int) {
	big := gptctx1024.New()
	models := map[int]lm{64: gptctx64.New(), 256: gptctx256.New(), 1024: big}
	for _, m := range models {
		defer m.Close()
	}
	names := []string{}
	n := 0
	for _, p := range big.Params() {
		names = append(names, p.Name)
		n += len(p.Data)
	}
	threads := benchutil.Threads()
	if want := paramCount(1024); n != want {
		for _, w := range decodeWorkloads() {
			benchutil.Emit(benchutil.Result{Workload: w, Tool: "mlc", Threads: threads,
				Skipped: fmt.Sprintf("bench/internal/gen/gptctx1024 has %d parameters, the benchmark's GPT with 1024 positions %d: check internal/genpkgs", n, want)})
		}
		return
	}
	for c, m := range models {
		for _, name := range names {
			src, dst := big.Param(name), m.Param(name)
			if len(dst) != len(src) && !(name == "wpe" && len(dst) == c*d) {
				benchutil.Fatalf("gptwork: gptctx%d: parameter %s has %d values, gptctx1024's %d", c, name, len(dst), len(src))
			}
			copy(dst, src)
		}
	}
	note := fmt.Sprintf("f32, batch 1, greedy, positions 1024, %d params", n)

	// 256 tokens with the cache.
	cacheToks := make([]int32, decodeN)
	step := make([]int32, 1)
	withCache := func() {
		tok := int32(0)
		for i := range decodeN {
			step[0] = tok
			logits, err := big.DecodeStep(step)
			fatalIf(err, "DecodeStep")
			tok = argmax(logits)
			cacheToks[i] = tok
		}
	}
	// 256 tokens without it.
	m256 := models[256]
	window := make([]int32, 256)
	recompToks := make([]int32, decodeN)
	recompute := func() {
		clear(window) // window[0] = 0, the start token; padding after the prefix
		for i := range decodeN {
			logits, err := m256.Predict(window)
			fatalIf(err, "Predict")
			tok := argmax(logits[i*vocab : (i+1)*vocab])
			recompToks[i] = tok
			if i+1 < len(window) {
				window[i+1] = tok
			}
		}
	}
	big.Reset()
	withCache()
	recompute()
	chk := ""
	if !slices.Equal(cacheToks, recompToks) {
		chk = "; WARNING: cache and recompute tokens differ"
	}
	t, a := benchutil.Measure(1, or(reps, 5), 1, big.Reset, withCache)
	benchutil.Emit(benchutil.Result{Workload: "gpt decode 256 tok, cache", Tool: "mlc", Threads: threads, Unit: "256 tokens",
		Times: t, Allocs: benchutil.Ptr(a), Tokens: decodeN, Note: note + ", DecodeStep on gptctx1024" + chk})
	t, a = benchutil.Measure(1, or(reps, 2), 1, nil, recompute) // 2 per round: about 4 s each
	benchutil.Emit(benchutil.Result{Workload: "gpt decode 256 tok, recompute", Tool: "mlc", Threads: threads, Unit: "256 tokens",
		Times: t, Allocs: benchutil.Ptr(a), Tokens: decodeN, Note: note + ", Predict over gptctx256's window of 256 every step" + chk})

	// One token at contexts 64, 256 and 1024.
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range latencyContexts {
		m := models[c]
		prefix := make([]int32, c)
		for i := range prefix {
			prefix[i] = int32(r.IntN(vocab))
		}
		last := prefix[c-1:]
		// The cache holds C−1 tokens before the timed step: a Prefill of
		// C−2, then an untimed DecodeStep of token C−2 (the same work as
		// the timed one, one position earlier), so that the timed call
		// follows a call of its own kind, not the garbage collection that
		// starts each repetition.
		fill := func() {
			_, err := m.Prefill(prefix[:c-2])
			fatalIf(err, "Prefill")
			_, err = m.DecodeStep(prefix[c-2 : c-1])
			fatalIf(err, "DecodeStep")
			if m.Pos() != c-1 {
				benchutil.Fatalf("gptwork: Pos %d after a Prefill of %d tokens and one DecodeStep", m.Pos(), c-2)
			}
		}
		t, a := benchutil.Measure(3, or(reps, 25), 1, fill, func() {
			logits, err := m.DecodeStep(last)
			fatalIf(err, "DecodeStep")
			argmax(logits)
		})
		benchutil.Emit(benchutil.Result{Workload: fmt.Sprintf("gpt token @ctx %d, cache", c), Tool: "mlc", Threads: threads, Unit: "token",
			Times: t, Allocs: benchutil.Ptr(a), Tokens: 1, Bytes: float64(decodeBytes(c)),
			Note: fmt.Sprintf("one DecodeStep with %d tokens cached (gptctx%d)", c-1, c)})
		t, a = benchutil.Measure(1, or(reps, 5), max(1, 256/c), nil, func() {
			logits, err := m.Predict(prefix)
			fatalIf(err, "Predict")
			argmax(logits[(c-1)*vocab : c*vocab])
		})
		benchutil.Emit(benchutil.Result{Workload: fmt.Sprintf("gpt token @ctx %d, recompute", c), Tool: "mlc", Threads: threads, Unit: "token",
			Times: t, Allocs: benchutil.Ptr(a), Tokens: 1, Note: fmt.Sprintf("Predict over %d tokens (gptctx%d)", c, c)})
	}
}

// or is v, or def when v is 0.
func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// decodeBytes is what one DecodeStep at position c−1 must read from memory
// at the least: every weight once (wte twice over in the tied model, as the
// embedding of one token and the output projection, but it is read whole
// only once; one row of wpe), and the keys and values of c positions of
// every layer, all float32.
func decodeBytes(c int) int {
	weights := paramCount(1024) - 1024*d + d // wpe: one row
	cache := 2 * layers * c * d
	return 4 * (weights + cache)
}
