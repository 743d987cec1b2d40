package codegen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// emitter writes the statements that compute node n. The table is codegen's
// half of the op table: a test walks graph.AllOps and fails on a gap.
type emitter func(f *fnGen, n *graph.Node) []jen.Code

// exprFn builds the element expression of an elementwise op from its
// operands' element expressions; the same expressions serve a standalone
// op's loop and a fused kernel's body.
type exprFn func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code

func infix(op string) exprFn {
	return func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code {
		return jen.Add(f.operand(n, a, 0)).Op(op).Add(f.operand(n, a, 1))
	}
}

// operand is n's k-th operand expression, parenthesized when it is an inline
// causal mask: j <= i is itself a comparison, which m == j <= i would take
// apart.
func (f *fnGen) operand(n *graph.Node, a []jen.Code, k int) jen.Code {
	if x := n.Inputs[k]; x.Op == graph.OpCausalMask && f.p.slots[x].region == inline {
		return jen.Parens(a[k])
	}
	return a[k]
}

func mathFn(name string) exprFn {
	return func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code { return f.mathCall(name, a[0]) }
}

func localFn(name string) exprFn {
	return func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code { return f.call64(jen.Id(name), a...) }
}

// genericFn calls a library function generic in the element type, such as
// gelu: its float32 form computes exp faster than float64 needs. Inline
// constants among the operands are converted to T, so that the type
// argument is T rather than an untyped constant's default, float64.
func genericFn(name string) exprFn {
	return func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code {
		args := slices.Clone(a)
		for i, x := range n.Inputs {
			if x.Op == graph.OpConst && f.p.slots[x].region == inline {
				args[i] = jen.Id(f.T()).Call(a[i])
			}
		}
		return jen.Id(name).Call(args...)
	}
}

// elemExprs covers every op flagged Elementwise, and BroadcastTo (a copy).
var elemExprs map[graph.Op]exprFn

// emitElementwise emits a standalone elementwise op as one loop.
func emitElementwise(f *fnGen, n *graph.Node) []jen.Code {
	e := elemExprs[n.Op]
	return f.elementwise(n, func(f *fnGen, a []jen.Code) jen.Code { return e(f, n, a) })
}

var emitters map[graph.Op]emitter

func init() {
	// Assigned in init: the expressions call back into fnGen, whose fused
	// kernels consult these tables.
	elemExprs = map[graph.Op]exprFn{
		graph.OpNeg:  func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code { return jen.Op("-").Add(a[0]) },
		graph.OpExp:  mathFn("Exp"),
		graph.OpLog:  mathFn("Log"),
		graph.OpSqrt: mathFn("Sqrt"),
		graph.OpRsqrt: func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code {
			return f.toT(jen.Lit(1).Op("/").Qual("math", "Sqrt").Call(f.to64(a[0])))
		},
		graph.OpTanh:    mathFn("Tanh"),
		graph.OpSigmoid: genericFn("sigmoid"),
		graph.OpReLU:    func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code { return jen.Id("max").Call(a[0], jen.Lit(0)) },
		graph.OpGELU:    genericFn("gelu"),
		graph.OpGELUErf: genericFn("geluErf"),
		graph.OpAbs:     mathFn("Abs"),
		graph.OpErf:     mathFn("Erf"),
		graph.OpPow:     powExpr,
		graph.OpCast:    castExpr,

		graph.OpAdd:     infix("+"),
		graph.OpSub:     infix("-"),
		graph.OpMul:     infix("*"),
		graph.OpDiv:     infix("/"),
		graph.OpMaximum: localFn("maxNaN"),
		graph.OpMinimum: localFn("minNaN"),

		graph.OpLess:         infix("<"),
		graph.OpLessEqual:    infix("<="),
		graph.OpGreater:      infix(">"),
		graph.OpGreaterEqual: infix(">="),
		graph.OpEqual:        infix("=="),
		graph.OpNotEqual:     infix("!="),
		graph.OpAnd:          infix("&&"),
		graph.OpOr:           infix("||"),
		graph.OpNot:          func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code { return jen.Op("!").Add(f.operand(n, a, 0)) },
		graph.OpWhere:        func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code { return jen.Id("where").Call(a[0], a[1], a[2]) },
		graph.OpGELUGrad:     genericFn("geluGrad"),
		graph.OpGELUErfGrad:  genericFn("geluErfGrad"),
		graph.OpBroadcastTo:  func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code { return a[0] },
		graph.OpRoundBF16: func(f *fnGen, n *graph.Node, a []jen.Code) jen.Code {
			if f.f32() {
				return jen.Id("roundBF16").Call(a[0])
			}
			return jen.Float64().Call(jen.Id("roundBF16").Call(jen.Float32().Call(a[0])))
		},
	}
	emitters = map[graph.Op]emitter{
		graph.OpMatMul:     emitMatMul,
		graph.OpQMatMul:    emitQMatMul,
		graph.OpTranspose:  emitTranspose,
		graph.OpReshape:    emitReshape,
		graph.OpSlice:      emitSlice,
		graph.OpPad:        emitPad,
		graph.OpConcat:     emitConcat,
		graph.OpGather:     emitGather,
		graph.OpScatterAdd: emitScatterAdd,
		graph.OpOneHot:     emitOneHot,
		graph.OpIm2Col:     emitIm2Col,
		graph.OpCol2Im:     emitCol2Im,

		graph.OpSum:    emitReduce,
		graph.OpMean:   emitReduce,
		graph.OpMax:    emitReduce,
		graph.OpArgMax: emitArgMax,

		graph.OpSoftmax:        emitSoftmax,
		graph.OpLogSoftmax:     emitSoftmax,
		graph.OpSoftmaxGrad:    emitSoftmaxGrad,
		graph.OpLogSoftmaxGrad: emitSoftmaxGrad,
		graph.OpLayerNorm:      emitLayerNorm,
		graph.OpLayerNormGrad:  emitLayerNormGrad,

		graph.OpDropoutMask: emitDropoutMask,

		graph.OpCrossEntropy:  emitCrossEntropy,
		graph.OpBCEWithLogits: emitLoss2("bceWithLogits"),
		graph.OpMSE:           emitLoss2("mse"),

		graph.OpApplySGD:         emitApplySGD,
		graph.OpApplyMomentum:    emitApplyMomentum,
		graph.OpApplyEMAMomentum: emitApplyMomentum,
		graph.OpApplyRMSProp:     emitApplyRMSProp,
		graph.OpApplyAdam:        emitApplyAdam,
		graph.OpAssign:           emitAssign,
		graph.OpLRSchedule:       emitLRSchedule,
		graph.OpGlobalNorm:       emitGlobalNorm,
		graph.OpAttendCache:      emitAttendCache,
		graph.OpCacheWrite:       emitCacheWrite,

		graph.OpRMSNorm:     emitRMSNorm,
		graph.OpRMSNormGrad: emitRMSNormGrad,
		graph.OpRoPE:        emitRoPE,
	}
	for op := range elemExprs {
		emitters[op] = emitElementwise
	}
	emitters[graph.OpCast] = emitCast
	emitters[graph.OpGELU] = emitGELU
	emitters[graph.OpGELUGrad] = emitGELU
}

