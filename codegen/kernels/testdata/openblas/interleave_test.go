package kernels

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mlc-dev/mlc/obpeertmp/ob"
)

// TestInterleave alternates blocks of calls of mlc's Sgemm on the AVX-512
// kernels, on the AVX2 kernels, and OpenBLAS's sgemm on the same n×n×n NN
// product, so that all three see the same background load, and prints the
// median GFLOP/s of each and the median of the per-round ratios. Run with
// INTERLEAVE=1.
func TestInterleave(t *testing.T) {
	if os.Getenv("INTERLEAVE") == "" {
		t.Skip()
	}
	fmt.Println("openblas core:", ob.Core())
	saved := f32Kernels
	defer func() { f32Kernels = saved }()
	for _, n := range []int{256, 512, 1024} {
		for _, threads := range []int{1, 2} {
			a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
			fill32(a)
			fill32(b)
			p := NewPool(threads)
			calls := map[int]int{256: 20, 512: 6, 1024: 3}[n]
			block := func(f func()) float64 {
				f()
				ts := make([]time.Duration, calls)
				for i := range ts {
					t0 := time.Now()
					f()
					ts[i] = time.Since(t0)
				}
				slices.Sort(ts)
				return 2 * float64(n) * float64(n) * float64(n) / ts[len(ts)/2].Seconds() / 1e9
			}
			mlc := func() { Sgemm(p, false, false, n, n, n, a, n, b, n, c, n, false) }
			obl := func() { ob.Sgemm(threads, false, false, n, n, n, a, n, b, n, c, n) }
			var g512, g2, gob, r512, r2 []float64
			for range 21 {
				f32Kernels = avx512Kernels32()
				x := block(mlc)
				f32Kernels = asmKernels32()
				y := block(mlc)
				z := block(obl)
				g512, g2, gob = append(g512, x), append(g2, y), append(gob, z)
				r512, r2 = append(r512, x/z), append(r2, y/z)
			}
			f32Kernels = saved
			p.Close()
			med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
			fmt.Printf("| %d | %d | %.0f | %.0f | %.0f | %.2f [%.2f–%.2f] | %.2f |\n",
				n, threads, med(g512), med(g2), med(gob), med(r512), slices.Min(r512), slices.Max(r512), med(r2))
		}
	}
}
