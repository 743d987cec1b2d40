package onnx

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// Folding of values known at import. Every function here works on
// constants of at most maxConstElems elements and returns an error, never
// panics, on shapes that do not fit.

// bcastIndex maps each flat index of the broadcast shape out to the flat
// index of an operand of shape in (NumPy rules, aligned on the right).
func bcastIndex(out, in []int) []int {
	n := graph.Shape(out).Size()
	idx := make([]int, n)
	r := len(out)
	off := r - len(in)
	st := graph.Shape(in).Strides()
	coord := make([]int, r)
	for j := range n {
		k := 0
		for a := off; a < r; a++ {
			if in[a-off] != 1 {
				k += coord[a] * st[a-off]
			}
		}
		idx[j] = k
		for a := r - 1; a >= 0; a-- {
			coord[a]++
			if coord[a] < out[a] {
				break
			}
			coord[a] = 0
		}
	}
	return idx
}

// foldBinary applies f (floats) or fi (ints) elementwise with broadcasting;
// the result has kind rk (bool results are written through f).
func foldBinary(a, b *constant, rk kind, f func(x, y float64) float64, fi func(x, y int64) (int64, error)) (*constant, error) {
	out, ok := graph.BroadcastShapes(a.shape, b.shape)
	if !ok {
		return nil, fmt.Errorf("shapes %v and %v do not broadcast", a.shape, b.shape)
	}
	c, err := newConstant(rk, out)
	if err != nil {
		return nil, err
	}
	ia, ib := bcastIndex(out, a.shape), bcastIndex(out, b.shape)
	for j := range ia {
		if rk == kInt {
			if c.i[j], err = fi(a.atInt(ia[j]), b.atInt(ib[j])); err != nil {
				return nil, err
			}
		} else {
			c.f[j] = f(a.at(ia[j]), b.at(ib[j]))
		}
	}
	return c, nil
}

// reshaped returns c with a new shape of the same size.
func (c *constant) reshaped(shape []int) *constant {
	return &constant{kind: c.kind, shape: append([]int{}, shape...), f: c.f, i: c.i}
}

// pick builds a constant of the given shape from c's elements at idx.
func (c *constant) pick(shape []int, idx []int) *constant {
	out := &constant{kind: c.kind, shape: append([]int{}, shape...)}
	if c.kind == kInt {
		out.i = make([]int64, len(idx))
		for j, k := range idx {
			out.i[j] = c.i[k]
		}
	} else {
		out.f = make([]float64, len(idx))
		for j, k := range idx {
			out.f[j] = c.f[k]
		}
	}
	return out
}

// transposeIndex lists, for each element of the transposed shape, the flat
// index it reads in the source of shape in.
func transposeIndex(in []int, perm []int) ([]int, []int) {
	out := make([]int, len(perm))
	for i, p := range perm {
		out[i] = in[p]
	}
	st := graph.Shape(in).Strides()
	n := graph.Shape(out).Size()
	idx := make([]int, n)
	coord := make([]int, len(out))
	for j := range n {
		k := 0
		for a, p := range perm {
			k += coord[a] * st[p]
		}
		idx[j] = k
		for a := len(out) - 1; a >= 0; a-- {
			coord[a]++
			if coord[a] < out[a] {
				break
			}
			coord[a] = 0
		}
	}
	return out, idx
}

// sliceIndex lists the flat indices of x[starts:ends:steps] per axis; the
// ranges are already clamped.
func sliceIndex(in, starts, ends, steps []int) ([]int, []int) {
	out := make([]int, len(in))
	for a := range in {
		n := 0
		if steps[a] > 0 && ends[a] > starts[a] {
			n = (ends[a] - starts[a] + steps[a] - 1) / steps[a]
		} else if steps[a] < 0 && starts[a] > ends[a] {
			n = (starts[a] - ends[a] - steps[a] - 1) / -steps[a]
		}
		out[a] = n
	}
	st := graph.Shape(in).Strides()
	total := graph.Shape(out).Size()
	idx := make([]int, total)
	coord := make([]int, len(out))
	for j := range total {
		k := 0
		for a := range out {
			k += (starts[a] + coord[a]*steps[a]) * st[a]
		}
		idx[j] = k
		for a := len(out) - 1; a >= 0; a-- {
			coord[a]++
			if coord[a] < out[a] {
				break
			}
			coord[a] = 0
		}
	}
	return out, idx
}

// concatConst joins constants along axis.
func concatConst(cs []*constant, axis int) (*constant, error) {
	first := cs[0]
	out := append([]int{}, first.shape...)
	out[axis] = 0
	for _, c := range cs {
		if len(c.shape) != len(out) || c.kind != first.kind {
			return nil, fmt.Errorf("operands %v and %v do not concatenate", first.shape, c.shape)
		}
		for a := range out {
			if a != axis && c.shape[a] != first.shape[a] {
				return nil, fmt.Errorf("operands %v and %v differ off axis %d", first.shape, c.shape, axis)
			}
		}
		out[axis] += c.shape[axis]
	}
	res, err := newConstant(first.kind, out)
	if err != nil {
		return nil, err
	}
	outer := graph.Shape(out[:axis]).Size()
	inner := graph.Shape(out[axis+1:]).Size()
	j := 0
	for o := range outer {
		for _, c := range cs {
			blk := c.shape[axis] * inner
			for k := range blk {
				if res.kind == kInt {
					res.i[j] = c.i[o*blk+k]
				} else {
					res.f[j] = c.f[o*blk+k]
				}
				j++
			}
		}
	}
	return res, nil
}

func intsConst(v []int64) *constant {
	return &constant{kind: kInt, shape: []int{len(v)}, i: append([]int64{}, v...)}
}

func scalarConst(k kind, x float64) *constant {
	c := &constant{kind: k, shape: []int{}}
	if k == kInt {
		c.i = []int64{int64(x)}
	} else {
		c.f = []float64{x}
	}
	return c
}