// emitGELU emits a GELU (or its gradient) that no fusion group holds (its
// input is stored for another reader, bf16 storage's cast for one) as a
// group of its own, so that float32 runs it on the vector kernel
// (vectorTail: geluRow, geluGradRow) rather than as a scalar loop.
func emitGELU(f *fnGen, n *graph.Node) []jen.Code {
	grp := &graph.FusionGroup{Kind: "elementwise", Nodes: []*graph.Node{n}, Results: []*graph.Node{n}}
	if vec, _ := vectorTail(f, grp, n.Type.Shape); vec == nil {
		return emitElementwise(f, n)
	}
	return f.emitGroup(grp)
}

func powExpr(f *fnGen, n *graph.Node, a []jen.Code) jen.Code {
	if n.Attrs.Exponent == 2 {
		return jen.Add(a[0]).Op("*").Add(a[0])
	}
	return f.call64(jen.Qual("math", "Pow"), a[0], f.lit(n.Attrs.Exponent))
}

func castExpr(f *fnGen, n *graph.Node, a []jen.Code) jen.Code {
	from, to := n.Inputs[0].Type.DType, n.Type.DType
	switch {
	case isBF16Cast(n):
		return bf16CastExpr(f, n, a)
	case to == graph.Bool && from == graph.Bool:
		return a[0]
	case to == graph.Bool:
		return jen.Add(a[0]).Op("!=").Lit(0)
	case from == graph.Bool:
		return jen.Id("where").Call(a[0], jen.Id(f.goType(to)).Call(jen.Lit(1)), jen.Lit(0))
	}
	return jen.Id(f.goType(to)).Call(a[0])
}

// emitMatMul calls the GEMM kernels once per batch matrix, with the
// operands' offsets. The static shapes decide at compile time between the
// unpacked small-matrix kernel (no pool, the caller's goroutine) and the
// blocked, packed kernel that may run on the Model's worker pool.
func emitMatMul(f *fnGen, n *graph.Node) []jen.Code {
	A, B := n.Inputs[0], n.Inputs[1]
	as, bs, os := A.Type.Shape, B.Type.Shape, n.Type.Shape
	ta, tb, m, nn, k := matmulDims(n)
	lda, ldb := as[len(as)-1], bs[len(bs)-1]
	aSize, bSize := as[len(as)-2]*as[len(as)-1], bs[len(bs)-2]*bs[len(bs)-1]
	small := f.g.smallGemm(ta, tb, m, nn, k)
	bf16 := f.g.bf16Product(n) // operands rounded while packing (bf16.go)
	onThread := "GemmOnThread"
	if bf16 {
		A, B = f.g.bf16Operand(A), f.g.bf16Operand(B)
		onThread = "GemmBF16OnThread"
	}
	call := func(c, a, b jen.Code) jen.Code {
		args := []jen.Code{jen.Lit(ta), jen.Lit(tb), jen.Lit(m), jen.Lit(nn), jen.Lit(k), a, jen.Lit(lda), b, jen.Lit(ldb), c, jen.Lit(nn), jen.False()}
		switch {
		case bf16:
			return jen.Id(internal("GemmBF16")).Call(append([]jen.Code{jen.Id("m").Dot("pool")}, args...)...)
		case small:
			return jen.Id(internal("GemmSmall")).Call(args...)
		}
		return jen.Id(internal("Gemm")).Call(append([]jen.Code{jen.Id("m").Dot("pool")}, args...)...)
	}
	batch := os[:len(os)-2]
	if batch.Size() == 1 || flatBatch(n) {
		if m*nn*k <= inlineMaxWork && !bf16 {
			return inlineProduct(f, n, ta, tb, m, nn, k, lda, ldb)
		}
		return []jen.Code{call(f.ref(n), f.ref(A), f.ref(B))}
	}
	// One loop over the batch; each operand steps by its matrix size or, where
	// it is broadcast, by the stride its own batch axes give.
	aIdx := batchIndex(as[:len(as)-2], batch)
	bIdx := batchIndex(bs[:len(bs)-2], batch)
	if f.g.splits(batch.Size()*m*nn*k, parallelMinWork) {
		// The matrices are independent: the pool's threads take ranges of
		// them, each multiplying on its own packing buffers.
		lf := f.kernelGen()
		slice := batchSlice(lf)
		args := []jen.Code{jen.Id("m").Dot("pool"), jen.Id("thread"), jen.Lit(ta), jen.Lit(tb), jen.Lit(m), jen.Lit(nn), jen.Lit(k),
			slice(A, aIdx, aSize), jen.Lit(lda), slice(B, bIdx, bSize), jen.Lit(ldb), lf.ref(n).Index(jen.Id("b*" + strconv.Itoa(m*nn)).Op(":")), jen.Lit(nn), jen.False()}
		body := []jen.Code{jen.For(jen.Id("b").Op(":=").Id("lo"), jen.Id("b").Op("<").Id("hi"), jen.Id("b").Op("++")).Block(jen.Id(internal(onThread)).Call(args...))}
		name := f.g.kernelNames.take("batched" + exported(f.nm.name(n)))
		doc := fmt.Sprintf("%s is the batched product %s = %s over %d matrices of %s; the pool's threads\nrun it over ranges [lo, hi) of the matrices.", name, f.nm.name(n), f.math(n, 0), batch.Size(), n.Type)
		if call, ok := f.addParallel(lf, name, batch.Size(), body, doc); ok {
			return call
		}
	}
	slice := batchSlice(f)
	c := f.ref(n).Index(jen.Id("b*" + strconv.Itoa(m*nn)).Op(":"))
	return []jen.Code{jen.For(jen.Id("b").Op(":=").Range().Lit(batch.Size())).Block(
		call(c, slice(A, aIdx, aSize), slice(B, bIdx, bSize)),
	)}
}

// emitQMatMul calls the low-precision product of codegen/kernels
// (lowp_gemv.go): the weights widen to float32 in registers, one row of x
// at a time.
func emitQMatMul(f *fnGen, n *graph.Node) []jen.Code {
	x, w := n.Inputs[0], n.Inputs[1]
	k, nn := w.Type.Shape[0], w.Type.Shape[1]
	if n.Attrs.TransB {
		k, nn = nn, k
	}
	m := x.Type.Shape.Size() / k
	if w.Type.DType == graph.I8 {
		return []jen.Code{jen.Id(internal("QMatMulI8")).Call(jen.Lit(m), jen.Lit(nn), jen.Lit(k), jen.Lit(n.Attrs.TransB), f.ref(x), f.ref(w), f.ref(n.Inputs[2]), f.ref(n))}
	}
	return []jen.Code{jen.Id(internal("QMatMulBF16")).Call(jen.Lit(m), jen.Lit(nn), jen.Lit(k), jen.Lit(n.Attrs.TransB), f.ref(x), f.ref(w), f.ref(n))}
}

