package main

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/generated/mlp"
)

const (
	workloadMLP = "mlp step"
	mlpBatch    = 64
	mlpLR       = 0.1
	mlpInner    = 10 // steps per repetition
)

var mlpSizes = [4]int{784, 256, 256, 10}

// mlpBatchData is one batch of inputs in [0,1) and labels in [0,10), the
// same for every Go tool.
func mlpBatchData() ([]float32, []int32) {
	r := rand.New(rand.NewPCG(1, 2))
	X := make([]float32, mlpBatch*mlpSizes[0])
	for i := range X {
		X[i] = r.Float32()
	}
	labels := make([]int32, mlpBatch)
	for i := range labels {
		labels[i] = int32(r.IntN(mlpSizes[3]))
	}
	return X, labels
}

// mlpMLC times TrainStep of generated/mlp (784-256-256-10, batch 64, f32,
// ReLU, softmax cross-entropy, SGD lr 0.1, He initialisation).
func mlpMLC(reps int) {
	X, labels := mlpBatchData()
	m := mlp.New()
	var loss float64
	times, allocs := benchutil.Measure(3, reps, mlpInner, nil, func() {
		var err error
		if loss, err = m.TrainStep(X, labels); err != nil {
			benchutil.Fatalf("mlp-mlc: %v", err)
		}
	})
	benchutil.Emit(benchutil.Result{
		Workload: workloadMLP, Tool: "mlc", Threads: benchutil.Threads(), Unit: "step",
		Times: times, Allocs: benchutil.Ptr(allocs), FinalLoss: benchutil.Ptr(loss),
		Note: "generated/mlp (single-threaded code)",
	})
}

// gonumMLP is the same network written by hand over gonum's blas32 (the
// pure-Go implementation): fixed buffers, three GEMMs forward, five backward.
type gonumMLP struct {
	W, dW    [3]blas32.General
	b, db    [3][]float32
	Z, H, dZ [3]blas32.General // pre-activations, activations (H[2] = softmax), their gradients
	dH       [2]blas32.General
}

func general(r, c int) blas32.General {
	return blas32.General{Rows: r, Cols: c, Stride: c, Data: make([]float32, r*c)}
}

func newGonumMLP() *gonumMLP {
	r := rand.New(rand.NewPCG(3, 4))
	n := &gonumMLP{}
	for l := range 3 {
		in, out := mlpSizes[l], mlpSizes[l+1]
		n.W[l], n.dW[l] = general(in, out), general(in, out)
		std := math.Sqrt(2 / float64(in))
		for i := range n.W[l].Data {
			n.W[l].Data[i] = float32(r.NormFloat64() * std)
		}
		n.b[l], n.db[l] = make([]float32, out), make([]float32, out)
		n.Z[l], n.H[l], n.dZ[l] = general(mlpBatch, out), general(mlpBatch, out), general(mlpBatch, out)
		if l < 2 {
			n.dH[l] = general(mlpBatch, out)
		}
	}
	return n
}

