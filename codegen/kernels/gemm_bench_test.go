package kernels

import (
	"fmt"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// The benchmarks report GFLOP/s (2·m·n·k per product). Names are
//
//	BenchmarkGemm/<dtype>/<form>/n=<n>/t=<threads>/<impl>
//	BenchmarkMLP/<dtype>/<shape>/t=<threads>/<impl>
//
// where impl is a kernel variant of this build (go, asm and, with
// GOEXPERIMENT=simd, simd) or gonum (blas32/blas64 with gonum's pure-Go
// implementation, run with GOMAXPROCS set to the thread count, since it
// starts goroutines of its own). A typical run:
//
//	GOEXPERIMENT=simd go test -run '^$' -bench . -benchtime 20x ./codegen/kernels

var benchSizes = []int{128, 256, 512, 1024}

type form struct {
	name           string
	transA, transB bool
}

var forms = []form{{"NN", false, false}, {"TN", true, false}, {"NT", false, true}}

func BenchmarkGemm(b *testing.B) {
	for _, dtype := range []string{"f32", "f64"} {
		for _, f := range forms {
			for _, n := range benchSizes {
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("%s/%s/n=%d/t=%d", dtype, f.name, n, threads)
					b.Run(name, func(b *testing.B) {
						benchShape(b, dtype, f.transA, f.transB, n, n, n, threads)
					})
				}
			}
		}
	}
}

// mlpShapes are the products of one SGD step of a 784-256-256-10 MLP on a
// batch of 64: the forward products, then the weight and input gradients,
// with the weights stored [in,out] as the DSL stores them; then the
// products that differ when they are stored [out,in] as PyTorch stores
// them (an imported model): the forward products are NT and the input
// gradients NN.
var mlpShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"fwd1_64x784x256", false, false, 64, 256, 784},
	{"fwd2_64x256x256", false, false, 64, 256, 256},
	{"fwd3_64x256x10", false, false, 64, 10, 256},
	{"dW3_TN_256x10x64", true, false, 256, 10, 64},
	{"dA2_NT_64x256x10", false, true, 64, 256, 10},
	{"dW2_TN_256x256x64", true, false, 256, 256, 64},
	{"dA1_NT_64x256x256", false, true, 64, 256, 256},
	{"dW1_TN_784x256x64", true, false, 784, 256, 64},
	{"fwd1_NT_64x256x784", false, true, 64, 256, 784},
	{"fwd2_NT_64x256x256", false, true, 64, 256, 256},
	{"fwd3_NT_64x10x256", false, true, 64, 10, 256},
	{"dA2_NN_64x256x10", false, false, 64, 256, 10},
	{"dA1_NN_64x256x256", false, false, 64, 256, 256},
}

func BenchmarkMLP(b *testing.B) {
	for _, dtype := range []string{"f32", "f64"} {
		for _, s := range mlpShapes {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/t=%d", dtype, s.name, threads), func(b *testing.B) {
					benchShape(b, dtype, s.transA, s.transB, s.m, s.n, s.k, threads)
				})
			}
		}
	}
}

// BenchmarkPaths compares plain loops, the direct (unpacked) kernels and the
// packed path on the shapes around UseBlocked's boundaries, f32 NN.
func BenchmarkPaths(b *testing.B) {
	for _, s := range [][3]int{
		{4, 4, 2}, {4, 1, 4}, {8, 8, 8}, {12, 12, 12}, {16, 16, 16}, {24, 24, 24}, {32, 32, 32},
		{1, 384, 128}, {1, 1536, 512}, {4, 384, 128}, {16, 384, 128}, {64, 10, 256},
	} {
		m, n, k := s[0], s[1], s[2]
		for _, path := range []string{"loops", "direct", "blocked"} {
			b.Run(fmt.Sprintf("f32/%dx%dx%d/%s", m, n, k, path), func(b *testing.B) {
				a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
				fill32(a)
				fill32(bb)
				p := NewPool(1)
				defer p.Close()
				job := newJob[float32](false, false, m, n, k, a, k, bb, n, c, n, false, true)
				run := func() {
					switch path {
					case "loops":
						gemmLoops(false, false, m, 0, n, k, a, k, bb, n, c, n, false)
					case "direct":
						gemmDirect(&f32Kernels, &job)
					default:
						GemmBlocked(p, false, false, m, n, k, a, k, bb, n, c, n, false)
					}
				}
				loop(b, m, n, k, run)
			})
		}
	}
}

