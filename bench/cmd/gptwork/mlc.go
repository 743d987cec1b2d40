//go:build mlcgpt

package main

// TODO(gpt): this file is the mlc side of the GPT rows. It is compiled only
// with -tags mlcgpt, which the runner adds when ../internal/gpt (the
// benchmark's config compiled by mlc, see bench/generate.go) exists. The
// train step uses the API every generated package has (New,
// TrainStep(ids, targets), Params); decoding waits for the generated
// package's KV-cache entry points (Prefill, DecodeStep). If this file does
// not build, the runner prints the compiler's message and reports the rows
// as skipped.

import (
	"fmt"
	"math/rand/v2"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	gpt "github.com/mlc-dev/mlc/bench/internal/gpt"
)

func params(m *gpt.Model) int {
	n := 0
	for _, p := range m.Params() {
		n += len(p.Data)
	}
	return n
}

func train(reps int) {
	if reps <= 0 {
		reps = 10
	}
	m := gpt.New()
	if got, want := params(m), paramCount(ctx); got != want {
		benchutil.Emit(benchutil.Result{Workload: "gpt train step", Tool: "mlc", Threads: benchutil.Threads(),
			Skipped: fmt.Sprintf("bench/internal/gpt has %d parameters, the benchmark's GPT %d: recompile it with the benchmark's config", got, want)})
		return
	}
	r := rand.New(rand.NewPCG(7, 8))
	ids := make([]int32, batch*ctx)
	targets := make([]int32, batch*ctx)
	for i := range ids {
		ids[i], targets[i] = int32(r.IntN(vocab)), int32(r.IntN(vocab))
	}
	var loss float64
	times, allocs := benchutil.Measure(3, reps, 1, nil, func() {
		var err error
		if loss, err = m.TrainStep(ids, targets); err != nil {
			benchutil.Fatalf("gptwork: %v", err)
		}
	})
	benchutil.Emit(benchutil.Result{
		Workload: "gpt train step", Tool: "mlc", Threads: benchutil.Threads(), Unit: "step",
		Times: times, Allocs: benchutil.Ptr(allocs), FinalLoss: benchutil.Ptr(loss),
		Note: "bench/internal/gpt (TODO(gpt): check that its optimizer is AdamW)",
	})
}

// decode is the decode hook. TODO(gpt): when the generated package has its
// KV-cache entry points, time, as bench/python/peers.py does:
//
//   - "gpt decode 256 tok, cache": reset the cache, then 256 greedy steps
//     from token 0 at positions 0..255 (DecodeStep, argmax of the logits);
//   - "gpt decode 256 tok, recompute": the same 256 tokens with Predict on
//     the whole prefix at every step (needs a model with batch 1);
//   - "gpt token @ctx C, cache|recompute" for C = 64, 256, 1024: one step
//     with C-1 tokens in the cache, and one Predict over C tokens.
func decode(int) {
	for _, w := range decodeWorkloads() {
		benchutil.Emit(benchutil.Result{Workload: w, Tool: "mlc", Threads: benchutil.Threads(),
			Skipped: "TODO(gpt): the generated gpt has no KV-cache decoding entry points yet (bench/cmd/gptwork/mlc.go)"})
	}
}
