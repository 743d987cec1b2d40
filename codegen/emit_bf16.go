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
	name := "BF16ToF32s"
	if n.Type.DType == graph.BF16 {
		name = "F32ToBF16s"
		// Rounding is idempotent: the cast of an elided RoundBF16 (elideBF16)
		// reads the unrounded value.
		x = f.g.bf16Operand(x)
	}
	return []jen.Code{jen.Id(internal(name)).Call(f.ref(n), f.ref(x))}
}