// BenchmarkPathsNT compares, for products with B transposed (f32), plain
// loops (dot products), the dot kernels (direct), the packed path, and the
// same product with B not transposed (NN, on the path Gemm picks): the
// shapes of an MLP 784-256-256-10 on a batch of 64 whose weights are
// stored [out,in] (forward, and dX = dY·Wᵀ for weights stored [in,out]),
// of decoding (m = 1) and small and square ones.
func BenchmarkPathsNT(b *testing.B) {
	for _, s := range [][3]int{
		{4, 4, 1}, {4, 4, 2}, {8, 8, 8}, {12, 12, 12}, {16, 16, 16}, {24, 24, 24}, {32, 32, 32},
		{1, 256, 128}, {1, 1024, 128}, {4, 256, 128}, {64, 256, 10},
		{64, 256, 784}, {64, 256, 256}, {64, 10, 256}, {16, 256, 256},
		{128, 128, 128}, {128, 256, 256}, {256, 256, 256}, {512, 512, 512},
	} {
		m, n, k := s[0], s[1], s[2]
		for _, path := range []string{"loops", "direct", "blocked", "NN"} {
			if path == "loops" && m*n*k > 1<<22 {
				continue
			}
			b.Run(fmt.Sprintf("f32/%dx%dx%d/%s", m, n, k, path), func(b *testing.B) {
				ks := &f32Kernels
				if path == "direct" && !ks.directNT(false) {
					b.Skip("no dot kernels")
				}
				a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
				fill32(a)
				fill32(bb)
				p := NewPool(1)
				defer p.Close()
				job := newJob[float32](false, true, m, n, k, a, k, bb, k, c, n, false, true)
				loop(b, m, n, k, func() {
					switch path {
					case "loops":
						gemmLoops(false, true, m, 0, n, k, a, k, bb, k, c, n, false)
					case "direct":
						gemmDot(ks, &job)
					case "blocked":
						GemmBlocked(p, false, true, m, n, k, a, k, bb, k, c, n, false)
					default:
						Gemm(p, false, false, m, n, k, a, k, bb, n, c, n, false)
					}
				})
			})
		}
	}
}

// BenchmarkParallel compares 1 and 2 threads around UseParallel's boundary.
func BenchmarkParallel(b *testing.B) {
	for _, n := range []int{32, 48, 64, 80, 96, 112, 128, 192} {
		for _, threads := range []int{1, 2} {
			for _, direct := range []bool{true, false} {
				b.Run(fmt.Sprintf("f32/n=%d/direct=%v/t=%d", n, direct, threads), func(b *testing.B) {
					a, bb, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
					fill32(a)
					fill32(bb)
					p := NewPool(threads)
					defer p.Close()
					job := newJob[float32](false, false, n, n, n, a, n, bb, n, c, n, false, direct)
					loop(b, n, n, n, func() {
						// Bypass UseParallel: force the thread count.
						if threads == 1 {
							job.run(&f32Kernels, &p.workers[0].ws32)
							return
						}
						forceParallel(p, job)
					})
				})
			}
		}
	}
}

// forceParallel is gemmOnPool with UseParallel taken as true.
func forceParallel(p *Pool, job gemmJob[float32]) {
	saved := parallelOverride
	parallelOverride = true
	gemmOnPool(p, job)
	parallelOverride = saved
}

// peers are further implementations benchShape measures next to gonum. The
// repository adds none; a throwaway copy of this package outside the
// repository registers OpenBLAS through cgo here, so that its figures come
// from the same run (cgo must stay out of the generated code).
var peers []peer

type peer struct {
	name  string
	sgemm func(threads int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int)
	dgemm func(threads int, transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int)
}