// batchSlice returns how a batched product's matrix b reads an operand x:
// x from its batch index idx (an expression of b) times its matrix size.
func batchSlice(f *fnGen) func(x *graph.Node, idx string, size int) jen.Code {
	return func(x *graph.Node, idx string, size int) jen.Code {
		if idx == "0" {
			return f.ref(x)
		}
		off := "(" + idx + ")*" + strconv.Itoa(size)
		if idx == "b" {
			off = "b*" + strconv.Itoa(size)
		}
		return f.ref(x).Index(jen.Id(off).Op(":"))
	}
}

// inlineMaxWork is the largest product, in multiply-adds, written inline as
// loops rather than as a call to the matrix kernels: below it a call's
// argument checks and dispatch cost more than the arithmetic (XOR's four
// products of at most 4×4×4 took three quarters of its train step in
// GemmSmall).
const inlineMaxWork = 8 * 8 * 8

// inlineUnrollMax is the longest inner dimension whose dot products are
// written out as one sum rather than a loop.
const inlineUnrollMax = 4

// inlineProduct writes C = op(A)·op(B) (m×nn, inner dimension k) as loops
// over the elements of C, each a dot product written out when k is at
// most inlineUnrollMax.
func inlineProduct(f *fnGen, n *graph.Node, ta, tb bool, m, nn, k, lda, ldb int) []jen.Code {
	A, B, C := f.ref(n.Inputs[0]), f.ref(n.Inputs[1]), f.ref(n)
	i, j := "i", "j"
	if m == 1 {
		i = ""
	}
	if nn == 1 {
		j = ""
	}
	aAt := func(p string) string { // op(A)[i, p]
		if ta {
			return matIndex(p, i, lda)
		}
		return matIndex(i, p, lda)
	}
	bAt := func(p string) string { // op(B)[p, j]
		if tb {
			return matIndex(j, p, ldb)
		}
		return matIndex(p, j, ldb)
	}
	var elem jen.Code
	if k <= inlineUnrollMax {
		var sum *jen.Statement
		for p := range k {
			term := jen.Add(A.Clone()).Index(jen.Id(aAt(strconv.Itoa(p)))).Op("*").Add(B.Clone()).Index(jen.Id(bAt(strconv.Itoa(p))))
			if sum == nil {
				sum = term
			} else {
				sum = sum.Op("+").Add(term)
			}
		}
		elem = jen.Add(C.Clone()).Index(jen.Id(matIndex(i, j, nn))).Op("=").Add(sum)
	} else {
		elem = jen.Block(
			jen.Var().Id("s").Id(f.T()),
			jen.For(jen.Id("p").Op(":=").Range().Lit(k)).Block(
				jen.Id("s").Op("+=").Add(A.Clone()).Index(jen.Id(aAt("p"))).Op("*").Add(B.Clone()).Index(jen.Id(bAt("p"))),
			),
			jen.Add(C.Clone()).Index(jen.Id(matIndex(i, j, nn))).Op("=").Id("s"),
		)
	}
	if j != "" {
		elem = jen.For(jen.Id(j).Op(":=").Range().Lit(nn)).Block(elem)
	}
	if i != "" {
		elem = jen.For(jen.Id(i).Op(":=").Range().Lit(m)).Block(elem)
	}
	return []jen.Code{elem}
}

// matIndex is the index of element (r, c) of a row-major matrix with
// leading dimension ld, as source: r and c are each a loop variable, a
// number (folded into one constant) or "" for an axis of one element.
func matIndex(r, c string, ld int) string {
	var terms []string
	k := 0
	for _, t := range []struct {
		v     string
		scale int
	}{{r, ld}, {c, 1}} {
		if n, err := strconv.Atoi(t.v); err == nil {
			k += n * t.scale
		} else if t.v != "" {
			terms = append(terms, scaled(t.v, t.scale))
		}
	}
	if k != 0 || len(terms) == 0 {
		terms = append(terms, strconv.Itoa(k))
	}
	return strings.Join(terms, "+")
}

// batchIndex is the batch-matrix index of an operand with batch shape s for
// output batch index b over batch shape out (as an expression of b).
func batchIndex(s, out graph.Shape) string {
	if s.Size() == 1 {
		return "0"
	}
	if s.Equal(out) {
		return "b"
	}
	// Decompose b into per-axis indices, then recompose with s's strides.
	ost, sst := out.Strides(), s.Strides()
	expr := ""
	for d := range out {
		j := d - (len(out) - len(s))
		if j < 0 || s[j] == 1 {
			continue
		}
		term := "b/" + strconv.Itoa(ost[d]) + "%" + strconv.Itoa(out[d])
		if sst[j] != 1 {
			term = "(" + term + ")*" + strconv.Itoa(sst[j])
		}
		if expr != "" {
			expr += " + "
		}
		expr += term
	}
	return expr
}

func emitTranspose(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	in, out := x.Type.Shape, n.Type.Shape
	ist := in.Strides()
	if r := len(out); r >= 2 && n.Attrs.Perm[r-1] == r-1 && out[r-1] >= transposeCopyMin && graph.Shape(out[:r-1]).Size() > 1 {
		return f.transposeRows(n, x)
	}
	return f.loopKernel("transpose", n, out, false, func(f *fnGen) func(vars []string, idx string) []jen.Code {
		return func(vars []string, _ string) []jen.Code {
			var terms []string
			for d, ax := range n.Attrs.Perm {
				if out[d] == 1 {
					continue
				}
				terms = append(terms, scaled(vars[d], ist[ax]))
			}
			return []jen.Code{f.ref(n).Index(jen.Id(indexExpr(out, out, vars))).Op("=").Add(f.ref(x).Index(jen.Id(join(terms))))}
		}
	})
}

// transposeCopyMin is the shortest last axis that a transpose keeping it
// last moves with copy, a row at a time, rather than element by element.
const transposeCopyMin = 8

