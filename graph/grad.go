package graph

// GradRule returns, for each operand of n, the gradient d loss/d operand given
// dy = d loss/d n, or nil where no gradient flows (integer and mask operands).
// New nodes are created through b, which marks them as backward nodes of n.
// Each rule's comment gives the math; y is the node's own value.
type GradRule func(b *Builder, n *Node, dy *Node) []*Node

// constValue reports the value of a scalar (or uniform) constant node.
func constValue(n *Node) (float64, bool) {
	if n == nil || n.Op != OpConst || n.Attrs.Data != nil {
		return 0, false
	}
	return n.Attrs.Value, true
}

// Scale multiplies x by the scalar node s and the number f, folding constants
// so that rules seeded with d loss = 1 print as the simplified formula.
func (b *Builder) Scale(x, s *Node, f float64) *Node {
	if v, ok := constValue(s); ok {
		f *= v
		s = nil
	}
	if s != nil {
		x = b.Mul(x, s)
	}
	if f == 1 {
		return x
	}
	return b.Mul(x, b.Scalar(x, f))
}

// zeroLike is a scalar 0 of x's dtype (broadcast where used).
func (b *Builder) zeroLike(x *Node) *Node { return b.Scalar(x, 0) }

// keepShape is x's shape with the reduced axes kept as 1.
func keepShape(x *Node, axes []int) Shape { return ReducedShape(x.Type.Shape, axes, true) }

// gradNeg: dx = −dy
func gradNeg(b *Builder, n, dy *Node) []*Node { return []*Node{b.Neg(dy)} }

// gradExp: dx = dy ⊙ y
func gradExp(b *Builder, n, dy *Node) []*Node { return []*Node{b.Mul(dy, n)} }

// gradLog: dx = dy / x
func gradLog(b *Builder, n, dy *Node) []*Node { return []*Node{b.Div(dy, n.Inputs[0])} }

// gradSqrt: dx = dy ⊙ 0.5 / y
func gradSqrt(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Div(b.Scale(dy, nil, 0.5), n)}
}

// gradRsqrt: y = x^(−½), dx = dy ⊙ (−½) y / x
func gradRsqrt(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Div(b.Mul(dy, b.Scale(n, nil, -0.5)), n.Inputs[0])}
}

// gradTanh: dx = dy ⊙ (1 − y²)
func gradTanh(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Mul(dy, b.Sub(b.Scalar(n, 1), b.Mul(n, n)))}
}

// gradErf: dx = dy ⊙ 2/√π · e^(−x²)
func gradErf(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	const twoOverSqrtPi = 1.1283791670955126 // 2/√π
	d := b.Mul(b.Unary(OpExp, b.Neg(b.Mul(x, x))), b.Scalar(x, twoOverSqrtPi))
	return []*Node{b.Mul(dy, d)}
}

// gradSigmoid: dx = dy ⊙ y ⊙ (1 − y)
func gradSigmoid(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Mul(dy, b.Mul(n, b.Sub(b.Scalar(n, 1), n)))}
}

// gradReLU: dx = dy where x > 0, else 0 (the derivative at 0 is 0, as NumPy's (x > 0)).
func gradReLU(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	pos := b.Apply(OpGreater, Attrs{}, x, b.zeroLike(x))
	return []*Node{b.Where(pos, dy, b.zeroLike(x))}
}

// gradGELU: dx = dy ⊙ gelu′(x)
func gradGELU(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpGELUGrad, Attrs{}, n.Inputs[0], dy)}
}

// gradGELUErf: dx = dy ⊙ (Φ(x) + x·φ(x))
func gradGELUErf(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpGELUErfGrad, Attrs{}, n.Inputs[0], dy)}
}

// gradAbs: dx = dy ⊙ sign(x), with sign(0) = 0
func gradAbs(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	z := b.zeroLike(x)
	pos := b.Apply(OpGreater, Attrs{}, x, z)
	neg := b.Apply(OpLess, Attrs{}, x, z)
	return []*Node{b.Where(pos, dy, b.Where(neg, b.Neg(dy), z))}
}

// gradPow: dx = dy ⊙ p·x^(p−1)
func gradPow(b *Builder, n, dy *Node) []*Node {
	x, p := n.Inputs[0], n.Attrs.Exponent
	switch p {
	case 1:
		return []*Node{dy}
	case 2:
		return []*Node{b.Mul(dy, b.Scale(x, nil, 2))}
	}
	return []*Node{b.Mul(dy, b.Scale(b.Apply(OpPow, Attrs{Exponent: p - 1}, x), nil, p))}
}

