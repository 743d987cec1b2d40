// Command kernwork times mlc's own GEMM kernels (package
// github.com/mlc-dev/mlc/codegen/kernels, the kernels copied into generated
// packages) on C = A·B for n×n float32 matrices, printing one JSON result
// per size (see internal/benchutil).
//
// It is a separate command from gowork because the kernels package is being
// written at the same time as this benchmark: when it does not compile, or
// its API changes, only this command fails to build, and the runner reports
// the sgemm/mlc rows as skipped with the compiler's message.
//
//	kernwork -threads 1 -n 128,256,512,1024
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/codegen/kernels"
)

func main() {
	threads := flag.Int("threads", 1, "threads of the kernels' Pool (GOMAXPROCS is set by the runner)")
	sizes := flag.String("n", "128,256,512,1024", "sizes")
	reps := flag.Int("reps", 5, "repetitions")
	flag.Parse()
	pool := kernels.NewPool(*threads)
	defer pool.Close()
	for f := range strings.SplitSeq(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			benchutil.Fatalf("kernwork: bad size %q", f)
		}
		r := rand.New(rand.NewPCG(5, 6))
		a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
		for i := range a {
			a[i], b[i] = r.Float32()-0.5, r.Float32()-0.5
		}
		flops := 2 * float64(n) * float64(n) * float64(n)
		inner := max(1, int(1e9/flops))
		times, allocs := benchutil.Measure(2, *reps, inner, nil, func() {
			kernels.Sgemm(pool, false, false, n, n, n, a, n, b, n, c, n, false)
		})
		for _, ij := range [][2]int{{0, 0}, {n - 1, n - 1}, {n / 2, n / 3}, {n / 7, n - 1}} {
			i, j := ij[0], ij[1]
			s := 0.0
			for p := range n {
				s += float64(a[i*n+p]) * float64(b[p*n+j])
			}
			if d := math.Abs(float64(c[i*n+j]) - s); d > 1e-3*math.Sqrt(float64(n)) {
				benchutil.Fatalf("kernwork: n=%d: C[%d,%d] = %g, want %g", n, i, j, c[i*n+j], s)
			}
		}
		benchutil.Emit(benchutil.Result{
			Workload: fmt.Sprintf("sgemm n=%d", n), Tool: "mlc", Threads: pool.Threads(), Unit: "call",
			Times: times, Allocs: benchutil.Ptr(allocs), Flops: flops,
			Note: "codegen/kernels.Sgemm with a Pool",
		})
	}
}