// transposeRows emits a transpose that keeps the last axis last (splitting
// or merging attention heads): loops over the other axes, each moving one
// contiguous row with copy, on the pool's threads when the whole transpose
// is large enough.
func (f *fnGen) transposeRows(n, x *graph.Node) []jen.Code {
	in, out := x.Type.Shape, n.Type.Shape
	ist, ost := in.Strides(), out.Strides()
	r := len(out)
	row, outer := out[r-1], out[:r-1]
	body := func(f *fnGen) func(vars []string, idx string) []jen.Code {
		return func(vars []string, _ string) []jen.Code {
			var dst, src []string
			for d := range outer {
				if outer[d] != 1 {
					dst = append(dst, scaled(vars[d], ost[d]))
					src = append(src, scaled(vars[d], ist[n.Attrs.Perm[d]]))
				}
			}
			slice := func(v *jen.Statement, terms []string) jen.Code {
				start := join(terms)
				return v.Index(jen.Id(start).Op(":").Id(join(append(terms, strconv.Itoa(row)))))
			}
			return []jen.Code{jen.Copy(slice(f.ref(n), dst), slice(f.ref(x), src))}
		}
	}
	if f.g.splits(out.Size(), parallelMinElems) {
		lf := f.kernelGen()
		nest, extent := rangedLoops(outer, false, body(lf))
		name := f.g.kernelNames.take("transpose" + exported(f.nm.name(n)))
		doc := fmt.Sprintf("%s computes %s = %s over [lo, hi) of its\noutermost loop (%d), a row of %d at a time, on a thread of the pool.", name, f.nm.name(n), f.math(n, 0), extent, row)
		if call, ok := f.addParallel(lf, name, extent, []jen.Code{nest}, doc); ok {
			return call
		}
	}
	return []jen.Code{loops(outer, false, body(f))}
}

func scaled(v string, stride int) string {
	if stride == 1 {
		return v
	}
	return v + "*" + strconv.Itoa(stride)
}

func join(terms []string) string {
	if len(terms) == 0 {
		return "0"
	}
	s := terms[0]
	for _, t := range terms[1:] {
		s += " + " + t
	}
	return s
}

func emitReshape(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	if f.p.slots[n] == f.p.slots[x] {
		return nil // shares the operand's storage: nothing to do
	}
	if f.p.slots[x].region == inline {
		return f.elementwise(n, func(f *fnGen, a []jen.Code) jen.Code { return f.elem(x, graph.Shape{}, nil, "0") })
	}
	return []jen.Code{jen.Copy(f.ref(n), f.ref(x))}
}

func emitSlice(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	in, out := x.Type.Shape, n.Type.Shape
	ist := in.Strides()
	return []jen.Code{loops(out, false, func(vars []string, _ string) []jen.Code {
		var terms []string
		off := 0
		for d := range out {
			off += n.Attrs.Starts[d] * ist[d]
			if out[d] != 1 {
				terms = append(terms, scaled(vars[d], ist[d]))
			}
		}
		if off != 0 {
			terms = append(terms, strconv.Itoa(off))
		}
		return []jen.Code{f.ref(n).Index(jen.Id(indexExpr(out, out, vars))).Op("=").Add(f.ref(x).Index(jen.Id(join(terms))))}
	})}
}

func emitPad(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	in, out := x.Type.Shape, n.Type.Shape
	ost := out.Strides()
	return []jen.Code{jen.Clear(f.ref(n)), loops(in, false, func(vars []string, _ string) []jen.Code {
		var terms []string
		off := 0
		for d := range in {
			off += n.Attrs.Starts[d] * ost[d]
			if in[d] != 1 {
				terms = append(terms, scaled(vars[d], ost[d]))
			}
		}
		if off != 0 {
			terms = append(terms, strconv.Itoa(off))
		}
		return []jen.Code{f.ref(n).Index(jen.Id(join(terms))).Op("=").Add(f.elem(x, in, vars, ""))}
	})}
}

func emitConcat(f *fnGen, n *graph.Node) []jen.Code {
	ax := n.Attrs.Axis
	out := n.Type.Shape
	ost := out.Strides()
	var stmts []jen.Code
	at := 0
	for _, x := range n.Inputs {
		in := x.Type.Shape
		base := at * ost[ax]
		stmts = append(stmts, loops(in, false, func(vars []string, _ string) []jen.Code {
			var terms []string
			for d := range in {
				if in[d] != 1 {
					terms = append(terms, scaled(vars[d], ost[d]))
				}
			}
			if base != 0 {
				terms = append(terms, strconv.Itoa(base))
			}
			return []jen.Code{f.ref(n).Index(jen.Id(join(terms))).Op("=").Add(f.elem(x, in, vars, ""))}
		}))
		at += in[ax]
	}
	return stmts
}

// indexCheck runs a helper that returns the position of a bad index (or −1)
// and turns a bad one into the error the interpreter gives.
func indexCheck(call jen.Code, n *graph.Node, what string, ids *jen.Statement, limit int) jen.Code {
	return jen.If(jen.Id("p").Op(":=").Add(call), jen.Id("p").Op(">=").Lit(0)).Block(
		errorf(posPrefix(n)+n.Op.String()+": "+what+" %d at position %d is outside [0, "+strconv.Itoa(limit)+")", ids.Index(jen.Id("p")), jen.Id("p")),
	)
}

func emitGather(f *fnGen, n *graph.Node) []jen.Code {
	table, ids := n.Inputs[0], n.Inputs[1]
	v := table.Type.Shape[0]
	row := graph.Shape(table.Type.Shape[1:]).Size()
	call := jen.Id("gather").Call(f.ref(n), f.ref(table), f.ref(ids), jen.Lit(row), jen.Lit(v))
	return []jen.Code{indexCheck(call, n, "id", f.ref(ids), v)}
}

func emitScatterAdd(f *fnGen, n *graph.Node) []jen.Code {
	ids, upd := n.Inputs[0], n.Inputs[1]
	v := n.Attrs.Depth
	row := graph.Shape(n.Type.Shape[1:]).Size()
	call := jen.Id("scatterAdd").Call(f.ref(n), f.ref(upd), f.ref(ids), jen.Lit(row), jen.Lit(v))
	return []jen.Code{indexCheck(call, n, "id", f.ref(ids), v)}
}

func emitOneHot(f *fnGen, n *graph.Node) []jen.Code {
	ids := n.Inputs[0]
	call := jen.Id("oneHot").Call(f.ref(n), f.ref(ids), jen.Lit(n.Attrs.Depth))
	return []jen.Code{indexCheck(call, n, "id", f.ref(ids), n.Attrs.Depth)}
}

// colSumMinElems is the smallest sum over leading axes that emitReduce
// hands to colSums rather than writing the loops inline.
const colSumMinElems = 4096