func benchShape(b *testing.B, dtype string, transA, transB bool, m, n, k, threads int) {
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	saved32, saved64 := f32Kernels, f64Kernels
	defer func() { f32Kernels, f64Kernels = saved32, saved64 }()
	variants := kernelVariants()
	for _, v := range variants {
		if v.k32.name == "go" && m*n*k > 256*256*256 {
			continue // too slow to be interesting
		}
		b.Run(v.k32.name, func(b *testing.B) {
			f32Kernels, f64Kernels = v.k32, v.k64
			p := NewPool(threads)
			defer p.Close()
			if dtype == "f32" {
				a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
				fill32(a)
				fill32(bb)
				loop(b, m, n, k, func() { Sgemm(p, transA, transB, m, n, k, a, lda, bb, ldb, c, n, false) })
			} else {
				a, bb, c := make([]float64, m*k), make([]float64, k*n), make([]float64, m*n)
				fill64(a)
				fill64(bb)
				loop(b, m, n, k, func() { Dgemm(p, transA, transB, m, n, k, a, lda, bb, ldb, c, n, false) })
			}
		})
	}
	for _, pr := range peers {
		b.Run(pr.name, func(b *testing.B) {
			if dtype == "f32" {
				a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
				fill32(a)
				fill32(bb)
				loop(b, m, n, k, func() { pr.sgemm(threads, transA, transB, m, n, k, a, lda, bb, ldb, c, n) })
			} else {
				a, bb, c := make([]float64, m*k), make([]float64, k*n), make([]float64, m*n)
				fill64(a)
				fill64(bb)
				loop(b, m, n, k, func() { pr.dgemm(threads, transA, transB, m, n, k, a, lda, bb, ldb, c, n) })
			}
		})
	}
	b.Run("gonum", func(b *testing.B) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
		tA, tB := blas.NoTrans, blas.NoTrans
		if transA {
			tA = blas.Trans
		}
		if transB {
			tB = blas.Trans
		}
		ar, ac, br, bc := m, k, k, n
		if transA {
			ar, ac = k, m
		}
		if transB {
			br, bc = n, k
		}
		if dtype == "f32" {
			a := blas32.General{Rows: ar, Cols: ac, Stride: ac, Data: make([]float32, m*k)}
			bm := blas32.General{Rows: br, Cols: bc, Stride: bc, Data: make([]float32, k*n)}
			c := blas32.General{Rows: m, Cols: n, Stride: n, Data: make([]float32, m*n)}
			fill32(a.Data)
			fill32(bm.Data)
			loop(b, m, n, k, func() { blas32.Gemm(tA, tB, 1, a, bm, 0, c) })
		} else {
			a := blas64.General{Rows: ar, Cols: ac, Stride: ac, Data: make([]float64, m*k)}
			bm := blas64.General{Rows: br, Cols: bc, Stride: bc, Data: make([]float64, k*n)}
			c := blas64.General{Rows: m, Cols: n, Stride: n, Data: make([]float64, m*n)}
			fill64(a.Data)
			fill64(bm.Data)
			loop(b, m, n, k, func() { blas64.Gemm(tA, tB, 1, a, bm, 0, c) })
		}
	})
}

// loop runs f b.N times after one warm-up call and reports GFLOP/s.
func loop(b *testing.B, m, n, k int, f func()) {
	f()
	b.ResetTimer()
	for range b.N {
		f()
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func fill32(x []float32) {
	for i := range x {
		x[i] = float32(i%7) - 3
	}
}

func fill64(x []float64) {
	for i := range x {
		x[i] = float64(i%7) - 3
	}
}

// BenchmarkMLPWeights times the products of one training step of a
// 784-256-256-10 MLP on a batch of 64 whose weights differ from each other
// only in layout: stored [in,out] as the DSL stores them (forward NN,
// input gradients NT), or [out,in] as PyTorch stores them (forward NT,
// input gradients NN), on the path Gemm picks and, for comparison, with
// every NT product packed (the rule before the dot kernels). The weight
// gradients (TN) are the same for both and left out.
func BenchmarkMLPWeights(b *testing.B) {
	const batch = 64
	dims := []int{784, 256, 256, 10}
	for _, layout := range []string{"in,out", "out,in", "out,in/packedNT"} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("f32/%s/t=%d", layout, threads), func(b *testing.B) {
				p := NewPool(threads)
				defer p.Close()
				x := make([]float32, batch*784)
				fill32(x)
				var ws [3][]float32
				var flops float64
				for l := range 3 {
					ws[l] = make([]float32, dims[l]*dims[l+1])
					fill32(ws[l])
					flops += 2 * 2 * batch * float64(dims[l]*dims[l+1])
				}
				act := make([]float32, batch*784)
				out := make([]float32, batch*784)
				nt := func(m, n, k int, a []float32, lda int, w []float32, ldw int, c []float32) {
					if layout == "out,in/packedNT" {
						GemmBlocked(p, false, true, m, n, k, a, lda, w, ldw, c, n, false)
						return
					}
					Gemm(p, false, true, m, n, k, a, lda, w, ldw, c, n, false)
				}
				step := func() {
					for l := range 3 {
						in, o := dims[l], dims[l+1]
						if layout == "in,out" {
							Gemm(p, false, false, batch, o, in, x, in, ws[l], o, out, o, false)
						} else {
							nt(batch, o, in, x, in, ws[l], in, out)
						}
					}
					for l := 2; l >= 1; l-- { // dX of layers 3 and 2
						in, o := dims[l], dims[l+1]
						if layout == "in,out" {
							nt(batch, in, o, act, o, ws[l], o, out)
						} else {
							Gemm(p, false, false, batch, in, o, act, o, ws[l], in, out, in, false)
						}
					}
				}
				step()
				b.ResetTimer()
				for range b.N {
					step()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