// gradCast: float → float casts pass the gradient back in the operand's dtype.
func gradCast(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	switch {
	case x.Type.DType == BF16:
		return []*Node{b.Apply(OpCast, Attrs{To: BF16}, dy)} // the straight-through gradient, stored as x is
	case n.Type.DType == BF16:
		return []*Node{b.Apply(OpCast, Attrs{To: F32}, dy)}
	case !x.Type.DType.IsFloat() || !n.Type.DType.IsFloat():
		return []*Node{nil}
	}
	return []*Node{b.Apply(OpCast, Attrs{To: x.Type.DType}, dy)}
}

// gradAdd: da = Σ_broadcast dy, db = Σ_broadcast dy
func gradAdd(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.SumTo(dy, n.Inputs[0].Type.Shape), b.SumTo(dy, n.Inputs[1].Type.Shape)}
}

// gradSub: da = Σ_broadcast dy, db = −Σ_broadcast dy
func gradSub(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.SumTo(dy, n.Inputs[0].Type.Shape), b.Neg(b.SumTo(dy, n.Inputs[1].Type.Shape))}
}

// gradMul: da = Σ_broadcast dy ⊙ b, db = Σ_broadcast dy ⊙ a
func gradMul(b *Builder, n, dy *Node) []*Node {
	x, y := n.Inputs[0], n.Inputs[1]
	return []*Node{b.SumTo(b.Mul(dy, y), x.Type.Shape), b.SumTo(b.Mul(dy, x), y.Type.Shape)}
}

// gradDiv: da = Σ_broadcast dy / b, db = −Σ_broadcast dy ⊙ y / b
func gradDiv(b *Builder, n, dy *Node) []*Node {
	x, y := n.Inputs[0], n.Inputs[1]
	return []*Node{b.SumTo(b.Div(dy, y), x.Type.Shape), b.Neg(b.SumTo(b.Div(b.Mul(dy, n), y), y.Type.Shape))}
}

// gradMaxMin: the gradient goes to a where a wins (ties to a), else to b.
func gradMaxMin(b *Builder, n, dy *Node) []*Node {
	x, y := n.Inputs[0], n.Inputs[1]
	cmp := OpGreaterEqual
	if n.Op == OpMinimum {
		cmp = OpLessEqual
	}
	aWins := b.Apply(cmp, Attrs{}, x, y)
	z := b.zeroLike(dy)
	return []*Node{b.SumTo(b.Where(aWins, dy, z), x.Type.Shape), b.SumTo(b.Where(aWins, z, dy), y.Type.Shape)}
}

// gradWhere: da = dy where the mask holds, db = dy where it does not.
func gradWhere(b *Builder, n, dy *Node) []*Node {
	m, x, y := n.Inputs[0], n.Inputs[1], n.Inputs[2]
	z := b.zeroLike(dy)
	return []*Node{nil, b.SumTo(b.Where(m, dy, z), x.Type.Shape), b.SumTo(b.Where(m, z, dy), y.Type.Shape)}
}

// gradMatMul: for C = A·B, dA = dC·Bᵀ and dB = Aᵀ·dC; the transposed forms
// follow by transposing both sides. Broadcast batch axes are summed back.
func gradMatMul(b *Builder, n, dC *Node) []*Node {
	A, B := n.Inputs[0], n.Inputs[1]
	var dA, dB *Node
	switch ta, tb := n.Attrs.TransA, n.Attrs.TransB; {
	case !ta && !tb: // C = A·B
		dA, dB = b.MatMul(dC, B, false, true), b.MatMul(A, dC, true, false)
	case !ta && tb: // C = A·Bᵀ: dA = dC·B, dB = dCᵀ·A
		dA, dB = b.MatMul(dC, B, false, false), b.MatMul(dC, A, true, false)
	case ta && !tb: // C = Aᵀ·B: dA = B·dCᵀ, dB = A·dC
		dA, dB = b.MatMul(B, dC, false, true), b.MatMul(A, dC, false, false)
	default: // C = Aᵀ·Bᵀ: dA = Bᵀ·dCᵀ, dB = dCᵀ·Aᵀ
		dA, dB = b.MatMul(B, dC, true, true), b.MatMul(dC, A, true, true)
	}
	if flat := flatWeightGrad(b, n, dC); flat != nil {
		dB = flat
	}
	return []*Node{b.SumTo(dA, A.Type.Shape), b.SumTo(dB, B.Type.Shape)}
}