// emitReduce writes a loop nest: kept axes outside, reduced axes inside,
// accumulating in float64.
func emitReduce(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	in := x.Type.Shape
	reduced := func(d int) bool {
		if len(n.Attrs.Axes) == 0 {
			return true
		}
		for _, a := range n.Attrs.Axes {
			if a == d {
				return true
			}
		}
		return false
	}
	var keep, red []int
	for d := range in {
		if reduced(d) {
			red = append(red, d)
		} else {
			keep = append(keep, d)
		}
	}
	vars := make([]string, len(in))
	for d := range in {
		vars[d] = loopVar(d)
	}
	ist := in.Strides()
	// output index: kept axes with the output's strides
	outShape := graph.Shape{}
	for _, d := range keep {
		outShape = append(outShape, in[d])
	}
	ost := outShape.Strides()
	var oterms, iterms []string
	for i, d := range keep {
		if in[d] != 1 {
			oterms = append(oterms, scaled(vars[d], ost[i]))
		}
	}
	for d := range in {
		if in[d] != 1 {
			iterms = append(iterms, scaled(vars[d], ist[d]))
		}
	}
	// outer is the outermost kept axis with a loop, which the pool's
	// threads split when the reduction is large (each output element is
	// still summed in the same order, by one thread).
	outer := -1
	for _, d := range keep {
		if in[d] != 1 {
			outer = d
			break
		}
	}
	build := func(f *fnGen, ranged bool) jen.Code {
		read := f.to64(f.ref(x).Index(jen.Id(join(iterms))))
		var init jen.Code = jen.Lit(0.0)
		var acc jen.Code = jen.Id("s").Op("+=").Add(read)
		if n.Op == graph.OpMax {
			init = jen.Qual("math", "Inf").Call(jen.Lit(-1))
			acc = jen.Id("s").Op("=").Id("maxNaN").Call(jen.Id("s"), read)
		}
		var result jen.Code = jen.Id("s")
		if n.Op == graph.OpMean {
			cnt := 1
			for _, d := range red {
				cnt *= in[d]
			}
			result = jen.Id("s").Op("/").Lit(float64(cnt))
		}
		// inner reduced loops
		var inner jen.Code = acc
		for i := len(red) - 1; i >= 0; i-- {
			d := red[i]
			if in[d] == 1 {
				continue
			}
			inner = jen.For(jen.Id(vars[d]).Op(":=").Range().Lit(in[d])).Block(inner)
		}
		body := []jen.Code{
			jen.Id("s").Op(":=").Add(init),
			inner,
			f.ref(n).Index(jen.Id(join(oterms))).Op("=").Add(f.toT(result)),
		}
		if f.f32() {
			body[0] = jen.Var().Id("s").Float64().Op("=").Add(init)
		}
		// outer kept loops; axes of size one need no loop
		header := func(d int) jen.Code {
			if ranged && d == outer {
				return jen.Id(vars[d]).Op(":=").Id("lo").Op(";").Id(vars[d]).Op("<").Id("hi").Op(";").Id(vars[d]).Op("++")
			}
			return jen.Id(vars[d]).Op(":=").Range().Lit(in[d])
		}
		var nest jen.Code = jen.Block(body...)
		first := true
		for i := len(keep) - 1; i >= 0; i-- {
			d := keep[i]
			if in[d] == 1 {
				continue
			}
			if first {
				nest = jen.For(header(d)).Block(body...)
				first = false
			} else {
				nest = jen.For(header(d)).Block(nest)
			}
		}
		return nest
	}
	// A sum or mean over leading axes (a bias's gradient: rows × columns,
	// summed down the columns) goes to colSums, which sums each column in
	// the nest's order, bit for bit, but reads the rows in order and runs
	// the columns' sums side by side.
	// Small ones (an XOR network's) keep the inline loops.
	colSum := len(red) > 0 && outer >= 0 && n.Op != graph.OpMax && in.Size() >= colSumMinElems
	for i, d := range red {
		colSum = colSum && d == i
	}
	if colSum {
		rows := graph.Shape(in[:len(red)]).Size()
		cols := in.Size() / rows
		span := graph.Shape(in[outer+1:]).Size() // columns per index of the outer kept axis
		build = func(f *fnGen, ranged bool) jen.Code {
			lo, hi := jen.Lit(0), jen.Lit(cols)
			if ranged && span == 1 {
				lo, hi = jen.Id("lo"), jen.Id("hi")
			} else if ranged {
				lo, hi = jen.Id("lo").Op("*").Lit(span), jen.Id("hi").Op("*").Lit(span)
			}
			return jen.Id("colSums").Call(f.ref(n), f.ref(x), jen.Lit(rows), jen.Lit(cols), lo, hi, jen.Lit(n.Op == graph.OpMean))
		}
	}
	if outer >= 0 && f.g.splits(in.Size(), parallelMinElems) {
		lf := f.kernelGen()
		nest := build(lf, true)
		name := f.g.kernelNames.take("reduce" + exported(f.nm.name(n)))
		doc := fmt.Sprintf("%s computes %s = %s over [lo, hi) of its\n%d outputs along axis %d, on a thread of the pool.", name, f.nm.name(n), f.math(n, 0), in[outer], outer)
		if call, ok := f.addParallel(lf, name, in[outer], []jen.Code{nest}, doc); ok {
			return call
		}
	}
	return []jen.Code{build(f, false)}
}

func axisDims(s graph.Shape, axis int) (outer, n, inner int) {
	return graph.Shape(s[:axis]).Size(), s[axis], graph.Shape(s[axis+1:]).Size()
}

func emitArgMax(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	o, k, i := axisDims(x.Type.Shape, n.Attrs.Axis)
	return []jen.Code{jen.Id("argmax").Call(f.ref(n), f.ref(x), jen.Lit(o), jen.Lit(k), jen.Lit(i))}
}

func emitSoftmax(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	o, k, i := axisDims(x.Type.Shape, n.Attrs.Axis)
	return f.rowKernel("softmax", "softmax"+exported(f.nm.name(n)), o, o*k*i,
		[]rowArg{byRow(n, k*i), byRow(x, k*i), rowCount, litArg(jen.Lit(k)), litArg(jen.Lit(i)), litArg(jen.Lit(n.Op == graph.OpLogSoftmax))})
}

func emitSoftmaxGrad(f *fnGen, n *graph.Node) []jen.Code {
	y, dy := n.Inputs[0], n.Inputs[1]
	o, k, i := axisDims(y.Type.Shape, n.Attrs.Axis)
	return f.rowKernel("softmaxGrad", "softmaxGrad"+exported(f.nm.name(n)), o, o*k*i,
		[]rowArg{byRow(n, k*i), byRow(y, k*i), byRow(dy, k*i), rowCount, litArg(jen.Lit(k)), litArg(jen.Lit(i)), litArg(jen.Lit(n.Op == graph.OpLogSoftmaxGrad))})
}

func rowsOf(s graph.Shape) (rows, d int) {
	d = s[len(s)-1]
	return s.Size() / d, d
}

func emitLayerNorm(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	rows, d := rowsOf(x.Type.Shape)
	return f.rowKernel("layerNorm", "layerNorm"+exported(f.nm.name(n)), rows, rows*d,
		[]rowArg{byRow(n, d), byRow(x, d), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(n.Attrs.Eps))})
}

func emitLayerNormGrad(f *fnGen, n *graph.Node) []jen.Code {
	x, dy := n.Inputs[0], n.Inputs[1]
	rows, d := rowsOf(x.Type.Shape)
	return f.rowKernel("layerNormGrad", "layerNormGrad"+exported(f.nm.name(n)), rows, rows*d,
		[]rowArg{byRow(n, d), byRow(x, d), byRow(dy, d), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(n.Attrs.Eps))})
}

