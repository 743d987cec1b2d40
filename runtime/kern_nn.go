package runtime

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/graph"
)

// kernSoftmax computes Softmax and LogSoftmax along the axis, max-subtracted.
func kernSoftmax(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x := in[0]
	outer, k, inner := axisDims(x.Shape, n.Attrs.Axis)
	for o := range outer {
		for i := range inner {
			idx := func(j int) int { return (o*k+j)*inner + i }
			m := math.Inf(-1)
			for j := range k {
				m = maxF(m, x.At(idx(j)))
			}
			s := 0.0
			for j := range k {
				s += math.Exp(x.At(idx(j)) - m)
			}
			for j := range k {
				if n.Op == graph.OpLogSoftmax {
					out.Set(idx(j), x.At(idx(j))-m-math.Log(s))
				} else {
					out.Set(idx(j), math.Exp(x.At(idx(j))-m)/s)
				}
			}
		}
	}
	return nil
}

// kernSoftmaxGrad: y ⊙ (dy − Σ dy⊙y) for Softmax, dy − exp(y) Σ dy for LogSoftmax.
func kernSoftmaxGrad(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	y, dy := in[0], in[1]
	outer, k, inner := axisDims(y.Shape, n.Attrs.Axis)
	for o := range outer {
		for i := range inner {
			idx := func(j int) int { return (o*k+j)*inner + i }
			s := 0.0
			for j := range k {
				if n.Op == graph.OpSoftmaxGrad {
					s += dy.At(idx(j)) * y.At(idx(j))
				} else {
					s += dy.At(idx(j))
				}
			}
			for j := range k {
				if n.Op == graph.OpSoftmaxGrad {
					out.Set(idx(j), y.At(idx(j))*(dy.At(idx(j))-s))
				} else {
					out.Set(idx(j), dy.At(idx(j))-math.Exp(y.At(idx(j)))*s)
				}
			}
		}
	}
	return nil
}

// rowStats returns the mean and 1/√(var+eps) of one row (biased variance).
func rowStats(x *Tensor, off, d int, eps float64) (mean, rstd float64) {
	for j := range d {
		mean += x.At(off + j)
	}
	mean /= float64(d)
	v := 0.0
	for j := range d {
		c := x.At(off+j) - mean
		v += c * c
	}
	v /= float64(d)
	return mean, 1 / math.Sqrt(v+eps)
}

func kernLayerNorm(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x := in[0]
	d := x.Shape[len(x.Shape)-1]
	for off := 0; off < x.Len(); off += d {
		mean, rstd := rowStats(x, off, d, n.Attrs.Eps)
		for j := range d {
			out.Set(off+j, (x.At(off+j)-mean)*rstd)
		}
	}
	return nil
}

// kernLayerNormGrad: dx = (dy − mean(dy) − x̂·mean(dy·x̂)) · rstd, per row.
func kernLayerNormGrad(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x, dy := in[0], in[1]
	d := x.Shape[len(x.Shape)-1]
	for off := 0; off < x.Len(); off += d {
		mean, rstd := rowStats(x, off, d, n.Attrs.Eps)
		mdy, mdyx := 0.0, 0.0
		for j := range d {
			xh := (x.At(off+j) - mean) * rstd
			mdy += dy.At(off + j)
			mdyx += dy.At(off+j) * xh
		}
		mdy /= float64(d)
		mdyx /= float64(d)
		for j := range d {
			xh := (x.At(off+j) - mean) * rstd
			out.Set(off+j, (dy.At(off+j)-mdy-xh*mdyx)*rstd)
		}
	}
	return nil
}

// reduceLoss writes per-element losses l (with counted flags) as the op's reduction asks.
func reduceLoss(n *graph.Node, out *Tensor, l []float64, counted []bool) {
	switch n.Attrs.Reduce {
	case "none":
		for i, v := range l {
			out.Set(i, v)
		}
	default:
		s, c := 0.0, 0
		for i, v := range l {
			if counted == nil || counted[i] {
				s += v
				c++
			}
		}
		if n.Attrs.Reduce == "mean" {
			if c == 0 {
				s = 0
			} else {
				s /= float64(c)
			}
		}
		out.Set(0, s)
	}
}

