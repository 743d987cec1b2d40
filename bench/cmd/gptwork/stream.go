package main

import (
	"fmt"
	"runtime"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/bench/internal/stream"
)

// bandwidthLevels are the working sets of the read-bandwidth rows: one that
// fits in a core's L2, one in the L3, one only in DRAM.
var bandwidthLevels = []struct {
	name  string
	bytes int
}{
	{"read bandwidth 512 KiB (L2)", 512 << 10},
	{"read bandwidth 8 MiB (L3)", 8 << 20},
	{"read bandwidth 256 MiB (DRAM)", 256 << 20},
}

// readBandwidth times a vectorised sum over each working set, split across
// GOMAXPROCS threads: the bytes a memory-bound kernel can read per second,
// measured in the same run as decoding.
func readBandwidth(reps int) {
	threads := benchutil.Threads()
	kind := "AVX2 loads, 8 accumulators"
	if !stream.Vectorised() {
		kind = "scalar Go loop (no AVX2)"
	}
	for _, l := range bandwidthLevels {
		b := stream.New(l.bytes, threads)
		passes := max(1, (256<<20)/b.Bytes())
		// Each repetition: a collection, an untimed pass (the working set
		// back in its cache level), then the timed passes.
		var d []float64
		for range or(reps, 7) {
			runtime.GC()
			b.Read(1)
			d = append(d, b.Read(passes).Seconds())
		}
		benchutil.Emit(benchutil.Result{Workload: l.name, Tool: "read kernel", Threads: threads, Unit: "pass",
			Times: d, Bytes: float64(b.Bytes()),
			Note: fmt.Sprintf("sum of float32, %s, %d passes per repetition, each thread its 1/%d", kind, passes, threads)})
	}
}
