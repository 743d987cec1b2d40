package dsl

import (
	"math"

	"github.com/mlc-dev/mlc/graph"
)

func (t *Tensor) unary(op graph.Op) *Tensor { return t.b.apply(op, graph.Attrs{}, t) }

// Elementwise functions of one value.

func (t *Tensor) Neg() *Tensor     { return t.unary(graph.OpNeg) }
func (t *Tensor) Exp() *Tensor     { return t.unary(graph.OpExp) }
func (t *Tensor) Log() *Tensor     { return t.unary(graph.OpLog) }
func (t *Tensor) Sqrt() *Tensor    { return t.unary(graph.OpSqrt) }
func (t *Tensor) Rsqrt() *Tensor   { return t.unary(graph.OpRsqrt) }
func (t *Tensor) Tanh() *Tensor    { return t.unary(graph.OpTanh) }
func (t *Tensor) Sigmoid() *Tensor { return t.unary(graph.OpSigmoid) }
func (t *Tensor) ReLU() *Tensor    { return t.unary(graph.OpReLU) }
func (t *Tensor) GELU() *Tensor    { return t.unary(graph.OpGELU) }

// GELUErf is GELU's exact form 0.5·x·(1 + erf(x/√2)) (PyTorch's default
// nn.GELU); GELU is the tanh approximation.
func (t *Tensor) GELUErf() *Tensor { return t.unary(graph.OpGELUErf) }
func (t *Tensor) Abs() *Tensor     { return t.unary(graph.OpAbs) }
func (t *Tensor) Erf() *Tensor     { return t.unary(graph.OpErf) }

// Pow raises every element to the constant exponent p.
func (t *Tensor) Pow(p float64) *Tensor { return t.b.apply(graph.OpPow, graph.Attrs{Exponent: p}, t) }

// Cast converts to another dtype.
func (t *Tensor) Cast(to DType) *Tensor { return t.b.apply(graph.OpCast, graph.Attrs{To: to}, t) }

// Elementwise functions of two values, with NumPy broadcasting.

func (t *Tensor) Add(u *Tensor) *Tensor     { return t.b.apply(graph.OpAdd, graph.Attrs{}, t, u) }
func (t *Tensor) Sub(u *Tensor) *Tensor     { return t.b.apply(graph.OpSub, graph.Attrs{}, t, u) }
func (t *Tensor) Mul(u *Tensor) *Tensor     { return t.b.apply(graph.OpMul, graph.Attrs{}, t, u) }
func (t *Tensor) Div(u *Tensor) *Tensor     { return t.b.apply(graph.OpDiv, graph.Attrs{}, t, u) }
func (t *Tensor) Maximum(u *Tensor) *Tensor { return t.b.apply(graph.OpMaximum, graph.Attrs{}, t, u) }
func (t *Tensor) Minimum(u *Tensor) *Tensor { return t.b.apply(graph.OpMinimum, graph.Attrs{}, t, u) }

// scalar is a constant of t's dtype and shape [].
func (t *Tensor) scalar(v float64) *Tensor {
	dt := t.DType()
	if !dt.IsFloat() {
		dt = t.b.opts.Float
	}
	return t.b.leaf(graph.OpConst, "", graph.T(dt), graph.Attrs{Value: v})
}

// Scale multiplies by the constant c.
func (t *Tensor) Scale(c float64) *Tensor { return t.Mul(t.scalar(c)) }

// AddConst adds the constant c.
func (t *Tensor) AddConst(c float64) *Tensor { return t.Add(t.scalar(c)) }

// Comparisons give bool masks.

func (t *Tensor) Less(u *Tensor) *Tensor { return t.b.apply(graph.OpLess, graph.Attrs{}, t, u) }
func (t *Tensor) LessEqual(u *Tensor) *Tensor {
	return t.b.apply(graph.OpLessEqual, graph.Attrs{}, t, u)
}
func (t *Tensor) Greater(u *Tensor) *Tensor { return t.b.apply(graph.OpGreater, graph.Attrs{}, t, u) }
func (t *Tensor) GreaterEqual(u *Tensor) *Tensor {
	return t.b.apply(graph.OpGreaterEqual, graph.Attrs{}, t, u)
}
func (t *Tensor) Equal(u *Tensor) *Tensor    { return t.b.apply(graph.OpEqual, graph.Attrs{}, t, u) }
func (t *Tensor) NotEqual(u *Tensor) *Tensor { return t.b.apply(graph.OpNotEqual, graph.Attrs{}, t, u) }
func (t *Tensor) And(u *Tensor) *Tensor      { return t.b.apply(graph.OpAnd, graph.Attrs{}, t, u) }
func (t *Tensor) Or(u *Tensor) *Tensor       { return t.b.apply(graph.OpOr, graph.Attrs{}, t, u) }
func (t *Tensor) Not() *Tensor               { return t.unary(graph.OpNot) }

