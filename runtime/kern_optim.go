package runtime

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/graph"
)

// Optimizer updates write their first operand (a variable) and their state
// operands in place. The arithmetic follows PyTorch's order of operations.

// LRAt is the learning rate of update t (1-based) under a linear warmup and a
// cosine decay, as OpLRSchedule documents. Generated code carries a copy.
func LRAt(t, lr float64, warmup, steps int, lrMin float64) float64 {
	w := float64(warmup)
	switch {
	case t <= w:
		return lr * t / w
	case steps == 0:
		return lr
	case t >= float64(steps):
		return lrMin
	}
	return lrMin + 0.5*(lr-lrMin)*(1+math.Cos(math.Pi*(t-w)/(float64(steps)-w)))
}

func kernApplySGD(_ *Interpreter, _ *graph.Node, _ *Tensor, in []*Tensor) error {
	p, g, lr, s := in[0], in[1], in[2].At(0), in[3].At(0)
	for i := range p.Len() {
		p.Set(i, p.At(i)-lr*(s*g.At(i)))
	}
	return nil
}

func kernApplyMomentum(_ *Interpreter, n *graph.Node, _ *Tensor, in []*Tensor) error {
	p, g, v, lr, s := in[0], in[1], in[2], in[3].At(0), in[4].At(0)
	mu := in[5].At(0)
	for i := range p.Len() {
		gi := s * g.At(i)
		var vi float64
		if n.Op == graph.OpApplyEMAMomentum {
			vi = mu*v.At(i) + (1-mu)*gi
		} else {
			vi = v.At(i)*mu + gi
		}
		v.Set(i, vi)
		p.Set(i, p.At(i)-lr*v.At(i))
	}
	return nil
}

func kernApplyRMSProp(_ *Interpreter, _ *graph.Node, _ *Tensor, in []*Tensor) error {
	p, g, v, lr, s := in[0], in[1], in[2], in[3].At(0), in[4].At(0)
	alpha, eps := in[5].At(0), in[6].At(0)
	for i := range p.Len() {
		gi := s * g.At(i)
		v.Set(i, v.At(i)*alpha+(1-alpha)*gi*gi)
		p.Set(i, p.At(i)-lr*gi/(math.Sqrt(v.At(i))+eps))
	}
	return nil
}

func kernApplyAdam(_ *Interpreter, _ *graph.Node, _ *Tensor, in []*Tensor) error {
	p, g, m, v, lr, t, s := in[0], in[1], in[2], in[3], in[4].At(0), in[5].At(0), in[6].At(0)
	beta1, beta2, eps, wd := in[7].At(0), in[8].At(0), in[9].At(0), 0.0
	if len(in) > 10 {
		wd = in[10].At(0)
	}
	bc1 := 1 - math.Pow(beta1, t)
	bc2 := math.Sqrt(1 - math.Pow(beta2, t))
	step := lr / bc1
	for i := range p.Len() {
		pi := p.At(i)
		if wd != 0 {
			pi *= 1 - lr*wd
		}
		gi := s * g.At(i)
		mi := m.At(i)*beta1 + (1-beta1)*gi
		vi := v.At(i)*beta2 + (1-beta2)*gi*gi
		m.Set(i, mi)
		v.Set(i, vi)
		mi, vi = m.At(i), v.At(i) // as stored, so both engines round alike in f32
		p.Set(i, pi-step*mi/(math.Sqrt(vi)/bc2+eps))
	}
	return nil
}

func kernAssign(_ *Interpreter, _ *graph.Node, _ *Tensor, in []*Tensor) error {
	return in[0].CopyFrom(in[1])
}

func kernLRSchedule(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	a := n.Attrs
	out.Set(0, LRAt(in[0].At(0), a.LR, a.Warmup, a.Steps, a.LRMin))
	return nil
}

func kernGlobalNorm(_ *Interpreter, _ *graph.Node, out *Tensor, in []*Tensor) error {
	s := 0.0
	for _, x := range in {
		for i := range x.Len() {
			v := x.At(i)
			s += v * v
		}
	}
	out.Set(0, math.Sqrt(s))
	return nil
}

// cacheRows resolves the positions pos (a scalar, or one per sequence of
// the batch) to rows of a cache of s rows, every one checked before any is
// used.
func cacheRows(pos *Tensor, s int) ([]int, error) {
	ts := make([]int, pos.Len())
	for b := range ts {
		t, err := cacheRow(pos.At(b), s)
		if err != nil {
			return nil, err
		}
		ts[b] = t
	}
	return ts, nil
}

// cacheRow resolves pos to a row of a cache of s rows.
func cacheRow(pos float64, s int) (int, error) {
	t := int(pos)
	if float64(t) != pos || t < 0 {
		return 0, fmt.Errorf("position %v is not a whole number ≥ 0", pos)
	}
	if t >= s {
		return 0, fmt.Errorf("position %d is past the context of %d", t, s)
	}
	return t, nil
}

// kernAttendCache: attention of one new position over the cached keys and
// values of the earlier ones, for each of the R query rows of a head.
func kernAttendCache(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	q, kc, vc, kn, vn := in[0], in[1], in[2], in[3], in[4]
	cs := kc.Shape
	s, d := cs[len(cs)-2], cs[len(cs)-1]
	ts, err := cacheRows(in[5], s)
	if err != nil {
		return err
	}
	scale := n.Attrs.Value
	heads := kn.Len() / d
	rows := q.Len() / (heads * d)
	for h := range heads {
		t := ts[h*len(ts)/heads] // heads/len(ts) heads per sequence
		w := it.scratch(n, s)[:t+1]
		key := func(j, c int) float64 {
			if j == t {
				return kn.At(h*d + c)
			}
			return kc.At((h*s+j)*d + c)
		}
		val := func(j, c int) float64 {
			if j == t {
				return vn.At(h*d + c)
			}
			return vc.At((h*s+j)*d + c)
		}
		for r := range rows {
			qo := (h*rows + r) * d
			m := math.Inf(-1)
			for j := range t + 1 {
				dot := 0.0
				for c := range d {
					dot += q.At(qo+c) * key(j, c)
				}
				w[j] = dot * scale
				m = maxF(m, w[j])
			}
			sum := 0.0
			for j := range w {
				w[j] = math.Exp(w[j] - m)
				sum += w[j]
			}
			for c := range d {
				acc := 0.0
				for j := range w {
					acc += w[j] / sum * val(j, c)
				}
				out.Set(qo+c, acc)
			}
		}
	}
	return nil
}

func kernCacheWrite(_ *Interpreter, _ *graph.Node, _ *Tensor, in []*Tensor) error {
	c, x := in[0], in[1]
	cs := c.Shape
	s, d := cs[len(cs)-2], cs[len(cs)-1]
	ts, err := cacheRows(in[2], s)
	if err != nil {
		return err
	}
	heads := x.Len() / d
	for h := range heads {
		t := ts[h*len(ts)/heads]
		for k := range d {
			c.Set((h*s+t)*d+k, x.At(h*d+k))
		}
	}
	return nil
}
