package main

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/bench/internal/gen/xorlr05"
)

// TestXORMatchesText checks that the hand-written program and mlc's
// compiled network both reproduce the text's NumPy final loss.
func TestXORMatchesText(t *testing.T) {
	x, err := benchutil.ReadXOR("../../../internal/golden/testdata/xor_seed.json")
	if err != nil {
		t.Fatal(err)
	}
	var X [4][2]float64
	var Y [4]float64
	for i := range 4 {
		X[i] = [2]float64{x.X[2*i], x.X[2*i+1]}
		Y[i] = x.Y[i]
	}
	n := xorNet{b2: x.B2[0]}
	copy(n.W1[0][:], x.W1[:4])
	copy(n.W1[1][:], x.W1[4:])
	copy(n.b1[:], x.B1)
	copy(n.W2[:], x.W2)
	if got := xorTrain(&n, &X, &Y, x.LR, x.Epochs); math.Abs(got-x.FinalLoss) > 1e-12 {
		t.Errorf("hand-written: final loss %.17g, the text's %.17g", got, x.FinalLoss)
	}

	m := xorlr05.New()
	for range x.Epochs {
		if _, err := m.TrainStep(x.X, x.Y); err != nil {
			t.Fatal(err)
		}
	}
	yhat, err := m.Predict(x.X)
	if err != nil {
		t.Fatal(err)
	}
	if got := benchutil.TextLoss(yhat, x.Y); math.Abs(got-x.FinalLoss) > 1e-12 {
		t.Errorf("mlc: final loss %.17g, the text's %.17g", got, x.FinalLoss)
	}
	a2 := benchutil.XORPredict(x, m.Param("W1"), m.Param("b1"), m.Param("W2"), m.Param("b2"))
	if got := benchutil.TextLoss(a2, x.Y); math.Abs(got-x.FinalLoss) > 1e-12 {
		t.Errorf("XORPredict on mlc's weights: final loss %.17g, the text's %.17g", got, x.FinalLoss)
	}
}