// flatWeightGrad: for x·W or x·Wᵀ with one matrix W for a batch of x
// ([b…, m, k]), the sum over the batch of the per-matrix gradients is one
// product of the stacked rows, dW = x̄ᵀ·dC̄ (or dC̄ᵀ·x̄ for Wᵀ), x̄ and dC̄
// the batch as [b…·m, ·]: one product with a long inner axis instead of b
// products and a sum. Nil when the shapes are not of that kind.
func flatWeightGrad(b *Builder, n, dC *Node) *Node {
	A, B := n.Inputs[0], n.Inputs[1]
	as, bs, cs := A.Type.Shape, B.Type.Shape, dC.Type.Shape
	if n.Attrs.TransA || len(bs) != 2 || len(as) <= 2 || !Shape(as[:len(as)-2]).Equal(cs[:len(cs)-2]) {
		return nil
	}
	rows := Shape(as[:len(as)-1]).Size()
	xf := b.Reshape(A, rows, as[len(as)-1])
	dCf := b.Reshape(dC, rows, cs[len(cs)-1])
	if n.Attrs.TransB { // C = x·Wᵀ: dW = dC̄ᵀ·x̄
		return b.MatMul(dCf, xf, true, false)
	}
	return b.MatMul(xf, dCf, true, false) // dW = x̄ᵀ·dC̄
}

// gradTranspose: dx = dyᵀ with the inverse permutation.
func gradTranspose(b *Builder, n, dy *Node) []*Node {
	inv := make([]int, len(n.Attrs.Perm))
	for i, p := range n.Attrs.Perm {
		inv[p] = i
	}
	return []*Node{b.Apply(OpTranspose, Attrs{Perm: inv}, dy)}
}

// gradReshape: dx = reshape(dy, shape of x)
func gradReshape(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Reshape(dy, n.Inputs[0].Type.Shape...)}
}

// gradBroadcastTo: dx = Σ over the broadcast axes of dy
func gradBroadcastTo(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.SumTo(dy, n.Inputs[0].Type.Shape)}
}

// gradSlice: dx = dy placed back at the slice's offset, zeros elsewhere.
func gradSlice(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpPad, Attrs{Starts: append([]int{}, n.Attrs.Starts...), Shape: n.Inputs[0].Type.Shape.Clone()}, dy)}
}

// gradPad: dx = the block of dy where x was placed.
func gradPad(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	ends := make([]int, len(n.Attrs.Starts))
	for i, s := range n.Attrs.Starts {
		ends[i] = s + x.Type.Shape[i]
	}
	return []*Node{b.Apply(OpSlice, Attrs{Starts: append([]int{}, n.Attrs.Starts...), Ends: ends}, dy)}
}

// gradConcat: each operand gets its block of dy.
func gradConcat(b *Builder, n, dy *Node) []*Node {
	ax := n.Attrs.Axis
	out := make([]*Node, len(n.Inputs))
	off := 0
	for i, x := range n.Inputs {
		starts := make([]int, len(dy.Type.Shape))
		ends := dy.Type.Shape.Clone()
		starts[ax], ends[ax] = off, off+x.Type.Shape[ax]
		off = ends[ax]
		out[i] = b.Apply(OpSlice, Attrs{Starts: starts, Ends: ends}, dy)
	}
	return out
}

// gradGather: dtable = scatter-add of dy into the looked-up rows; ids get none.
func gradGather(b *Builder, n, dy *Node) []*Node {
	table, ids := n.Inputs[0], n.Inputs[1]
	return []*Node{b.Apply(OpScatterAdd, Attrs{Depth: table.Type.Shape[0]}, ids, dy), nil}
}

// gradScatterAdd: dupdates = dy gathered at ids.
func gradScatterAdd(b *Builder, n, dy *Node) []*Node {
	return []*Node{nil, b.Apply(OpGather, Attrs{}, dy, n.Inputs[0])}
}

// gradSum: dx = dy broadcast back over the summed axes.
func gradSum(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	return []*Node{b.BroadcastTo(b.Reshape(dy, keepShape(x, n.Attrs.Axes)...), x.Type.Shape)}
}

// gradMean: dx = dy / count, broadcast back over the averaged axes.
func gradMean(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	count := float64(x.Type.Shape.Size()) / float64(max(n.Type.Shape.Size(), 1))
	r := b.Reshape(b.Scale(dy, nil, 1/count), keepShape(x, n.Attrs.Axes)...)
	return []*Node{b.BroadcastTo(r, x.Type.Shape)}
}

// gradMax: dy is shared evenly among the elements equal to the maximum.
func gradMax(b *Builder, n, dy *Node) []*Node {
	x := n.Inputs[0]
	keep := keepShape(x, n.Attrs.Axes)
	isMax := b.Apply(OpEqual, Attrs{}, x, b.BroadcastTo(b.Reshape(n, keep...), x.Type.Shape))
	count := b.Apply(OpSum, Attrs{Axes: append([]int{}, n.Attrs.Axes...), KeepDims: true}, b.Apply(OpCast, Attrs{To: x.Type.DType}, isMax))
	share := b.Div(b.Reshape(dy, keep...), count)
	return []*Node{b.Where(isMax, b.BroadcastTo(share, x.Type.Shape), b.zeroLike(x))}
}