func emitRMSNorm(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	rows, d := rowsOf(x.Type.Shape)
	return f.rowKernel("rmsNorm", "rmsNorm"+exported(f.nm.name(n)), rows, rows*d,
		[]rowArg{byRow(n, d), byRow(x, d), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(n.Attrs.Eps))})
}

func emitRMSNormGrad(f *fnGen, n *graph.Node) []jen.Code {
	x, dy := n.Inputs[0], n.Inputs[1]
	rows, d := rowsOf(x.Type.Shape)
	return f.rowKernel("rmsNormGrad", "rmsNormGrad"+exported(f.nm.name(n)), rows, rows*d,
		[]rowArg{byRow(n, d), byRow(x, d), byRow(dy, d), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(n.Attrs.Eps))})
}

// emitRoPE calls the library's rope over the [lead, T, d] blocks of x; the
// angles of a row are computed once for all lead blocks. With a position
// operand (decoding) the first row is at offset + pos (pos[b] for sequence
// b with a position per sequence). Large enough, the
// pool's threads take ranges of the T positions.
func emitRoPE(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	s := x.Type.Shape
	r := s.Rank()
	t, d := s[r-2], s[r-1]
	call := func(f *fnGen, lo, hi jen.Code) jen.Code {
		var start jen.Code = jen.Lit(n.Attrs.Offset)
		if len(n.Inputs) == 2 {
			start = plusLit(jen.Int().Call(f.ref(n.Inputs[1]).Index(jen.Lit(0))), n.Attrs.Offset)
		}
		return jen.Id("rope").Call(f.ref(n), f.ref(x), jen.Lit(s.Size()/(t*d)), jen.Lit(t), jen.Lit(d), start, lo, hi,
			jen.Id(graph.FormatFloat(n.Attrs.Theta)), jen.Lit(n.Attrs.Interleaved), jen.Lit(n.Attrs.Inverse))
	}
	if len(n.Inputs) == 2 && seqs(n.Inputs[1]) > 1 {
		// A position per sequence (decoding a batch): sequence b's blocks
		// start at offset + pos[b].
		B := seqs(n.Inputs[1])
		size := s.Size() / B
		at := func(x *graph.Node) jen.Code {
			return f.ref(x).Index(jen.Id("b").Op("*").Lit(size).Op(":").Parens(jen.Id("b").Op("+").Lit(1)).Op("*").Lit(size))
		}
		start := plusLit(jen.Int().Call(jen.Id("p")), n.Attrs.Offset)
		return []jen.Code{jen.For(jen.List(jen.Id("b"), jen.Id("p")).Op(":=").Range().Add(f.ref(n.Inputs[1]))).Block(
			jen.Id("rope").Call(at(n), at(x), jen.Lit(size/(t*d)), jen.Lit(t), jen.Lit(d), start, jen.Lit(0), jen.Lit(t),
				jen.Id(graph.FormatFloat(n.Attrs.Theta)), jen.Lit(n.Attrs.Interleaved), jen.Lit(n.Attrs.Inverse)),
		)}
	}
	if t >= 2 && f.g.splits(s.Size(), parallelMinElems) {
		kf := f.kernelGen()
		body := []jen.Code{call(kf, jen.Id("lo"), jen.Id("hi"))}
		name := f.g.kernelNames.take("rope" + exported(f.nm.name(n)))
		doc := fmt.Sprintf("%s runs rope over positions [lo, hi) of %d on a thread of the pool.", name, t)
		if c, ok := f.addParallel(kf, name, t, body, doc); ok {
			return c
		}
	}
	return []jen.Code{call(f, jen.Lit(0), jen.Lit(t))}
}

// lossOut is how a loss writes its result: the scalar into out[0], or with
// reduce=none the per-element values into out.
func (f *fnGen) lossOut(n *graph.Node) (perElem jen.Code, scalar bool) {
	if n.Attrs.Reduce == "none" {
		return f.ref(n), false
	}
	return jen.Nil(), true
}

func emitCrossEntropy(f *fnGen, n *graph.Node) []jen.Code {
	z, t := n.Inputs[0], n.Inputs[1]
	rows, c := rowsOf(z.Type.Shape)
	var mask jen.Code = jen.Nil()
	if len(n.Inputs) == 3 {
		mask = f.ref(n.Inputs[2])
	}
	per, scalar := f.lossOut(n)
	if code, ok := f.splitCrossEntropy(n, rows, c); ok {
		return code
	}
	call := jen.Id("crossEntropy").Call(f.ref(z), f.ref(t), mask, jen.Lit(rows), jen.Lit(c), jen.Lit(n.Attrs.Reduce), per)
	lhs := jen.Id("_")
	if scalar {
		lhs = jen.Id("l")
	}
	stmts := []jen.Code{
		jen.List(lhs, jen.Id("p")).Op(":=").Add(call),
		jen.If(jen.Id("p").Op(">=").Lit(0)).Block(
			errorf(posPrefix(n)+"CrossEntropy: target %d at position %d is outside [0, "+strconv.Itoa(c)+")", f.ref(t).Index(jen.Id("p")), jen.Id("p")),
		),
	}
	if scalar {
		stmts = append(stmts, f.ref(n).Index(jen.Lit(0)).Op("=").Add(f.toT(jen.Id("l"))))
	}
	return []jen.Code{jen.Block(stmts...)}
}

// splitCrossEntropy is a reduced cross-entropy large enough to split: the
// targets checked first (a range cannot fail), each row's loss computed
// on the pool's threads into m.xent, then summed in row order, so the
// result is crossEntropy's to the bit. The kernel reads the targets and
// the mask from their arenas directly, as its views hold floats only.
func (f *fnGen) splitCrossEntropy(n *graph.Node, rows, c int) ([]jen.Code, bool) {
	z, t := n.Inputs[0], n.Inputs[1]
	if n.Attrs.Reduce == "none" || f.g.xentRows < rows || rows < 2 || !f.g.splits(rows*c, parallelMinElems) {
		return nil, false
	}
	var kmask, mask jen.Code = jen.Nil(), jen.Nil()
	for i, x := range n.Inputs[1:] {
		if f.p.slots[x].region != inArena {
			return nil, false
		}
		if i == 1 {
			kmask, mask = f.g.sliceOf(f.p.slots[x]), f.ref(x)
		}
	}
	kf := f.kernelGen()
	body := []jen.Code{jen.Id("crossEntropyRows").Call(kf.ref(z), f.g.sliceOf(f.p.slots[t]), kmask, jen.Id("lo"), jen.Id("hi"), jen.Lit(c), jen.Id("m").Dot("xent"))}
	name := f.g.kernelNames.take("xent" + exported(f.nm.name(n)))
	doc := fmt.Sprintf("%s computes the cross-entropy of rows [lo, hi) of %d into m.xent on a thread of the pool.", name, rows)
	call, ok := f.addParallel(kf, name, rows, body, doc)
	if !ok {
		return nil, false
	}
	stmts := []jen.Code{
		jen.If(jen.Id("p").Op(":=").Id("crossEntropyCheck").Call(f.ref(t), mask, jen.Lit(rows), jen.Lit(c)), jen.Id("p").Op(">=").Lit(0)).Block(
			errorf(posPrefix(n)+"CrossEntropy: target %d at position %d is outside [0, "+strconv.Itoa(c)+")", f.ref(t).Index(jen.Id("p")), jen.Id("p")),
		),
	}
	stmts = append(stmts, call...)
	stmts = append(stmts, f.ref(n).Index(jen.Lit(0)).Op("=").Add(f.toT(jen.Id("crossEntropyTotal").Call(jen.Id("m").Dot("xent"), mask, jen.Lit(rows), jen.Lit(n.Attrs.Reduce)))))
	return []jen.Code{jen.Block(stmts...)}, true
}

