// Command dpstep times data-parallel train steps of the generated gpt:
// per step, Backward on this rank's batch, the mean of the gradients over
// the ranks (dist.Reducer), and Update. It is the step of docs/distributed.md
// without the training loop around it (no data set, no logging), on random
// tokens, to compare ways of using the cores:
//
//	go build -tags mpi -o /tmp/dpstep ./cmd/dpstep     # in bench/
//	GOMAXPROCS=2 /tmp/dpstep                           # 1 rank × 2 threads
//	mpirun --allow-run-as-root -np 2 -x GOMAXPROCS=1 --bind-to none /tmp/dpstep   # 2 ranks × 1 thread
//
// Without the mpi tag or outside mpirun it runs as one process.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/mlc-dev/mlc/dist"
	"github.com/mlc-dev/mlc/generated/gpt"
)

func main() {
	steps := flag.Int("steps", 20, "timed steps")
	warmup := flag.Int("warmup", 3, "untimed steps first")
	bucket := flag.Int("bucket", 4<<20, "all-reduce bucket size in bytes (0: one bucket)")
	flag.Parse()
	c, err := dist.Init(dist.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpstep:", err)
		os.Exit(1)
	}
	fail := func(err error) {
		if err != nil {
			c.Abort(1, err.Error())
		}
	}
	m := gpt.New()
	defer m.Close()
	var grads [][]float32
	for _, p := range m.Params() {
		fail(dist.Broadcast(c, p.Data))
	}
	for _, g := range m.Grads() {
		grads = append(grads, g.Data)
	}
	red, err := dist.NewReducer(c, grads, *bucket)
	fail(err)

	const batch, ctx, vocab = 8, 128, 512
	g := rand.New(rand.NewPCG(uint64(c.Rank()), 1))
	ids := make([]int32, batch*ctx)
	targets := make([]int32, batch*ctx)
	var compute, reduce time.Duration
	var loss float64
	for s := range *warmup + *steps {
		for i := range ids {
			ids[i] = int32(g.IntN(vocab))
			targets[i] = int32(g.IntN(vocab))
		}
		if s == *warmup {
			fail(c.Barrier())
			compute, reduce = 0, 0
		}
		t0 := time.Now()
		loss, err = m.Backward(ids, targets)
		fail(err)
		t1 := time.Now()
		fail(red.Mean())
		t2 := time.Now()
		fail(m.Update())
		compute += t1.Sub(t0) + time.Since(t2)
		reduce += t2.Sub(t1)
	}
	// Each rank's times; the job goes at the slowest rank's pace, and the
	// all-reduce time includes waiting for it.
	times := []float64{float64(compute), float64(reduce)}
	fail(dist.AllreduceMean(c, times))
	if c.Rank() == 0 {
		n := float64(*steps)
		step := time.Duration((times[0] + times[1]) / n)
		fmt.Printf("%d rank(s) × %d thread(s): %v per step (compute %v, gradient mean %v, %d buckets, %d staged); %.0f tokens/s; last loss %.3f\n",
			c.Size(), runtime.GOMAXPROCS(0), step.Round(10*time.Microsecond),
			time.Duration(times[0]/n).Round(10*time.Microsecond), time.Duration(times[1]/n).Round(10*time.Microsecond),
			red.Buckets(), red.Staged(), float64(c.Size()*batch*ctx)/step.Seconds(), loss)
	}
	fail(c.Finalize())
}