// step runs forward, backward and SGD on one batch and returns the loss.
func (n *gonumMLP) step(Xd []float32, labels []int32) float64 {
	X := blas32.General{Rows: mlpBatch, Cols: mlpSizes[0], Stride: mlpSizes[0], Data: Xd}
	in := X
	for l := range 3 {
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, in, n.W[l], 0, n.Z[l])
		z, h, b := n.Z[l].Data, n.H[l].Data, n.b[l]
		cols := n.Z[l].Cols
		for i := range mlpBatch {
			for j := range cols {
				z[i*cols+j] += b[j]
				if l < 2 {
					h[i*cols+j] = max(z[i*cols+j], 0)
				}
			}
		}
		in = n.H[l]
	}
	// softmax cross-entropy, mean over the batch; dZ3 = (p - onehot)/batch
	loss := 0.0
	c := mlpSizes[3]
	z, dz := n.Z[2].Data, n.dZ[2].Data
	for i := range mlpBatch {
		row := z[i*c : i*c+c]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		s := float32(0)
		for j, v := range row {
			e := float32(math.Exp(float64(v - mx)))
			dz[i*c+j] = e
			s += e
		}
		loss -= float64(row[labels[i]]-mx) - math.Log(float64(s))
		for j := range c {
			dz[i*c+j] /= s
		}
		dz[i*c+int(labels[i])] -= 1
		for j := range c {
			dz[i*c+j] /= mlpBatch
		}
	}
	loss /= mlpBatch
	for l := 2; l >= 0; l-- {
		prev := X
		if l > 0 {
			prev = n.H[l-1]
		}
		blas32.Gemm(blas.Trans, blas.NoTrans, 1, prev, n.dZ[l], 0, n.dW[l])
		cols := n.dZ[l].Cols
		db, dzl := n.db[l], n.dZ[l].Data
		clear(db)
		for i := range mlpBatch {
			for j := range cols {
				db[j] += dzl[i*cols+j]
			}
		}
		if l > 0 {
			blas32.Gemm(blas.NoTrans, blas.Trans, 1, n.dZ[l], n.W[l], 0, n.dH[l-1])
			zp, dh, dzp := n.Z[l-1].Data, n.dH[l-1].Data, n.dZ[l-1].Data
			for i := range dh {
				if zp[i] > 0 {
					dzp[i] = dh[i]
				} else {
					dzp[i] = 0
				}
			}
		}
	}
	for l := range 3 {
		w, dw := n.W[l].Data, n.dW[l].Data
		for i := range w {
			w[i] -= mlpLR * dw[i]
		}
		for i := range n.b[l] {
			n.b[l][i] -= mlpLR * n.db[l][i]
		}
	}
	return loss
}

// mlpGonum times the hand-written gonum network.
func mlpGonum(reps int) {
	X, labels := mlpBatchData()
	n := newGonumMLP()
	var loss float64
	times, allocs := benchutil.Measure(3, reps, mlpInner, nil, func() { loss = n.step(X, labels) })
	benchutil.Emit(benchutil.Result{
		Workload: workloadMLP, Tool: "hand Go+gonum", Threads: benchutil.Threads(), Unit: "step",
		Times: times, Allocs: benchutil.Ptr(allocs), FinalLoss: benchutil.Ptr(loss),
		Note: "gonum blas32 (pure Go); the allocations are gonum's",
	})
}

// sgemmGonum times C = A·B for n×n float32 matrices with gonum's pure-Go
// blas32.
func sgemmGonum(n, reps int) {
	r := rand.New(rand.NewPCG(5, 6))
	A, B, C := general(n, n), general(n, n), general(n, n)
	for i := range A.Data {
		A.Data[i], B.Data[i] = r.Float32()-0.5, r.Float32()-0.5
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	inner := max(1, int(2e8/flops))
	times, allocs := benchutil.Measure(1, reps, inner, nil, func() {
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, A, B, 0, C)
	})
	if err := checkGemm(n, A.Data, B.Data, C.Data); err != "" {
		benchutil.Fatalf("sgemm-gonum: %s", err)
	}
	benchutil.Emit(benchutil.Result{
		Workload: SgemmWorkload(n), Tool: "gonum", Threads: benchutil.Threads(), Unit: "call",
		Times: times, Allocs: benchutil.Ptr(allocs), Flops: flops,
		Note: "gonum blas32.Gemm, pure Go",
	})
}

// SgemmWorkload names the sgemm workload of size n.
func SgemmWorkload(n int) string { return "sgemm n=" + itoa(n) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// checkGemm compares a few entries of C with a float64 dot product.
func checkGemm(n int, a, b, c []float32) string {
	for _, ij := range [][2]int{{0, 0}, {n - 1, n - 1}, {n / 2, n / 3}, {n / 7, n - 1}} {
		i, j := ij[0], ij[1]
		s := 0.0
		for p := range n {
			s += float64(a[i*n+p]) * float64(b[p*n+j])
		}
		if d := math.Abs(float64(c[i*n+j]) - s); d > 1e-3*math.Sqrt(float64(n)) {
			return "C[" + itoa(i) + "," + itoa(j) + "] is wrong"
		}
	}
	return ""
}