func kernCrossEntropy(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	z, t := in[0], in[1]
	c := z.Shape[len(z.Shape)-1]
	rows := t.Len()
	l := it.scratch(n, rows)
	var counted []bool
	if len(in) == 3 {
		counted = in[2].B
	}
	for r := range rows {
		if counted != nil && !counted[r] {
			continue
		}
		tg := int(t.I32[r])
		if tg < 0 || tg >= c {
			return errTarget(tg, r, c)
		}
		m := math.Inf(-1)
		for j := range c {
			m = maxF(m, z.At(r*c+j))
		}
		s := 0.0
		for j := range c {
			s += math.Exp(z.At(r*c+j) - m)
		}
		l[r] = m + math.Log(s) - z.At(r*c+tg)
	}
	reduceLoss(n, out, l, counted)
	return nil
}

func kernBCE(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	z, y := in[0], in[1]
	l := it.scratch(n, z.Len())
	for i := range l {
		zi := z.At(i)
		l[i] = max(zi, 0) - zi*y.At(i) + math.Log1p(math.Exp(-math.Abs(zi)))
	}
	reduceLoss(n, out, l, nil)
	return nil
}

func kernMSE(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	a, b := in[0], in[1]
	l := it.scratch(n, a.Len())
	for i := range l {
		d := a.At(i) - b.At(i)
		l[i] = d * d
	}
	reduceLoss(n, out, l, nil)
	return nil
}

// kernDropoutMask draws one uniform number per element: 0 where u < p, else 1/(1−p).
func kernDropoutMask(it *Interpreter, n *graph.Node, out *Tensor, _ []*Tensor) error {
	p := n.Attrs.P
	keep := 1 / (1 - p)
	if it.eval {
		for i := range out.Len() {
			out.Set(i, 1)
		}
		return nil
	}
	for i := range out.Len() {
		if it.rng.Float64() < p {
			out.Set(i, 0)
		} else {
			out.Set(i, keep)
		}
	}
	return nil
}

// rmsScale returns 1/√(mean(x²)+eps) of one row.
func rmsScale(x *Tensor, off, d int, eps float64) float64 {
	ss := 0.0
	for j := range d {
		v := x.At(off + j)
		ss += v * v
	}
	return 1 / math.Sqrt(ss/float64(d)+eps)
}

func kernRMSNorm(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x := in[0]
	d := x.Shape[len(x.Shape)-1]
	for off := 0; off < x.Len(); off += d {
		r := rmsScale(x, off, d, n.Attrs.Eps)
		for j := range d {
			out.Set(off+j, x.At(off+j)*r)
		}
	}
	return nil
}

// kernRMSNormGrad: dx = (dy − x̂·mean(dy·x̂)) · r, r = 1/rms, per row.
func kernRMSNormGrad(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x, dy := in[0], in[1]
	d := x.Shape[len(x.Shape)-1]
	for off := 0; off < x.Len(); off += d {
		r := rmsScale(x, off, d, n.Attrs.Eps)
		m := 0.0
		for j := range d {
			m += dy.At(off+j) * x.At(off+j) * r
		}
		m /= float64(d)
		for j := range d {
			out.Set(off+j, (dy.At(off+j)-x.At(off+j)*r*m)*r)
		}
	}
	return nil
}

// RoPEAngle is the rotation angle of feature pair i (of d/2) at position p:
// p·θ_i with θ_i = 1/theta^(2i/d), computed as HF Llama's inv_freq is.
func RoPEAngle(p, i, d int, theta float64) float64 {
	return float64(p) * (1 / math.Pow(theta, float64(2*i)/float64(d)))
}

// kernRoPE rotates each row's feature pairs by the angles of its position.
func kernRoPE(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x := in[0]
	a := n.Attrs
	r := len(x.Shape)
	T, d := x.Shape[r-2], x.Shape[r-1]
	starts := []int{a.Offset} // per sequence of the batch with a position vector
	if len(in) == 2 {
		starts = make([]int, in[1].Len())
		for b := range starts {
			p := in[1].At(b)
			if p != math.Trunc(p) || p < 0 || p > 1<<30 {
				return fmt.Errorf("position %v is not a whole number ≥ 0", p)
			}
			starts[b] = a.Offset + int(p)
		}
	}
	h := d / 2
	rows := x.Len() / d
	for row := range rows {
		off, pos := row*d, starts[row*len(starts)/rows]+row%T
		for i := range h {
			s, c := math.Sincos(RoPEAngle(pos, i, d, a.Theta))
			if a.Inverse {
				s = -s
			}
			ia, ib := off+i, off+i+h
			if a.Interleaved {
				ia, ib = off+2*i, off+2*i+1
			}
			va, vb := x.At(ia), x.At(ib)
			out.Set(ia, va*c-vb*s)
			out.Set(ib, vb*c+va*s)
		}
	}
	return nil
}
