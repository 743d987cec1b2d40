//go:build linux

package kernels

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"unsafe"
)

// threadCPU is the calling thread's CPU time in ns (CLOCK_THREAD_CPUTIME_ID),
// which other jobs on a loaded machine inflate far less than wall time.
func threadCPU() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// TestTrainShapeTimes (run with MLC_SHAPE_TIMES=1 -v) prints GFLOP/s in
// thread CPU time of the products of the benchmark's gpt train step (1024
// rows: d 128, ffn 512, vocab 65) and of attention's per-head products on
// the packed path (GemmBlocked) and on the path Gemm picks, rounds
// alternating the two, medians of the rounds' best of 15 × 2 calls. The
// figures in docs/kernels.md ("The train step's products") come from it.
func TestTrainShapeTimes(t *testing.T) {
	if os.Getenv("MLC_SHAPE_TIMES") == "" {
		t.Skip("set MLC_SHAPE_TIMES=1 to time the train step's shapes")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	type shape struct {
		tA, tB  bool
		m, n, k int
	}
	shapes := []shape{
		{true, false, 128, 128, 1024}, {true, false, 512, 128, 1024}, {true, false, 128, 512, 1024}, {true, false, 65, 128, 1024},
		{false, true, 1024, 128, 128}, {false, true, 1024, 128, 512}, {false, true, 1024, 512, 128}, {false, true, 1024, 65, 128},
		{false, true, 64, 64, 32}, {false, true, 64, 256, 10},
		{false, false, 1024, 128, 128}, {false, false, 1024, 512, 128}, {false, false, 1024, 128, 512},
	}
	res := map[string][]float64{}
	p := NewPool(1)
	defer p.Close()
	for range 7 {
		for _, s := range shapes {
			m, n, k := s.m, s.n, s.k
			lda, ldb := k, n
			if s.tA {
				lda = m
			}
			if s.tB {
				ldb = k
			}
			a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
			fill32(a)
			fill32(bb)
			for _, path := range []string{"packed", "chosen"} {
				f := func() {
					if path == "packed" {
						GemmBlocked(p, s.tA, s.tB, m, n, k, a, lda, bb, ldb, c, n, false)
					} else {
						Gemm(p, s.tA, s.tB, m, n, k, a, lda, bb, ldb, c, n, false)
					}
				}
				f()
				best := int64(1 << 62)
				for range 15 {
					t0 := threadCPU()
					f()
					f()
					best = min(best, (threadCPU()-t0)/2)
				}
				name := fmt.Sprintf("%v%v/%dx%dx%d/%s", s.tA, s.tB, m, n, k, path)
				res[name] = append(res[name], 2*float64(m*n*k)/float64(best))
			}
		}
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := res[k]
		slices.Sort(v)
		t.Logf("%-36s %s median %.0f GFLOP/s (min %.0f max %.0f)", k, f32Kernels.name, v[len(v)/2], v[0], v[len(v)-1])
	}
}