func emitLoss2(fn string) emitter {
	return func(f *fnGen, n *graph.Node) []jen.Code {
		per, scalar := f.lossOut(n)
		call := jen.Id(fn).Call(f.ref(n.Inputs[0]), f.ref(n.Inputs[1]), jen.Lit(n.Attrs.Reduce), per)
		if !scalar {
			return []jen.Code{call}
		}
		return []jen.Code{f.ref(n).Index(jen.Lit(0)).Op("=").Add(f.toT(call))}
	}
}

// scalarSrc is the Go source of a scalar operand read as float64: a literal
// for constants, else its one element.
func (f *fnGen) scalarSrc(x *graph.Node) string {
	if x.Op == graph.OpConst && x.Attrs.Data == nil {
		return graph.FormatFloat(x.Attrs.Value)
	}
	f.used[x] = true
	if f.f32() {
		return "float64(" + f.nm.name(x) + "[0])"
	}
	return f.nm.name(x) + "[0]"
}

// elemSrc is element i of a vector operand read as float64.
func (f *fnGen) elemSrc(x *graph.Node) string {
	f.used[x] = true
	if f.f32() {
		return "float64(" + f.nm.name(x) + "[i])"
	}
	return f.nm.name(x) + "[i]"
}

// tSrc converts a float64 expression to the element type.
func (f *fnGen) tSrc(expr string) string {
	if f.f32() {
		return "float32(" + expr + ")"
	}
	return expr
}

// gradSrc is s·g[i], or g[i] when the scale is the constant 1.
func (f *fnGen) gradSrc(g, s *graph.Node) string {
	if s.Op == graph.OpConst && s.Attrs.Data == nil && s.Attrs.Value == 1 {
		return f.elemSrc(g)
	}
	return f.scalarSrc(s) + " * " + f.elemSrc(g)
}

// update emits one block: setup statements, then one loop over a
// parameter's elements.
func (f *fnGen) update(p *graph.Node, pre []jen.Code, body []jen.Code) []jen.Code {
	loop := jen.For(jen.Id("i").Op(":=").Range().Lit(p.Type.Shape.Size())).Block(body...)
	if len(pre) == 0 {
		return []jen.Code{loop}
	}
	return []jen.Code{jen.Block(append(pre, loop)...)}
}

// set is "x[i] = T(expr)".
func (f *fnGen) set(x *graph.Node, expr jen.Code) jen.Code {
	return f.ref(x).Index(jen.Id("i")).Op("=").Add(f.toT(expr))
}

func src(s string) *jen.Statement { return jen.Id(s) }

// paren wraps a compound expression's source in parentheses.
func paren(s string) string {
	if strings.Contains(s, " ") {
		return "(" + s + ")"
	}
	return s
}

func sqrt(x jen.Code) *jen.Statement { return jen.Qual("math", "Sqrt").Call(x) }

// sgdCallMinElems is the smallest f32 parameter whose SGD update calls the
// vector kernel; an XOR network's few weights keep the inline loop.
const sgdCallMinElems = 64

func emitApplySGD(f *fnGen, n *graph.Node) []jen.Code {
	p, g, lr, s := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Inputs[3]
	if f.f32() && p.Type.Shape.Size() >= sgdCallMinElems { // one vectorised pass (sgdRow32, among the kernels' files), bit for bit the loop below
		return f.splitUpdate(p, "sgd", func(f *fnGen, view func(*graph.Node) jen.Code) ([]jen.Code, jen.Code) {
			return nil, jen.Id("sgdRow32").Call(view(p), view(g), src(f.scalarSrc(lr)), src(f.scalarSrc(s)))
		})
	}
	return f.update(p, nil, []jen.Code{
		f.set(p, src(f.elemSrc(p)+" - "+f.scalarSrc(lr)+"*"+paren(f.gradSrc(g, s)))),
	})
}

// hypers reads an update's run-time hyperparameters (scalar operands from
// index first on) into locals with the given names, before its loop.
func (f *fnGen) hypers(n *graph.Node, first int, names ...string) []jen.Code {
	var pre []jen.Code
	for i, name := range names {
		if first+i < len(n.Inputs) {
			pre = append(pre, jen.Id(name).Op(":=").Id(f.scalarSrc(n.Inputs[first+i])))
		}
	}
	return pre
}

func emitApplyMomentum(f *fnGen, n *graph.Node) []jen.Code {
	p, g, v, lr, s := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Inputs[3], n.Inputs[4]
	vNew := src(f.elemSrc(v) + "*mu + " + f.gradSrc(g, s)) // PyTorch: v = μv + g
	if n.Op == graph.OpApplyEMAMomentum {
		vNew = src("mu*" + f.elemSrc(v) + " + (1-mu)*" + paren(f.gradSrc(g, s))) // the text: v = βv + (1−β)g
	}
	return f.update(p, f.hypers(n, 5, "mu"), []jen.Code{
		f.set(v, vNew),
		f.set(p, src(f.elemSrc(p)+" - "+f.scalarSrc(lr)+"*"+f.elemSrc(v))),
	})
}

func emitApplyRMSProp(f *fnGen, n *graph.Node) []jen.Code {
	p, g, v, lr, s := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Inputs[3], n.Inputs[4]
	return f.update(p, f.hypers(n, 5, "alpha", "eps"), []jen.Code{
		jen.Id("g").Op(":=").Add(src(f.gradSrc(g, s))),
		f.set(v, src(f.elemSrc(v)+"*alpha + (1-alpha)*g*g")),
		f.set(p, src(f.elemSrc(p)+" - "+f.scalarSrc(lr)+"*g").Op("/").Parens(sqrt(src(f.elemSrc(v))).Op("+").Id("eps"))),
	})
}

