// Command bench measures dist's all-reduce on this machine: flat buffers of
// several sizes, and a gpt-shaped gradient (68 tensors, 3.5 MB) reduced per
// tensor and in buckets. Run it under mpirun, in a build with MPI:
//
//	go build -tags mpi -o /tmp/allreduce ./dist/internal/bench
//	mpirun --allow-run-as-root -np 2 /tmp/allreduce
//
// Rank 0 prints one line per measurement: the time per all-reduce (the best
// of a few trials of many calls), the algorithm bandwidth (buffer bytes per
// second) and the bus bandwidth, which multiplies it by 2(N−1)/N, the
// share of the buffer a ring all-reduce sends and receives per rank.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/dist"
)

func main() {
	budget := flag.Duration("t", 300*time.Millisecond, "time per trial")
	trials := flag.Int("trials", 3, "trials per measurement (the best counts)")
	flag.Parse()
	c, err := dist.Init(dist.Options{Require: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	b := &bench{c: c, budget: *budget, trials: *trials}
	if c.Rank() == 0 {
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("%d ranks; load average %s\n", c.Size(), strings.Join(strings.Fields(string(load))[:3], " "))
		fmt.Printf("%-52s %12s %12s %12s\n", "all-reduce (float32 sum)", "time", "alg GB/s", "bus GB/s")
	}
	for _, mb := range []float64{0.25, 1, 4, 16} {
		x := make([]float32, int(mb*(1<<20))/4)
		b.run(fmt.Sprintf("flat %g MB", mb), len(x)*4, func() error { return dist.AllreduceSum(c, x) })
	}

	// The default gpt's gradient: one array and 68 views clipped to their
	// lengths, as a generated Model's Grads are.
	shapes := gptShapes()
	total := 0
	for _, n := range shapes {
		total += n
	}
	flat := make([]float32, total)
	var views [][]float32
	at := 0
	for _, n := range shapes {
		views = append(views, flat[at:at+n:at+n])
		at += n
	}
	bytes := total * 4
	b.run(fmt.Sprintf("gpt gradient, %d tensors, one call each", len(views)), bytes, func() error {
		for _, v := range views {
			if err := dist.AllreduceSum(c, v); err != nil {
				return err
			}
		}
		return nil
	})
	for _, bucket := range []int{256 << 10, 1 << 20, 4 << 20} {
		for _, layout := range []string{"one array", "68 views"} {
			grads := [][]float32{flat}
			if layout == "68 views" {
				grads = views
			}
			r, err := dist.NewReducer(c, grads, bucket)
			if err != nil {
				c.Abort(1, err.Error())
			}
			b.run(fmt.Sprintf("gpt gradient, %s, %d KB buckets (%d, %d staged)", layout, bucket>>10, r.Buckets(), r.Staged()), bytes, r.Sum)
		}
	}
	for _, bucket := range []int{1 << 20, 0} {
		r, _ := dist.NewReducer(c, [][]float32{flat}, bucket)
		b.run(fmt.Sprintf("gpt gradient, one array, %d buckets, Mean", r.Buckets()), bytes, r.Mean)
	}
	if err := c.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	c      *dist.Comm
	budget time.Duration
	trials int
}

// run times f, which every rank calls the same number of times: rank 0
// picks the count from a calibration run and broadcasts it.
func (b *bench) run(name string, bytes int, f func() error) {
	must := func(err error) {
		if err != nil {
			b.c.Abort(1, err.Error())
		}
	}
	must(f()) // warm-up: connections, buffers
	t0 := time.Now()
	must(f())
	iters := []float64{float64(max(1, int(b.budget/max(time.Since(t0), time.Microsecond))))}
	must(dist.Broadcast(b.c, iters))
	best := time.Duration(1<<63 - 1)
	for range b.trials {
		must(b.c.Barrier())
		start := time.Now()
		for range int(iters[0]) {
			must(f())
		}
		// The slowest rank's time is the collective's.
		d := []float64{float64(time.Since(start))}
		must(dist.AllreduceSum(b.c, d))
		best = min(best, time.Duration(d[0]/float64(b.c.Size())/iters[0]))
	}
	if b.c.Rank() != 0 {
		return
	}
	alg := float64(bytes) / best.Seconds() / 1e9
	n := float64(b.c.Size())
	fmt.Printf("%-52s %12v %12.2f %12.2f\n", name, best.Round(time.Microsecond/10), alg, alg*2*(n-1)/n)
}

// gptShapes lists the element counts of the default gpt's parameters
// (vocab 512, ctx 128, d 128, 4 layers, ffn 512, tied embeddings), in the
// order of its Params.
func gptShapes() []int {
	const vocab, ctx, d, ffn, layers = 512, 128, 128, 512, 4
	s := []int{vocab * d, ctx * d}
	for range layers {
		s = append(s, d, d) // ln1
		for range 4 {
			s = append(s, d*d, d) // Wq bq, Wk bk, Wv bv, Wo bo
		}
		s = append(s, d, d, d*ffn, ffn, ffn*d, d) // ln2, mlp
	}
	return append(s, d, d) // lnf
}
