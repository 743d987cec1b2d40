package codegen

import (
	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// The casts of bf16 storage (passes.BF16Storage): f32 → bf16 rounds to the
// nearest bf16 and keeps the bit pattern (uint16, in m.harena); bf16 → f32
// widens it exactly. Both are runtime/lowp's functions, which codegen copies
// into the package (its lowp file), so the interpreter and generated code
// round bit for bit alike.

// isBF16Cast reports whether n is a Cast to or from bf16.
func isBF16Cast(n *graph.Node) bool {
	return n.Op == graph.OpCast && (n.Type.DType == graph.BF16 || n.Inputs[0].Type.DType == graph.BF16)
}

// bf16CastExpr is one element of a bf16 cast, for a fused loop: the operand
// is a float32 (the cast to bf16) or a uint16 (the widening).
func bf16CastExpr(_ *fnGen, n *graph.Node, a []jen.Code) jen.Code {
	if n.Type.DType == graph.BF16 {
		return jen.Id(internal("F32ToBF16")).Call(a[0])
	}
	return jen.Id(internal("BF16ToF32")).Call(a[0])
}

// emitCast emits a standalone Cast: a bf16 one as a call of the slice
// conversion (one pass over memory), any other as an elementwise loop.
func emitCast(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	if !isBF16Cast(n) || !x.Type.Shape.Equal(n.Type.Shape) {
		return emitElementwise(f, n)
	}
	name, h, fl := "BF16ToF32s", x, n
	if n.Type.DType == graph.BF16 {
		name = "F32ToBF16s"
		// Rounding is idempotent: the cast of an elided RoundBF16 (elideBF16)
		// reads the unrounded value.
		x = f.g.bf16Operand(x)
		h, fl = n, x
	}
	size := n.Type.Shape.Size()
	// Split only when the two do not share bytes: a cast in place (the
	// bf16 copy written over the start of the f32 value it rounds) is
	// right only in order, each element read before a later one's write.
	if f.g.splits(size, parallelMinElems) && !overlapBytes(f.p.slots[h], f.p.slots[fl]) {
		// On the pool's threads: a cast is a pass over memory that a second
		// core speeds up as much as any elementwise loop, and left serial it
		// would be the serial part of a two-thread step.
		f.g.bf16Casts = true
		kernel := "widenBF16"
		if n.Type.DType == graph.BF16 {
			kernel = "narrowBF16"
		}
		return []jen.Code{jen.Id("m").Dot("castBF16").Call(jen.Lit(size), jen.Parens(jen.Op("*").Id("Model")).Dot(kernel), f.ref(h), f.ref(fl))}
	}
	return []jen.Code{jen.Id(internal(name)).Call(f.ref(n), f.ref(x))}
}

// castBF16Decls declares Model.castBF16, which runs a bf16 cast on the
// pool's threads, and its two kernels. The bf16 operand travels in the
// task's h (views hold the float type only).
func (g *gen) castBF16Decls(f *jen.File) {
	fnType := jen.Func().Params(jen.Id("m").Op("*").Id("Model"), jen.List(jen.Id("lo"), jen.Id("hi"), jen.Id("thread")).Int(), jen.Id("v").Index().Index().Id(g.T))
	f.Line()
	docComment(f, "castBF16 runs kernel, narrowBF16 or widenBF16, over the n elements of h and\nx on the pool's threads. Nothing escapes: h and x are kept in m.task.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("castBF16").Params(
		jen.Id("n").Int(), jen.Id("kernel").Add(fnType), jen.Id("h").Index().Uint16(), jen.Id("x").Index().Id(g.T),
	).Block(
		jen.Id("t").Op(":=").Op("&").Id("m").Dot("task"),
		jen.List(jen.Id("t").Dot("m"), jen.Id("t").Dot("kernel"), jen.Id("t").Dot("h")).Op("=").List(jen.Id("m"), jen.Id("kernel"), jen.Id("h")),
		jen.List(jen.Id("t").Dot("views").Index(jen.Lit(0)), jen.Id("t").Dot("n")).Op("=").List(jen.Id("x"), jen.Lit(1)),
		jen.Id("m").Dot("pool").Dot("ParallelFor").Call(jen.Id("n"), jen.Id("t")),
	)
	f.Line()
	docComment(f, "narrowBF16 rounds [lo, hi) of v[0] to bf16 into m.task.h, on a thread of the pool.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("narrowBF16").Params(jen.List(jen.Id("lo"), jen.Id("hi"), jen.Id("thread")).Int(), jen.Id("v").Index().Index().Id(g.T)).Block(
		jen.Id(internal("F32ToBF16s")).Call(jen.Id("m").Dot("task").Dot("h").Index(jen.Id("lo").Op(":").Id("hi")), jen.Id("v").Index(jen.Lit(0)).Index(jen.Id("lo").Op(":").Id("hi"))),
	)
	f.Line()
	docComment(f, "widenBF16 widens [lo, hi) of m.task.h into v[0], on a thread of the pool.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("widenBF16").Params(jen.List(jen.Id("lo"), jen.Id("hi"), jen.Id("thread")).Int(), jen.Id("v").Index().Index().Id(g.T)).Block(
		jen.Id(internal("BF16ToF32s")).Call(jen.Id("v").Index(jen.Lit(0)).Index(jen.Id("lo").Op(":").Id("hi")), jen.Id("m").Dot("task").Dot("h").Index(jen.Id("lo").Op(":").Id("hi"))),
	)
}
