package main

import (
	"math"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/bench/internal/gen/xorlr05"
)

const workloadXOR = "xor 10k epochs"

// xorMLC trains mlc's compiled XOR network (lr 0.5) for the text's 10,000
// epochs from the text's weights: one TrainStep per epoch.
func xorMLC(x *benchutil.XOR, reps int) {
	var m *xorlr05.Model
	setup := func() {
		m = xorlr05.New()
		for _, p := range m.Params() {
			var want []float64
			switch p.Name {
			case "W1":
				want = x.W1
			case "b1":
				want = x.B1
			case "W2":
				want = x.W2
			case "b2":
				want = x.B2
			default:
				benchutil.Fatalf("xor-mlc: unexpected parameter %s", p.Name)
			}
			if len(p.Data) != len(want) {
				benchutil.Fatalf("xor-mlc: %s has %d values, the golden file %d", p.Name, len(p.Data), len(want))
			}
			copy(p.Data, want)
		}
	}
	run := func() {
		for range x.Epochs {
			if _, err := m.TrainStep(x.X, x.Y); err != nil {
				benchutil.Fatalf("xor-mlc: %v", err)
			}
		}
	}
	times, allocs := benchutil.Measure(1, reps, 1, setup, run)
	yhat, err := m.Predict(x.X)
	if err != nil {
		benchutil.Fatalf("xor-mlc: %v", err)
	}
	benchutil.Emit(benchutil.Result{
		Workload: workloadXOR, Tool: "mlc", Threads: benchutil.Threads(), Unit: "run",
		Times: times, Allocs: benchutil.Ptr(allocs / float64(x.Epochs)),
		FinalLoss: benchutil.Ptr(benchutil.TextLoss(yhat, x.Y)),
		Note:      "bench/internal/gen/xorlr05 (mlc compile -model xor -lr 0.5); allocs per epoch",
	})
}

// xorNet is the text's 2-4-1 network in fixed arrays.
type xorNet struct {
	W1 [2][4]float64
	b1 [4]float64
	W2 [4]float64
	b2 float64
}

// xorTrain is the reference text's NumPy program written as plain loops over
// fixed arrays: the speed of light for these shapes. It computes the loss
// every epoch, as the text's program does, and returns the loss of one more
// forward pass after the last update.
func xorTrain(n *xorNet, X *[4][2]float64, Y *[4]float64, lr float64, epochs int) float64 {
	var z1, a1 [4][4]float64
	var a2, dz2 [4]float64
	loss := 0.0
	forward := func() {
		for i := range 4 {
			for j := range 4 {
				z := X[i][0]*n.W1[0][j] + X[i][1]*n.W1[1][j] + n.b1[j]
				z1[i][j] = z
				a1[i][j] = max(z, 0)
			}
			z2 := a1[i][0]*n.W2[0] + a1[i][1]*n.W2[1] + a1[i][2]*n.W2[2] + a1[i][3]*n.W2[3] + n.b2
			a2[i] = 1 / (1 + math.Exp(-z2))
		}
		s := 0.0
		for i := range 4 {
			s += Y[i]*math.Log(a2[i]+1e-8) + (1-Y[i])*math.Log(1-a2[i]+1e-8)
		}
		loss = -s / 4
	}
	for range epochs {
		forward()
		// dz2 = a2 - y; dW2 = a1ᵀ·dz2/4; db2 = mean(dz2)
		var dW2 [4]float64
		db2 := 0.0
		for i := range 4 {
			dz2[i] = a2[i] - Y[i]
			db2 += dz2[i]
			for j := range 4 {
				dW2[j] += a1[i][j] * dz2[i]
			}
		}
		// da1 = dz2·W2ᵀ; dz1 = da1·(z1 > 0); dW1 = Xᵀ·dz1/4; db1 = mean(dz1)
		var dW1 [2][4]float64
		var db1 [4]float64
		for i := range 4 {
			for j := range 4 {
				dz1 := 0.0
				if z1[i][j] > 0 {
					dz1 = dz2[i] * n.W2[j]
				}
				db1[j] += dz1
				dW1[0][j] += X[i][0] * dz1
				dW1[1][j] += X[i][1] * dz1
			}
		}
		for j := range 4 {
			n.W2[j] -= lr * (dW2[j] / 4)
		}
		n.b2 -= lr * (db2 / 4)
		for k := range 2 {
			for j := range 4 {
				n.W1[k][j] -= lr * (dW1[k][j] / 4)
			}
		}
		for j := range 4 {
			n.b1[j] -= lr * (db1[j] / 4)
		}
	}
	forward()
	return loss
}

// xorHand times xorTrain from the text's weights.
func xorHand(x *benchutil.XOR, reps int) {
	var X [4][2]float64
	var Y [4]float64
	for i := range 4 {
		X[i] = [2]float64{x.X[2*i], x.X[2*i+1]}
		Y[i] = x.Y[i]
	}
	var n xorNet
	setup := func() {
		for k := range 2 {
			copy(n.W1[k][:], x.W1[4*k:4*k+4])
		}
		copy(n.b1[:], x.B1)
		copy(n.W2[:], x.W2)
		n.b2 = x.B2[0]
	}
	var loss float64
	times, allocs := benchutil.Measure(1, reps, 1, setup, func() {
		loss = xorTrain(&n, &X, &Y, x.LR, x.Epochs)
	})
	benchutil.Emit(benchutil.Result{
		Workload: workloadXOR, Tool: "hand Go", Threads: benchutil.Threads(), Unit: "run",
		Times: times, Allocs: benchutil.Ptr(allocs / float64(x.Epochs)),
		FinalLoss: benchutil.Ptr(loss),
		Note:      "plain loops over fixed arrays; allocs per epoch",
	})
}