// Where picks a where mask is true, else b.
func Where(mask, a, b *Tensor) *Tensor { return mask.b.apply(graph.OpWhere, graph.Attrs{}, mask, a, b) }

// MaskFill keeps t where mask is true and puts −inf elsewhere: masked attention
// scores vanish in the softmax that follows.
func (t *Tensor) MaskFill(mask *Tensor) *Tensor {
	return t.b.apply(graph.OpWhere, graph.Attrs{}, mask, t, t.scalar(math.Inf(-1)))
}

// MatMul is the matrix product over the last two axes, batched and broadcast over the rest.
func (t *Tensor) MatMul(u *Tensor) *Tensor { return t.b.apply(graph.OpMatMul, graph.Attrs{}, t, u) }

// MatMulT is t·uᵀ (u's last two axes swapped), without materialising uᵀ.
func (t *Tensor) MatMulT(u *Tensor) *Tensor {
	return t.b.apply(graph.OpMatMul, graph.Attrs{TransB: true}, t, u)
}

// Transpose permutes axes; with no arguments it swaps the last two.
func (t *Tensor) Transpose(perm ...int) *Tensor {
	if len(perm) == 0 {
		r := len(t.Shape())
		if r < 2 && t.n != nil {
			t.b.Errorf("Transpose: needs at least 2 axes, got %s", t.n.Type)
			return t.b.poisoned()
		}
		perm = make([]int, r)
		for i := range perm {
			perm[i] = i
		}
		if r >= 2 {
			perm[r-1], perm[r-2] = perm[r-2], perm[r-1]
		}
	}
	return t.b.apply(graph.OpTranspose, graph.Attrs{Perm: append([]int{}, perm...)}, t)
}

// T is the transpose of the last two axes.
func (t *Tensor) T() *Tensor { return t.Transpose() }

// Reshape gives the same data a new shape; one dimension may be -1 (inferred).
func (t *Tensor) Reshape(dims ...int) *Tensor {
	dims = append([]int{}, dims...)
	if t.n != nil {
		known, free := 1, -1
		for i, d := range dims {
			if d == -1 {
				free = i
			} else {
				known *= d
			}
		}
		if free >= 0 && known > 0 {
			dims[free] = t.n.Type.Shape.Size() / known
		}
	}
	return t.b.apply(graph.OpReshape, graph.Attrs{Shape: dims}, t)
}

// BroadcastTo repeats t to the given shape.
func (t *Tensor) BroadcastTo(dims ...int) *Tensor {
	return t.b.apply(graph.OpBroadcastTo, graph.Attrs{Shape: append([]int{}, dims...)}, t)
}

// Slice takes t[starts[i]:ends[i]] on every axis.
func (t *Tensor) Slice(starts, ends []int) *Tensor {
	return t.b.apply(graph.OpSlice, graph.Attrs{Starts: append([]int{}, starts...), Ends: append([]int{}, ends...)}, t)
}

// SliceAxis takes t[..., from:to, ...] on one axis.
func (t *Tensor) SliceAxis(axis, from, to int) *Tensor {
	s := t.Shape()
	if t.n != nil && (axis < 0 || axis >= len(s)) {
		t.b.Errorf("Slice: axis %d out of range for %s", axis, t.n.Type.Shape)
		return t.b.poisoned()
	}
	starts, ends := make([]int, len(s)), append([]int{}, s...)
	if len(s) > 0 {
		starts[axis], ends[axis] = from, to
	}
	return t.Slice(starts, ends)
}

// Concat joins values along axis.
func Concat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		return nil
	}
	return ts[0].b.apply(graph.OpConcat, graph.Attrs{Axis: axis}, ts...)
}

// Gather looks up rows of the table t by i32 ids: an embedding lookup.
func (t *Tensor) Gather(ids *Tensor) *Tensor { return t.b.apply(graph.OpGather, graph.Attrs{}, t, ids) }

// OneHot turns i32 ids into one-hot rows of the build's float dtype.
func (t *Tensor) OneHot(depth int) *Tensor {
	return t.b.apply(graph.OpOneHot, graph.Attrs{Depth: depth, To: t.b.opts.Float}, t)
}

func normAxes(t *Tensor, axes []int) []int {
	r := len(t.Shape())
	out := make([]int, 0, len(axes))
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		out = append(out, a)
	}
	return out
}

// Sum over axes (all when none given); negative axes count from the end.
func (t *Tensor) Sum(axes ...int) *Tensor {
	return t.b.apply(graph.OpSum, graph.Attrs{Axes: normAxes(t, axes)}, t)
}

// SumKeep is Sum that keeps reduced axes as size 1.
func (t *Tensor) SumKeep(axes ...int) *Tensor {
	return t.b.apply(graph.OpSum, graph.Attrs{Axes: normAxes(t, axes), KeepDims: true}, t)
}