func emitApplyAdam(f *fnGen, n *graph.Node) []jen.Code {
	p, g, m, v, lr, t, s := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Inputs[3], n.Inputs[4], n.Inputs[5], n.Inputs[6]
	if f.f32() {
		// One vectorised pass over the parameter (adamRow32, among the
		// kernels' files), bit for bit the loop below.
		wd := jen.Lit(0.0)
		if len(n.Inputs) > 10 {
			wd = jen.Id("wd")
		}
		return f.splitUpdate(p, "adam", func(f *fnGen, view func(*graph.Node) jen.Code) ([]jen.Code, jen.Code) {
			pre := append(f.hypers(n, 7, "beta1", "beta2", "eps", "wd"),
				jen.Id("h").Op(":=").Id("newAdamHyper").Call(
					src(f.scalarSrc(s)), src(f.scalarSrc(lr)), jen.Id("beta1"), jen.Id("beta2"), jen.Id("eps"), wd, src(f.scalarSrc(t))))
			return pre, jen.Id("adamRow32").Call(view(p), view(g), view(m), view(v), jen.Id("h"))
		})
	}
	pow := func(b string) *jen.Statement {
		return jen.Qual("math", "Pow").Call(jen.Id(b), src(f.scalarSrc(t)))
	}
	pre := append(f.hypers(n, 7, "beta1", "beta2", "eps", "wd"),
		jen.Id("lr").Op(":=").Id(f.scalarSrc(lr)),
		jen.Id("bc1").Op(":=").Lit(1).Op("-").Add(pow("beta1")).Comment("bias corrections at update t"),
		jen.Id("bc2").Op(":=").Add(sqrt(jen.Lit(1).Op("-").Add(pow("beta2")))),
	)
	body := []jen.Code{jen.Id("p").Op(":=").Id(f.elemSrc(p))}
	if len(n.Inputs) > 10 {
		body = append(body, jen.Id("p").Op("*=").Lit(1).Op("-").Id("lr").Op("*").Id("wd").Comment("decoupled weight decay (AdamW)"))
	}
	body = append(body,
		jen.Id("g").Op(":=").Id(f.gradSrc(g, s)),
		f.set(m, src(f.elemSrc(m)+"*beta1 + (1-beta1)*g")),
		f.set(v, src(f.elemSrc(v)+"*beta2 + (1-beta2)*g*g")),
		f.set(p, src("p - lr/bc1*"+f.elemSrc(m)).Op("/").Parens(sqrt(src(f.elemSrc(v))).Op("/").Id("bc2").Op("+").Id("eps"))),
	)
	return f.update(p, pre, body)
}

func emitAssign(f *fnGen, n *graph.Node) []jen.Code {
	if c := n.Inputs[0]; f.g.tiledKeys[c.Name] { // Prefill fills a tiled key cache
		s, d := cacheDims(c)
		return []jen.Code{jen.Id("tileKeys").Call(f.ref(c), f.ref(n.Inputs[1]), jen.Lit(s), jen.Lit(d))}
	}
	return []jen.Code{jen.Copy(f.ref(n.Inputs[0]), f.ref(n.Inputs[1]))}
}

// fillConst writes a constant leaf that lives in the arena (an output the
// caller may write to): its data array copied, its value repeated, or the
// causal mask's pattern.
func (f *fnGen) fillConst(n *graph.Node) []jen.Code {
	y := f.ref(n)
	switch {
	case n.Op == graph.OpCausalMask:
		T, S := n.Type.Shape[0], n.Type.Shape[1]
		return []jen.Code{jen.For(jen.Id("i").Op(":=").Range().Lit(T)).Block(jen.For(jen.Id("j").Op(":=").Range().Lit(S)).Block(
			y.Clone().Index(jen.Id("i").Op("*").Lit(S).Op("+").Id("j")).Op("=").Id("j").Op("<=").Id("i").Op("+").Lit(S - T),
		))}
	case n.Attrs.Data != nil:
		return []jen.Code{jen.Copy(y, jen.Id(f.g.lay.constNames[n]).Index(jen.Op(":")))}
	}
	var v jen.Code
	switch n.Type.DType {
	case graph.Bool:
		v = jen.Lit(n.Attrs.Value != 0)
	case graph.I32:
		v = jen.Lit(int(n.Attrs.Value))
	default:
		v = f.lit(n.Attrs.Value)
	}
	return []jen.Code{jen.For(jen.Id("i").Op(":=").Range().Add(y.Clone())).Block(y.Clone().Index(jen.Id("i")).Op("=").Add(v))}
}

func emitLRSchedule(f *fnGen, n *graph.Node) []jen.Code {
	a := n.Attrs
	return []jen.Code{f.ref(n).Index(jen.Lit(0)).Op("=").Add(f.toT(jen.Id("lrAt").Call(
		jen.Id(f.scalarSrc(n.Inputs[0])), jen.Id(graph.FormatFloat(a.LR)), jen.Lit(a.Warmup), jen.Lit(a.Steps), jen.Id(graph.FormatFloat(a.LRMin)))))}
}

func emitGlobalNorm(f *fnGen, n *graph.Node) []jen.Code {
	var stmts []jen.Code
	stmts = append(stmts, jen.Id("s").Op(":=").Lit(0.0))
	for _, x := range n.Inputs {
		stmts = append(stmts, jen.For(jen.List(jen.Id("_"), jen.Id("v")).Op(":=").Range().Add(f.ref(x))).Block(
			jen.Id("s").Op("+=").Id("float64").Call(jen.Id("v")).Op("*").Id("float64").Call(jen.Id("v")),
		))
	}
	stmts = append(stmts, f.ref(n).Index(jen.Lit(0)).Op("=").Add(f.toT(jen.Qual("math", "Sqrt").Call(jen.Id("s")))))
	return []jen.Code{jen.Block(stmts...)}
}

// emitDropoutMask draws one uniform number per element from the model's
// dropout generator, in row-major order as the interpreter does; in eval
// mode (Loss) the mask is all ones and nothing is drawn.
func emitDropoutMask(f *fnGen, n *graph.Node) []jen.Code {
	p := n.Attrs.P
	size := n.Type.Shape.Size()
	return []jen.Code{jen.If(jen.Id("m").Dot("evalMode")).Block(
		jen.For(jen.Id("i").Op(":=").Range().Lit(size)).Block(f.ref(n).Index(jen.Id("i")).Op("=").Lit(1)),
	).Else().Block(
		jen.For(jen.Id("i").Op(":=").Range().Lit(size)).Block(
			f.ref(n).Index(jen.Id("i")).Op("=").Id("where").Call(
				jen.Id("m").Dot("rng").Dot("float64").Call().Op("<").Id(graph.FormatFloat(p)),
				jen.Lit(0), jen.Id(f.g.T).Call(jen.Lit(1).Op("/").Parens(jen.Lit(1).Op("-").Id(graph.FormatFloat(p))))),
		),
	)}
}