// gradSoftmax: dx = y ⊙ (dy − Σ_axis dy ⊙ y)
func gradSoftmax(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpSoftmaxGrad, Attrs{Axis: n.Attrs.Axis}, n, dy)}
}

// gradLogSoftmax: dx = dy − exp(y) ⊙ Σ_axis dy
func gradLogSoftmax(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpLogSoftmaxGrad, Attrs{Axis: n.Attrs.Axis}, n, dy)}
}

// gradLayerNorm: dx = (dy − mean(dy) − x̂ ⊙ mean(dy ⊙ x̂)) / σ per row.
func gradLayerNorm(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpLayerNormGrad, Attrs{Eps: n.Attrs.Eps}, n.Inputs[0], dy)}
}

// gradRMSNorm: dx = (dy − x̂ ⊙ mean(dy ⊙ x̂)) / rms per row.
func gradRMSNorm(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpRMSNormGrad, Attrs{Eps: n.Attrs.Eps}, n.Inputs[0], dy)}
}

// gradRoPE: a rotation is orthogonal, so dx is dy rotated back by the same
// angles (the inverse rotation); no gradient flows to the position.
func gradRoPE(b *Builder, n, dy *Node) []*Node {
	a := n.Attrs.Clone()
	a.Inverse = !a.Inverse
	ins := append([]*Node{dy}, n.Inputs[1:]...)
	grads := make([]*Node, len(n.Inputs))
	grads[0] = b.Apply(OpRoPE, a, ins...)
	return grads
}

// lossScale multiplies a per-element gradient g (shaped like the loss's
// elements, plus trailing axes) by what the reduction contributes: dy/N for
// mean, dy for sum, dy per element for none. counted, when non-nil, is the
// float 0/1 mask of counted positions, already shaped to broadcast with g.
func (b *Builder) lossScale(n, dy, g, counted, countedFlat *Node) *Node {
	if counted != nil {
		g = b.Mul(g, counted)
	}
	switch n.Attrs.Reduce {
	case "none":
		d := dy
		if g.Type.Shape.Rank() > dy.Type.Shape.Rank() {
			d = b.Reshape(dy, append(dy.Type.Shape.Clone(), 1)...)
		}
		return b.Mul(g, d)
	case "sum":
		return b.Scale(g, dy, 1)
	}
	if countedFlat == nil { // mean over a static number of elements
		elems := n.Inputs[1].Type.Shape.Size()
		return b.Scale(g, dy, 1/float64(elems))
	}
	// mean over the counted positions: dy / max(Σ mask, 1)
	cnt := b.Apply(OpMaximum, Attrs{}, b.Sum(countedFlat, false), b.Scalar(g, 1))
	return b.Mul(g, b.Div(b.Scale(b.Scalar(g, 1), dy, 1), cnt))
}

// gradCrossEntropy: dz = (softmax(z) − onehot(y)) ⊙ (dy/N), N the number of
// counted positions: the simplification the reference text derives by hand.
func gradCrossEntropy(b *Builder, n, dy *Node) []*Node {
	z, t := n.Inputs[0], n.Inputs[1]
	p := b.Apply(OpSoftmax, Attrs{Axis: z.Type.Shape.Rank() - 1}, z)
	oh := b.Apply(OpOneHot, Attrs{Depth: z.Type.Shape[z.Type.Shape.Rank()-1], To: z.Type.DType}, t)
	diff := b.Sub(p, oh)
	var counted, flat *Node
	if len(n.Inputs) == 3 {
		flat = b.Apply(OpCast, Attrs{To: z.Type.DType}, n.Inputs[2])
		counted = b.Reshape(flat, append(t.Type.Shape.Clone(), 1)...)
	}
	out := []*Node{b.lossScale(n, dy, diff, counted, flat), nil}
	if len(n.Inputs) == 3 {
		out = append(out, nil)
	}
	return out
}

// gradBCE: dz = (σ(z) − y) ⊙ (dy/N), the text's simplification; dy_target = −z ⊙ (dy/N).
func gradBCE(b *Builder, n, dy *Node) []*Node {
	z, y := n.Inputs[0], n.Inputs[1]
	dz := b.lossScale(n, dy, b.Sub(b.Unary(OpSigmoid, z), y), nil, nil)
	dt := b.lossScale(n, dy, b.Neg(z), nil, nil)
	return []*Node{dz, dt}
}

// gradMSE: da = 2(a − b) ⊙ (dy/N), db = −da
func gradMSE(b *Builder, n, dy *Node) []*Node {
	da := b.lossScale(n, dy, b.Scale(b.Sub(n.Inputs[0], n.Inputs[1]), nil, 2), nil, nil)
	return []*Node{da, b.Neg(da)}
}