// Mean over axes (all when none given).
func (t *Tensor) Mean(axes ...int) *Tensor {
	return t.b.apply(graph.OpMean, graph.Attrs{Axes: normAxes(t, axes)}, t)
}

// MeanKeep is Mean that keeps reduced axes as size 1.
func (t *Tensor) MeanKeep(axes ...int) *Tensor {
	return t.b.apply(graph.OpMean, graph.Attrs{Axes: normAxes(t, axes), KeepDims: true}, t)
}

// Max over axes (all when none given).
func (t *Tensor) Max(axes ...int) *Tensor {
	return t.b.apply(graph.OpMax, graph.Attrs{Axes: normAxes(t, axes)}, t)
}

// ArgMax is the i32 index of the largest element along axis.
func (t *Tensor) ArgMax(axis int) *Tensor {
	return t.b.apply(graph.OpArgMax, graph.Attrs{Axis: normAxes(t, []int{axis})[0]}, t)
}

// Softmax along axis (negative counts from the end).
func (t *Tensor) Softmax(axis int) *Tensor {
	return t.b.apply(graph.OpSoftmax, graph.Attrs{Axis: normAxes(t, []int{axis})[0]}, t)
}

// LogSoftmax along axis.
func (t *Tensor) LogSoftmax(axis int) *Tensor {
	return t.b.apply(graph.OpLogSoftmax, graph.Attrs{Axis: normAxes(t, []int{axis})[0]}, t)
}

// Normalize is LayerNorm without the affine part: (x − mean)/√(var + eps) over the last axis.
func (t *Tensor) Normalize(eps float64) *Tensor {
	return t.b.apply(graph.OpLayerNorm, graph.Attrs{Eps: eps}, t)
}

// LayerNorm normalises over the last axis, then scales by gamma and shifts by beta.
func LayerNorm(x, gamma, beta *Tensor, eps float64) *Tensor {
	return x.Normalize(eps).Mul(gamma).Add(beta)
}

// NewLayerNorm declares name.gamma (ones) and name.beta (zeros) of width d
// and returns the LayerNorm over the last axis that uses them, its result
// named name. The LayerNorm's nodes carry the line that applies it.
func NewLayerNorm(b *Builder, name string, d int, eps float64) func(*Tensor) *Tensor {
	gamma := b.Param(name+".gamma", Ones(), d)
	beta := b.Param(name+".beta", Zeros(), d)
	return func(x *Tensor) *Tensor { return LayerNorm(x, gamma, beta, eps).As(name) }
}

// CausalMask is the bool [T, T] mask that lets position i see positions j ≤ i.
func (b *Builder) CausalMask(t int) *Tensor {
	return b.leaf(graph.OpCausalMask, "", graph.T(graph.Bool, t, t), graph.Attrs{Shape: []int{t, t}})
}

// CrossEntropy is the mean softmax cross-entropy of logits[…, C] against i32
// targets[…]. Given a bool mask[…], only positions where it is true count.
func CrossEntropy(logits, targets *Tensor, mask ...*Tensor) *Tensor {
	return logits.b.apply(graph.OpCrossEntropy, graph.Attrs{Reduce: "mean"}, append([]*Tensor{logits, targets}, mask...)...)
}

// CrossEntropyPerPosition is CrossEntropy without the mean.
func CrossEntropyPerPosition(logits, targets *Tensor) *Tensor {
	return logits.b.apply(graph.OpCrossEntropy, graph.Attrs{Reduce: "none"}, logits, targets)
}

// BCEWithLogits is the mean binary cross-entropy of sigmoid(z) against y, in its stable form.
func BCEWithLogits(z, y *Tensor) *Tensor {
	return z.b.apply(graph.OpBCEWithLogits, graph.Attrs{Reduce: "mean"}, z, y)
}

// MSE is the mean squared error.
func MSE(a, b *Tensor) *Tensor { return a.b.apply(graph.OpMSE, graph.Attrs{Reduce: "mean"}, a, b) }

// Dropout is inverted dropout: in training it zeroes each element with
// probability p and scales the rest by 1/(1−p); in eval mode it is the
// identity. Masks come from the model's seeded generator.
func (t *Tensor) Dropout(p float64) *Tensor {
	if t.n == nil {
		return t
	}
	if !(p >= 0 && p < 1) {
		t.b.Errorf("Dropout: p must be in [0, 1), got %v", p)
		return t.b.poisoned()
	}
	if !t.b.opts.Train || p == 0 {
		return t
	}
	mask := t.b.apply(graph.OpDropoutMask, graph.Attrs{P: p, Shape: t.Shape(), To: t.n.Type.DType})
	return t.Mul(mask)
}
