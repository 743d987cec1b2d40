package sae_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models/sae"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// small is a config small enough for finite differences.
var small = sae.Config{D: 4, Features: 6, Lambda: 0.3, Batch: 5}

// setup builds the f64 training graph with its backward part and an
// interpreter whose parameters and input are random (seeded). The decoder
// rows get lengths between 0.5 and 2, so the normalisation is not the
// identity and its gradient matters.
func setup(t *testing.T, c sae.Config, seed uint64) (*graph.Graph, *runtime.Interpreter, map[string]*runtime.Tensor) {
	t.Helper()
	g, err := dsl.Build("sae", "models/sae/sae.go", dsl.Options{Float: graph.F64, Train: true}, func(b *dsl.Builder) { sae.Build(b, c) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
		t.Fatal(err)
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	for _, p := range g.Params() {
		v := it.Var(p.Name)
		for i := range v.F64 {
			v.F64[i] = r.NormFloat64() * 0.7
		}
	}
	dec := it.Var("W_dec").F64
	for i := range c.Features {
		row := dec[i*c.D : (i+1)*c.D]
		n := math.Sqrt(dot(row, row))
		s := (0.5 + 1.5*r.Float64()) / n
		for j := range row {
			row[j] *= s
		}
	}
	x := runtime.NewTensor(graph.T(graph.F64, c.Batch, c.D))
	for i := range x.F64 {
		x.F64[i] = r.NormFloat64()
	}
	return g, it, map[string]*runtime.Tensor{"x": x}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// reference computes the codes, the reconstruction and the loss terms of
// the package doc directly, in plain Go.
func reference(c sae.Config, Wenc, benc, Wdec, bdec, x []float64) (h, xhat []float64, mse, l1 float64) {
	d, m, B := c.D, c.Features, c.Batch
	dict := make([]float64, m*d)
	for i := range m {
		row := Wdec[i*d : (i+1)*d]
		n := math.Sqrt(dot(row, row) + 1e-12)
		for j := range d {
			dict[i*d+j] = row[j] / n
		}
	}
	h, xhat = make([]float64, B*m), make([]float64, B*d)
	for b := range B {
		for i := range m {
			z := benc[i]
			for j := range d {
				z += x[b*d+j] * Wenc[j*m+i]
			}
			h[b*m+i] = math.Max(z, 0)
			l1 += h[b*m+i] / float64(B)
		}
		for j := range d {
			v := bdec[j]
			for i := range m {
				v += h[b*m+i] * dict[i*d+j]
			}
			xhat[b*d+j] = v
			mse += (v - x[b*d+j]) * (v - x[b*d+j]) / float64(B*d)
		}
	}
	return h, xhat, mse, l1
}

// TestForwardMatchesReference: the graph's outputs and loss equal the
// formulas of the package doc, computed independently.
func TestForwardMatchesReference(t *testing.T) {
	_, it, in := setup(t, small, 1)
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	h, xhat, mse, l1 := reference(small, it.Var("W_enc").F64, it.Var("b_enc").F64, it.Var("W_dec").F64, it.Var("b_dec").F64, in["x"].F64)
	active := 0
	for _, v := range h {
		if v > 0 {
			active++
		}
	}
	if active == 0 || active == len(h) {
		t.Fatalf("%d of %d codes active: the case does not exercise the ReLU", active, len(h))
	}
	for _, c := range []struct {
		name      string
		got, want []float64
	}{
		{"codes", it.Output("codes").F64, h},
		{"recon", it.Output("recon").F64, xhat},
		{"mse", it.Output("mse").F64, []float64{mse}},
		{"l1", it.Output("l1").F64, []float64{l1}},
		{"loss", []float64{it.Loss()}, []float64{mse + small.Lambda*l1}},
	} {
		if diff := testutil.CompareSlices(c.got, c.want, 1e-12); diff != "" {
			t.Errorf("%s: %s", c.name, diff)
		}
	}
}

// TestGradientsMatchFiniteDifferences checks d loss / d every parameter in
// f64 against central differences (gonum diff/fd, step 1e-6): relative error
// ‖g − g_fd‖ / max(‖g‖, ‖g_fd‖) < 1e-6, with the L1 term on (λ = 0.3) and
// off, so that both the penalty's gradient and the reconstruction's through
// the normalised decoder are checked. Seeds whose pre-activations come within
// 1e-3 of the ReLU's kink are skipped: there the loss is not differentiable
// and a difference quotient would straddle the kink.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, lambda := range []float64{0.3, 0} {
		c := small
		c.Lambda = lambda
		checked := 0
		for seed := uint64(1); checked < 2 && seed < 20; seed++ {
			g, it, in := setup(t, c, seed)
			if nearKink(it, in["x"].F64, c) {
				continue
			}
			checked++
			if err := it.Run(in); err != nil {
				t.Fatal(err)
			}
			analytic := map[string][]float64{} // read all before any parameter is perturbed
			for _, p := range g.Params() {
				analytic[p.Name] = it.Grad(p.Name).Float64s()
			}
			for _, p := range g.Params() {
				v := it.Var(p.Name)
				x0 := v.Float64s()
				f := func(w []float64) float64 {
					copy(v.F64, w)
					if err := it.Run(in); err != nil {
						t.Fatal(err)
					}
					return it.Loss()
				}
				numeric := fd.Gradient(nil, f, x0, &fd.Settings{Formula: fd.Central, Step: 1e-6})
				copy(v.F64, x0)
				if rel := relErr(analytic[p.Name], numeric); rel > 1e-6 || math.IsNaN(rel) {
					t.Errorf("λ=%v seed %d: d%s: relative error %.3g\nanalytic %v\nnumeric  %v", lambda, seed, p.Name, rel, analytic[p.Name], numeric)
				}
			}
		}
		if checked < 2 {
			t.Fatalf("λ=%v: only %d seeds away from the ReLU kink", lambda, checked)
		}
	}
}

func nearKink(it *runtime.Interpreter, x []float64, c sae.Config) bool {
	W, b := it.Var("W_enc").F64, it.Var("b_enc").F64
	for r := range c.Batch {
		for i := range c.Features {
			z := b[i]
			for j := range c.D {
				z += x[r*c.D+j] * W[j*c.Features+i]
			}
			if math.Abs(z) < 1e-3 {
				return true
			}
		}
	}
	return false
}

func relErr(a, b []float64) float64 {
	var diff, na, nb float64
	for i := range a {
		diff += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	return math.Sqrt(diff) / math.Max(math.Max(math.Sqrt(na), math.Sqrt(nb)), 1e-12)
}

// TestDecoderScaleInvariance: the loss does not depend on the length of a
// decoder row, so its gradient is orthogonal to the row (W_dec[i]·dW_dec[i]
// = 0), and scaling a row leaves the loss unchanged. Both fail if the
// normalisation were applied outside the graph or its gradient dropped.
func TestDecoderScaleInvariance(t *testing.T) {
	_, it, in := setup(t, small, 3)
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	loss := it.Loss()
	W, dW := it.Var("W_dec").F64, it.Grad("W_dec").F64
	d := small.D
	nonzero := false
	for i := range small.Features {
		row, grow := W[i*d:(i+1)*d], dW[i*d:(i+1)*d]
		// Relative to ‖W_dec[i]‖·‖dW_dec[i]‖; the ε under the square root and
		// rounding leave about 1e-12.
		if cos := dot(row, grow) / math.Sqrt(dot(row, row)*dot(grow, grow)); math.Abs(cos) > 1e-9 {
			t.Errorf("row %d: cos(W_dec, dW_dec) = %g, want 0", i, cos)
		}
		nonzero = nonzero || dot(grow, grow) > 1e-12
	}
	if !nonzero {
		t.Fatal("dW_dec is zero: the check is empty")
	}
	for j := range d {
		W[2*d+j] *= 3.5
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	if !testutil.Close(it.Loss(), loss, 1e-12) {
		t.Errorf("loss %v after scaling a decoder row, %v before", it.Loss(), loss)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := dsl.Build("sae", "sae", dsl.Options{}, func(b *dsl.Builder) {
		sae.Build(b, sae.Config{D: 0, Features: -2, Lambda: -1, Batch: 4})
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"d must be positive, got 0", "features must be positive, got -2", "lambda must be a finite number >= 0, got -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
