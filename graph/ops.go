package graph

import (
	"fmt"
	"strings"
)

// Op identifies an operation. The op table (opTable) holds everything the
// graph package knows about each op: its semantics, arity, attributes, shape
// rule, printable math and gradient rule. The interpreter kernels (runtime/)
// and emitters (codegen/) are tables indexed by the same Op, checked for
// completeness by tests in those packages.
type Op uint16

const (
	OpInvalid Op = iota

	// Leaves.
	OpInput
	OpParam
	OpState
	OpConst

	// Elementwise, one float operand.
	OpNeg
	OpExp
	OpLog
	OpSqrt
	OpRsqrt
	OpTanh
	OpSigmoid
	OpReLU
	OpGELU
	OpAbs
	OpErf
	OpPow
	OpCast

	// Elementwise, two operands with NumPy broadcasting.
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpMaximum
	OpMinimum
	OpLess
	OpLessEqual
	OpGreater
	OpGreaterEqual
	OpEqual
	OpNotEqual
	OpAnd
	OpOr
	OpNot
	OpWhere

	// Linear algebra and data movement.
	OpMatMul
	OpTranspose
	OpReshape
	OpBroadcastTo
	OpSlice
	OpPad
	OpConcat
	OpGather
	OpScatterAdd
	OpOneHot

	// Reductions.
	OpSum
	OpMean
	OpMax
	OpArgMax

	// Normalisation.
	OpSoftmax
	OpLogSoftmax
	OpSoftmaxGrad
	OpLogSoftmaxGrad
	OpLayerNorm
	OpLayerNormGrad
	OpGELUGrad

	// Masks.
	OpCausalMask
	OpDropoutMask

	// Losses (scalar unless reduce=none).
	OpCrossEntropy
	OpBCEWithLogits
	OpMSE

	// Optimizer updates: effect nodes that overwrite variables in place, and
	// the scalar computations around them.
	OpApplySGD
	OpApplyMomentum
	OpApplyEMAMomentum
	OpApplyRMSProp
	OpApplyAdam
	OpAssign
	OpLRSchedule
	OpGlobalNorm

	// KV-cache decoding (derived by the kvcache pass).
	OpAttendCache
	OpCacheWrite

	// Convolution windows (conv.go).
	OpIm2Col
	OpCol2Im
	// Modern transformer blocks (Llama-style): RMSNorm and rotary embeddings.
	OpRMSNorm
	OpRMSNormGrad
	OpRoPE
	// Low-precision weights (passes.Quantize) and bf16 rounding points
	// (passes.MixedPrecision).
	OpQMatMul
	OpRoundBF16

	// GELU's exact form (PyTorch's default nn.GELU) and its backward.
	OpGELUErf
	OpGELUErfGrad

	numOps
)

// Flags classify ops for passes and emitters.
type Flags uint16

const (
	Elementwise Flags = 1 << iota // output element i depends only on input element i (after broadcasting)
	Leaf                          // no inputs; value comes from outside or from attributes
	MaskResult                    // result is a Bool mask
	NoGrad                        // not differentiable: gradients stop here (argmax, comparisons, masks)
	Commutative                   // binary op with f(a,b) = f(b,a)
	ShapeOnly                     // moves data without arithmetic
	Effect                        // writes its first operand (a variable) in place; has no value
)

// OpInfo is one row of the op table.
type OpInfo struct {
	Name  string
	Doc   string   // semantics, one paragraph
	Min   int      // fewest operands
	Max   int      // most operands (-1: any number)
	Attrs []string // attribute names this op uses, in print order
	Flags Flags
	// Infer is the shape rule: it checks the operands and attributes of n and
	// returns the result type. Errors start with the op name and name both
	// shapes where two disagree.
	Infer func(n *Node) (Type, error)
	// Math renders the op as a formula over operand labels, for comments in
	// generated code and labels in DOT.
	Math func(n *Node, args []string) string
	// Grad is the gradient rule: given the node and d loss/d node, it returns
	// d loss/d operand for every operand (nil where none flows). Nil for ops
	// that are not differentiable (NoGrad) or not yet covered.
	Grad GradRule
}

// Has reports whether the op has all flags in f.
func (o *OpInfo) Has(f Flags) bool { return o.Flags&f == f }

// Info returns the op-table row of op.
func (op Op) Info() *OpInfo {
	if op <= OpInvalid || op >= numOps {
		return &invalidInfo
	}
	return &opTable[op]
}

func (op Op) String() string { return op.Info().Name }

var invalidInfo = OpInfo{Name: "Invalid"}

// AllOps lists every valid op in table order, for tests that walk the table.
func AllOps() []Op {
	ops := make([]Op, 0, numOps-1)
	for op := OpInvalid + 1; op < numOps; op++ {
		ops = append(ops, op)
	}
	return ops
}

// LookupOp finds an op by its printed name.
func LookupOp(name string) (Op, bool) {
	for op := OpInvalid + 1; op < numOps; op++ {
		if opTable[op].Name == name {
			return op, true
		}
	}
	return OpInvalid, false
}

func fn(name string) func(n *Node, a []string) string {
	return func(n *Node, a []string) string { return name + "(" + strings.Join(a, ", ") + ")" }
}

func infix(sym string) func(n *Node, a []string) string {
	return func(n *Node, a []string) string { return a[0] + " " + sym + " " + a[1] }
}

// opTable is the single table of ops. Keep each row's Doc exact: it is the
// semantics that the interpreter and the emitters implement.
//
// It is assigned in init because its shape and gradient rules build nodes,
// which consults the table again: a package-level initializer would be a cycle.
var opTable [numOps]OpInfo

func init() { opTable = opRows() }

func opRows() [numOps]OpInfo {
	return [numOps]OpInfo{
		OpInput: {Name: "Input", Flags: Leaf, Infer: inferLeaf,
			Doc: "A value the caller supplies on every call, named by the node's Name."},
		OpParam: {Name: "Param", Flags: Leaf, Attrs: []string{"init", "std", "data"}, Infer: inferParam,
			Doc: "A trainable variable that persists across calls, initialised by init: zeros, ones, normal(std), he (normal with std √(2/fan_in)), xavier (normal with std √(2/(fan_in+fan_out))) or values (data). fan_in is the first dimension, fan_out the last ([in, out] layout)."},
		OpState: {Name: "State", Flags: Leaf, Attrs: []string{"value"}, Infer: inferLeaf,
			Doc: "A non-trainable variable that persists across calls (optimizer moments, step count, KV caches), initialised to value."},
		OpConst: {Name: "Const", Flags: Leaf, Attrs: []string{"value", "data"}, Infer: inferConst,
			Doc: "A constant: every element equals value, or the row-major data when data is given. Bool constants are true where the value is non-zero."},

		OpNeg:     {Grad: gradNeg, Name: "Neg", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: func(n *Node, a []string) string { return "−" + a[0] }, Doc: "−x."},
		OpExp:     {Grad: gradExp, Name: "Exp", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("exp"), Doc: "eˣ."},
		OpLog:     {Grad: gradLog, Name: "Log", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("log"), Doc: "Natural logarithm; −inf at 0, NaN below."},
		OpSqrt:    {Grad: gradSqrt, Name: "Sqrt", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("√"), Doc: "√x."},
		OpRsqrt:   {Grad: gradRsqrt, Name: "Rsqrt", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("1/√"), Doc: "1/√x."},
		OpTanh:    {Grad: gradTanh, Name: "Tanh", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("tanh"), Doc: "Hyperbolic tangent."},
		OpSigmoid: {Grad: gradSigmoid, Name: "Sigmoid", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("σ"), Doc: "Logistic sigmoid 1/(1+e⁻ˣ), computed without overflow for large |x|."},
		OpReLU:    {Grad: gradReLU, Name: "ReLU", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("relu"), Doc: "max(x, 0). Its derivative at 0 is taken as 0, as NumPy's (x > 0) gives."},
		OpGELU: {Grad: gradGELU, Name: "GELU", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("gelu"),
			Doc: "GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."},
		OpAbs: {Grad: gradAbs, Name: "Abs", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: func(n *Node, a []string) string { return "|" + a[0] + "|" }, Doc: "|x|. Its derivative at 0 is taken as 0."},
		OpErf: {Grad: gradErf, Name: "Erf", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("erf"),
			Doc: "The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, as math.Erf computes it (exact GELU is 0.5·x·(1 + erf(x/√2)))."},
		OpPow: {Grad: gradPow, Name: "Pow", Min: 1, Max: 1, Flags: Elementwise, Attrs: []string{"exponent"}, Infer: inferUnaryFloat,
			Math: func(n *Node, a []string) string { return a[0] + "^" + FormatFloat(n.Attrs.Exponent) }, Doc: "xᵖ for the constant exponent p, as math.Pow computes it."},
		OpCast: {Grad: gradCast, Name: "Cast", Min: 1, Max: 1, Flags: Elementwise, Attrs: []string{"to"}, Infer: inferCast, Math: func(n *Node, a []string) string { return n.Attrs.To.String() + "(" + a[0] + ")" },
			Doc: "Converts to dtype to. Floats to i32 truncate toward zero; bool becomes 1 or 0; numbers become bool where non-zero; f32 to bf16 rounds to the nearest bf16 (runtime/lowp: ties to even, NaN kept, overflow to ±Inf) and bf16 widens to f32 exactly (passes.BF16Storage stores saved activations so)."},

		OpAdd:     {Grad: gradAdd, Name: "Add", Min: 2, Max: 2, Flags: Elementwise | Commutative, Infer: inferBinaryArith, Math: infix("+"), Doc: "a + b with NumPy broadcasting."},
		OpSub:     {Grad: gradSub, Name: "Sub", Min: 2, Max: 2, Flags: Elementwise, Infer: inferBinaryArith, Math: infix("−"), Doc: "a − b with NumPy broadcasting."},
		OpMul:     {Grad: gradMul, Name: "Mul", Min: 2, Max: 2, Flags: Elementwise | Commutative, Infer: inferBinaryArith, Math: infix("⊙"), Doc: "a · b elementwise, with NumPy broadcasting."},
		OpDiv:     {Grad: gradDiv, Name: "Div", Min: 2, Max: 2, Flags: Elementwise, Infer: inferBinaryArith, Math: infix("/"), Doc: "a / b with NumPy broadcasting (IEEE division)."},
		OpMaximum: {Grad: gradMaxMin, Name: "Maximum", Min: 2, Max: 2, Flags: Elementwise | Commutative, Infer: inferBinaryArith, Math: fn("max"), Doc: "Elementwise max(a, b); the gradient goes to a where a ≥ b, else to b."},
		OpMinimum: {Grad: gradMaxMin, Name: "Minimum", Min: 2, Max: 2, Flags: Elementwise | Commutative, Infer: inferBinaryArith, Math: fn("min"), Doc: "Elementwise min(a, b); the gradient goes to a where a ≤ b, else to b."},

		OpLess:         {Name: "Less", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad, Infer: inferCompare, Math: infix("<"), Doc: "Mask a < b, broadcasting."},
		OpLessEqual:    {Name: "LessEqual", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad, Infer: inferCompare, Math: infix("≤"), Doc: "Mask a ≤ b, broadcasting."},
		OpGreater:      {Name: "Greater", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad, Infer: inferCompare, Math: infix(">"), Doc: "Mask a > b, broadcasting."},
		OpGreaterEqual: {Name: "GreaterEqual", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad, Infer: inferCompare, Math: infix("≥"), Doc: "Mask a ≥ b, broadcasting."},
		OpEqual:        {Name: "Equal", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad | Commutative, Infer: inferCompare, Math: infix("=="), Doc: "Mask a == b, broadcasting."},
		OpNotEqual:     {Name: "NotEqual", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad | Commutative, Infer: inferCompare, Math: infix("≠"), Doc: "Mask a ≠ b, broadcasting."},
		OpAnd:          {Name: "And", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad | Commutative, Infer: inferLogical, Math: infix("∧"), Doc: "Mask a ∧ b, broadcasting."},
		OpOr:           {Name: "Or", Min: 2, Max: 2, Flags: Elementwise | MaskResult | NoGrad | Commutative, Infer: inferLogical, Math: infix("∨"), Doc: "Mask a ∨ b, broadcasting."},
		OpNot:          {Name: "Not", Min: 1, Max: 1, Flags: Elementwise | MaskResult | NoGrad, Infer: inferLogical, Math: func(n *Node, a []string) string { return "¬" + a[0] }, Doc: "Mask ¬a."},
		OpWhere: {Grad: gradWhere, Name: "Where", Min: 3, Max: 3, Flags: Elementwise, Infer: inferWhere, Math: func(n *Node, a []string) string { return a[0] + " ? " + a[1] + " : " + a[2] },
			Doc: "Elementwise: b where the mask is true, else c; all three broadcast together. Masking attention scores is Where(mask, scores, −inf)."},

		OpQMatMul: {Name: "QMatMul", Min: 2, Max: 3, Flags: NoGrad, Attrs: []string{"transB"}, Infer: inferQMatMul, Math: mathQMatMul,
			Doc: "x[...,m,k]·W with W a low-precision parameter widened to f32: y[...,m,n] = s[n]·Σₖ x[...,m,k]·f32(W[k,n]), accumulated in x's dtype (order unspecified). W is bf16 [k,n] (no s: s = 1) or i8 [k,n] with the f32 per-output-channel scales s[n]; transB stores W as [n,k]. x is f32 (passes.Quantize) or f64. Inference only (no gradient): passes.Quantize puts it in place of a MatMul by a parameter."},
		OpRoundBF16: {Name: "RoundBF16", Min: 1, Max: 1, Flags: Elementwise | NoGrad, Infer: inferUnaryFloat, Math: fn("bf16"),
			Doc: "x rounded to the nearest bf16 (ties to even, NaN stays NaN, overflow to ±Inf; an f64 x rounds to f32 first), in x's dtype: where a bf16 value would be stored. No gradient: passes.MixedPrecision puts it in after autodiff."},
		OpMatMul: {Grad: gradMatMul, Name: "MatMul", Min: 2, Max: 2, Attrs: []string{"transA", "transB"}, Infer: inferMatMul, Math: mathMatMul,
			Doc: "Matrix product over the last two axes, A[...,m,k]·B[...,k,n] → [...,m,n], with NumPy broadcasting over the leading (batch) axes. transA/transB use the transpose of the last two axes of A/B, without materialising it."},
		OpTranspose: {Grad: gradTranspose, Name: "Transpose", Min: 1, Max: 1, Flags: ShapeOnly, Attrs: []string{"perm"}, Infer: inferTranspose, Math: func(n *Node, a []string) string { return a[0] + "ᵀ" + intList(n.Attrs.Perm) },
			Doc: "Permutes axes: output axis i is input axis perm[i]."},
		OpReshape: {Grad: gradReshape, Name: "Reshape", Min: 1, Max: 1, Flags: ShapeOnly, Attrs: []string{"shape"}, Infer: inferReshape, Math: func(n *Node, a []string) string { return "reshape(" + a[0] + ", " + intList(n.Attrs.Shape) + ")" },
			Doc: "Same row-major data, new shape with the same number of elements."},
		OpBroadcastTo: {Grad: gradBroadcastTo, Name: "BroadcastTo", Min: 1, Max: 1, Flags: ShapeOnly, Attrs: []string{"shape"}, Infer: inferBroadcastTo, Math: func(n *Node, a []string) string { return "broadcast(" + a[0] + ", " + intList(n.Attrs.Shape) + ")" },
			Doc: "Repeats x along axes of size 1 (and new leading axes) to the target shape, NumPy rules."},
		OpSlice: {Grad: gradSlice, Name: "Slice", Min: 1, Max: 1, Flags: ShapeOnly, Attrs: []string{"starts", "ends"}, Infer: inferSlice, Math: mathSlice,
			Doc: "The sub-block x[starts[0]:ends[0], starts[1]:ends[1], …], step 1, one start and end per axis."},
		OpPad: {Grad: gradPad, Name: "Pad", Min: 1, Max: 1, Flags: ShapeOnly, Attrs: []string{"starts", "shape"}, Infer: inferPad, Math: func(n *Node, a []string) string { return "pad(" + a[0] + " at " + intList(n.Attrs.Starts) + ")" },
			Doc: "Zeros of the target shape with x written at offset starts: the adjoint of Slice."},
		OpConcat: {Grad: gradConcat, Name: "Concat", Min: 1, Max: -1, Flags: ShapeOnly, Attrs: []string{"axis"}, Infer: inferConcat, Math: func(n *Node, a []string) string { return "concat(" + strings.Join(a, ", ") + ")" },
			Doc: "Joins operands along axis; all other dimensions must agree."},
		OpGather: {Grad: gradGather, Name: "Gather", Min: 2, Max: 2, Infer: inferGather, Math: func(n *Node, a []string) string { return a[0] + "[" + a[1] + "]" },
			Doc: "Embedding lookup: table[V, D…] indexed by i32 ids[…] gives [ids…, D…]. An id outside [0, V) is a run-time error."},
		OpScatterAdd: {Grad: gradScatterAdd, Name: "ScatterAdd", Min: 2, Max: 2, Attrs: []string{"depth"}, Infer: inferScatterAdd, Math: func(n *Node, a []string) string { return "scatter_add(" + a[0] + " → " + a[1] + ")" },
			Doc: "Adjoint of Gather: zeros [depth, D…], then row ids[i] += updates[i] for every index i of ids[…]; updates is [ids…, D…]."},
		OpOneHot: {Name: "OneHot", Min: 1, Max: 1, Flags: NoGrad, Attrs: []string{"depth", "to"}, Infer: inferOneHot, Math: fn("onehot"),
			Doc: "ids[…] → [ids…, depth] of dtype to: 1 at the id, 0 elsewhere."},

		OpSum:    {Grad: gradSum, Name: "Sum", Min: 1, Max: 1, Attrs: []string{"axes", "keepdims"}, Infer: inferReduce, Math: mathReduce("Σ"), Doc: "Sum over axes (all axes when axes is empty)."},
		OpMean:   {Grad: gradMean, Name: "Mean", Min: 1, Max: 1, Attrs: []string{"axes", "keepdims"}, Infer: inferReduce, Math: mathReduce("mean"), Doc: "Mean over axes (all axes when axes is empty)."},
		OpMax:    {Grad: gradMax, Name: "Max", Min: 1, Max: 1, Attrs: []string{"axes", "keepdims"}, Infer: inferReduce, Math: mathReduce("max"), Doc: "Maximum over axes; the gradient is split evenly among tied maxima."},
		OpArgMax: {Name: "ArgMax", Min: 1, Max: 1, Flags: NoGrad, Attrs: []string{"axis", "keepdims"}, Infer: inferArgMax, Math: fn("argmax"), Doc: "i32 index of the first maximum along axis."},

		OpSoftmax: {Grad: gradSoftmax, Name: "Softmax", Min: 1, Max: 1, Attrs: []string{"axis"}, Infer: inferAxisFloat, Math: fn("softmax"),
			Doc: "exp(x − max) / Σ exp(x − max) along axis. A row that is all −inf gives NaN, as in NumPy."},
		OpLogSoftmax: {Grad: gradLogSoftmax, Name: "LogSoftmax", Min: 1, Max: 1, Attrs: []string{"axis"}, Infer: inferAxisFloat, Math: fn("log_softmax"),
			Doc: "x − max − log Σ exp(x − max) along axis."},
		OpSoftmaxGrad: {Name: "SoftmaxGrad", Min: 2, Max: 2, Attrs: []string{"axis"}, Infer: inferPairSame, Math: func(n *Node, a []string) string {
			return a[0] + " ⊙ (" + a[1] + " − Σ(" + a[1] + " ⊙ " + a[0] + "))"
		},
			Doc: "Backward of Softmax from its output y and upstream dy: y ⊙ (dy − Σ_axis dy ⊙ y)."},
		OpLogSoftmaxGrad: {Name: "LogSoftmaxGrad", Min: 2, Max: 2, Attrs: []string{"axis"}, Infer: inferPairSame, Math: func(n *Node, a []string) string { return a[1] + " − exp(" + a[0] + ") ⊙ Σ" + a[1] },
			Doc: "Backward of LogSoftmax from its output y and upstream dy: dy − exp(y) ⊙ Σ_axis dy."},
		OpLayerNorm: {Grad: gradLayerNorm, Name: "LayerNorm", Min: 1, Max: 1, Attrs: []string{"eps"}, Infer: inferUnaryFloat, Math: fn("layernorm"),
			Doc: "Normalises over the last axis: (x − mean) / √(var + eps), with the biased variance (divide by the axis size). The affine γ, β are separate Mul and Add nodes."},
		OpLayerNormGrad: {Name: "LayerNormGrad", Min: 2, Max: 2, Attrs: []string{"eps"}, Infer: inferPairSame, Math: func(n *Node, a []string) string {
			return "(" + a[1] + " − mean(" + a[1] + ") − x̂ ⊙ mean(" + a[1] + " ⊙ x̂)) / σ"
		},
			Doc: "Backward of LayerNorm from its input x and upstream dy, per row of the last axis: (dy − mean(dy) − x̂·mean(dy·x̂)) / √(var + eps), x̂ the normalised x."},
		OpGELUErf: {Grad: gradGELUErf, Name: "GELUErf", Min: 1, Max: 1, Flags: Elementwise, Infer: inferUnaryFloat, Math: fn("gelu_erf"),
			Doc: "GELU, exact form: x·Φ(x) = 0.5·x·(1 + erf(x/√2)), with erf as math.Erf computes it (PyTorch's default GELU)."},
		OpGELUErfGrad: {Name: "GELUErfGrad", Min: 2, Max: 2, Flags: Elementwise, Infer: inferPairSame, Math: func(n *Node, a []string) string { return a[1] + " ⊙ gelu_erf′(" + a[0] + ")" },
			Doc: "Backward of GELUErf from its input x and upstream dy: dy · (Φ(x) + x·φ(x)), Φ(x) = 0.5·(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π)."},
		OpGELUGrad: {Name: "GELUGrad", Min: 2, Max: 2, Flags: Elementwise, Infer: inferPairSame, Math: func(n *Node, a []string) string { return a[1] + " ⊙ gelu′(" + a[0] + ")" },
			Doc: "Backward of GELU (tanh form) from its input x and upstream dy: dy · d gelu/dx."},

		OpCausalMask: {Name: "CausalMask", Flags: Leaf | MaskResult | NoGrad, Attrs: []string{"shape"}, Infer: inferCausalMask, Math: func(n *Node, a []string) string { return "causal" + intList(n.Attrs.Shape) },
			Doc: "Bool [T, S] mask, true where key j may be seen from query i: j ≤ i + (S − T). For T = S it is the lower triangle with the diagonal."},

		OpDropoutMask: {Name: "DropoutMask", Flags: NoGrad, Attrs: []string{"p", "shape", "to"}, Infer: inferDropoutMask, Math: func(n *Node, a []string) string { return "dropout_mask(p=" + FormatFloat(n.Attrs.P) + ")" },
			Doc: "Inverted-dropout mask of the given shape and float dtype, drawn afresh on every run from the model's dropout generator: each element is 0 with probability p, else 1/(1−p). Elements are drawn in row-major order, one uniform number each (kept when u ≥ p)."},
		OpCrossEntropy: {Grad: gradCrossEntropy, Name: "CrossEntropy", Min: 2, Max: 3, Attrs: []string{"reduce"}, Infer: inferCrossEntropy, Math: fn("cross_entropy"),
			Doc: "Softmax cross-entropy from logits[…, C] and i32 targets[…]: per position logsumexp(z) − z[target]. With a bool mask[…], only true positions count. reduce=mean divides the sum by the number of counted positions (0 when none), sum adds them, none keeps them (0 where masked out)."},
		OpBCEWithLogits: {Grad: gradBCE, Name: "BCEWithLogits", Min: 2, Max: 2, Attrs: []string{"reduce"}, Infer: inferLoss2, Math: fn("bce_with_logits"),
			Doc: "Binary cross-entropy from logits z and targets y of the same shape, in the stable form max(z,0) − z·y + log(1 + e^−|z|); reduce=mean|sum|none."},
		OpMSE: {Grad: gradMSE, Name: "MSE", Min: 2, Max: 2, Attrs: []string{"reduce"}, Infer: inferLoss2, Math: fn("mse"),
			Doc: "Squared error (a − b)² of same-shaped operands; reduce=mean|sum|none."},
		OpApplySGD: {Name: "ApplySGD", Min: 4, Max: 4, Flags: Effect | NoGrad, Infer: inferApply, Math: func(n *Node, a []string) string { return a[0] + " −= " + a[2] + " · " + scaledGrad(a[1], a[3]) },
			Doc: "Plain gradient descent on the parameter p with gradient g, learning rate lr and gradient scale s (clipping; 1 without): p ← p − lr·s·g. Operands: p, g, lr, s."},
		OpApplyMomentum: {Name: "ApplyMomentum", Min: 6, Max: 6, Flags: Effect | NoGrad, Infer: inferApply, Math: func(n *Node, a []string) string {
			return a[2] + " = " + a[5] + "·" + a[2] + " + " + scaledGrad(a[1], a[4]) + "; " + a[0] + " −= " + a[3] + " · " + a[2]
		},
			Doc: "SGD with momentum, PyTorch's rule: v ← μv + s·g; p ← p − lr·v, with v starting at 0. Operands: p, g, v, lr, s, μ (scalars lr, s and μ are read at run time)."},
		OpApplyEMAMomentum: {Name: "ApplyEMAMomentum", Min: 6, Max: 6, Flags: Effect | NoGrad, Infer: inferApply, Math: func(n *Node, a []string) string {
			return a[2] + " = " + a[5] + "·" + a[2] + " + (1 − " + a[5] + ")·" + scaledGrad(a[1], a[4]) + "; " + a[0] + " −= " + a[3] + " · " + a[2]
		},
			Doc: "SGD with momentum, the reference text's exponential-moving-average rule: v ← βv + (1−β)s·g; p ← p − lr·v, with v starting at 0. Operands: p, g, v, lr, s, β."},
		OpApplyRMSProp: {Name: "ApplyRMSProp", Min: 7, Max: 7, Flags: Effect | NoGrad, Infer: inferApply, Math: func(n *Node, a []string) string {
			return a[2] + " = " + a[5] + "·" + a[2] + " + (1 − " + a[5] + ")·g²; " + a[0] + " −= " + a[3] + " · g / (√" + a[2] + " + " + a[6] + ")"
		},
			Doc: "RMSProp as PyTorch defines it: v ← αv + (1−α)(s·g)²; p ← p − lr·s·g/(√v + eps), with eps outside the root, v starting at 0. Operands: p, g, v, lr, s, α, eps."},
		OpApplyAdam: {Name: "ApplyAdam", Min: 10, Max: 11, Flags: Effect | NoGrad, Infer: inferApply, Math: func(n *Node, a []string) string {
			s := ""
			if len(a) > 10 {
				s = a[0] + " ·= 1 − " + a[4] + "·" + a[10] + "; "
			}
			return s + a[2] + ", " + a[3] + " = moments of " + scaledGrad(a[1], a[6]) + " (β₁ " + a[7] + ", β₂ " + a[8] + "); " + a[0] + " −= " + a[4] + " · m̂ / (√v̂ + " + a[9] + ")"
		},
			Doc: "Adam with bias correction, and AdamW's decoupled weight decay when the operand wd is present: first p ← p·(1 − lr·wd); then with g' = s·g, m ← β₁m + (1−β₁)g', v ← β₂v + (1−β₂)g'², m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), p ← p − lr·m̂/(√v̂ + eps). t is the 1-based update number. Operands: p, g, m, v, lr, t, s, β₁, β₂, eps[, wd]; the scalars are read at run time."},
		OpAssign: {Name: "Assign", Min: 2, Max: 2, Flags: Effect | NoGrad, Infer: inferAssign, Math: func(n *Node, a []string) string { return a[0] + " ← " + a[1] },
			Doc: "Overwrites the variable (operand 0) with the value of operand 1, of the same type: how the step counter advances."},
		OpLRSchedule: {Name: "LRSchedule", Min: 1, Max: 1, Flags: NoGrad, Attrs: []string{"lr", "warmup", "steps", "lrmin"}, Infer: inferScalarOf, Math: mathSchedule,
			Doc: "The learning rate of update t (a 1-based scalar): lr·t/warmup while t ≤ warmup; then lrmin + ½(lr − lrmin)(1 + cos(π(t − warmup)/(steps − warmup))) up to t = steps, and lrmin after. With steps = 0 the rate stays lr after the warmup."},
		OpGlobalNorm: {Name: "GlobalNorm", Min: 1, Max: -1, Flags: NoGrad, Infer: inferGlobalNorm, Math: func(n *Node, a []string) string { return "‖" + strings.Join(a, ", ") + "‖" },
			Doc: "The Euclidean norm of all operands together, √(Σ x²), as a scalar: global-norm gradient clipping."},
		OpAttendCache: {Name: "AttendCache", Min: 6, Max: 6, Flags: NoGrad, Attrs: []string{"value"}, Infer: inferAttendCache,
			Math: func(n *Node, a []string) string {
				return "softmax(" + a[0] + " · [" + a[1] + "[:t]; " + a[3] + "]ᵀ ⊙ " + FormatFloat(n.Attrs.Value) + ") · [" + a[2] + "[:t]; " + a[4] + "]"
			},
			Doc: "Causal attention of one new position t = pos over a KV cache: with q [..., R, d] (R query rows that share the keys, all at position t: R = 1, or the query heads of one key head under grouped-query attention), k_new, v_new [..., 1, d] and caches K, V [..., S, d], the keys are K rows 0..t−1 and k_new, the values V rows 0..t−1 and v_new; out = softmax(q·keysᵀ·value)·values [..., R, d]. Operands: q, K, V, k_new, v_new, pos: a float scalar, or a float vector [B] with one position per entry of the first axis (continuous batching: sequence b at its own t = pos[b]). t ≥ S is a run-time error."},
		OpIm2Col: {Grad: gradIm2Col, Name: "Im2Col", Min: 1, Max: 1, Flags: ShapeOnly, Attrs: []string{"kernel", "strides", "dilations", "pads", "value"}, Infer: inferIm2Col, Math: mathPatches("im2col"),
			Doc: "Gathers the kernel windows of an image x [N, C, D₁…D_r] (r = 1…3) into [N, C, K₁…K_r, O₁…O_r]: element (n, c, k, o) is x[n, c, o·stride + k·dilation − pad_begin] per axis, or value where that falls in the padding. O = ⌊(D + pad_begin + pad_end − dilation·(K−1) − 1)/stride⌋ + 1. pads lists the begin pads of every axis, then the end pads. A convolution is a MatMul of the weights with these columns; a pooling a reduction over the kernel axes."},
		OpCol2Im: {Grad: gradCol2Im, Name: "Col2Im", Min: 1, Max: 1, Attrs: []string{"kernel", "strides", "dilations", "pads", "shape"}, Infer: inferCol2Im, Math: mathPatches("col2im"),
			Doc: "Adjoint of Im2Col: zeros [N, C, shape…], then every element (n, c, k, o) of the columns [N, C, K…, O…] is added at the image position Im2Col reads it from; padding positions are dropped."},
		OpCacheWrite: {Name: "CacheWrite", Min: 3, Max: 3, Flags: Effect | NoGrad, Infer: inferCacheWrite, Math: func(n *Node, a []string) string { return a[0] + "[" + a[2] + "] ← " + a[1] },
			Doc: "Writes the new row x [..., 1, d] into row pos of the cache variable C [..., S, d]. Operands: C, x, pos: a float scalar, or a float vector [B], row pos[b] for entry b of the first axis."},

		OpRMSNorm: {Grad: gradRMSNorm, Name: "RMSNorm", Min: 1, Max: 1, Attrs: []string{"eps"}, Infer: inferUnaryFloat, Math: fn("rmsnorm"),
			Doc: "Normalises over the last axis by the root mean square: x / √(mean(x²) + eps). The gain g is a separate Mul, as LayerNorm's γ is."},
		OpRMSNormGrad: {Name: "RMSNormGrad", Min: 2, Max: 2, Attrs: []string{"eps"}, Infer: inferPairSame, Math: func(n *Node, a []string) string {
			return "(" + a[1] + " − x̂ ⊙ mean(" + a[1] + " ⊙ x̂)) / rms"
		},
			Doc: "Backward of RMSNorm from its input x and upstream dy, per row of the last axis: (dy − x̂·mean(dy·x̂)) / √(mean(x²) + eps), x̂ = RMSNorm(x)."},
		OpRoPE: {Grad: gradRoPE, Name: "RoPE", Min: 1, Max: 2, Attrs: []string{"theta", "offset", "interleaved", "inverse"}, Infer: inferRoPE, Math: mathRoPE,
			Doc: "Rotary position embedding of x [..., T, d], d even: row t (axis −2) is at position p = offset + t, plus pos when the operand pos is given (a float scalar, or a float vector [B]: pos[b] for entry b of the first axis), and its feature pair i (0 ≤ i < d/2) is rotated by the angle p·θ_i, θ_i = 1/theta^(2i/d): (a, b) → (a·cos − b·sin, b·cos + a·sin). The pairs are (i, i + d/2) (rotate-half, HF Llama's convention) or, with interleaved, (2i, 2i+1). inverse rotates by −p·θ_i: the adjoint, which is the gradient."},
	}
}

func mathRoPE(n *Node, a []string) string {
	p := "t"
	if n.Attrs.Offset != 0 {
		p = fmt.Sprint(n.Attrs.Offset) + "+t"
	}
	if len(a) > 1 {
		p = a[1] + "+" + p
	}
	s := "rope"
	if n.Attrs.Inverse {
		s = "rope⁻¹"
	}
	return s + "(" + a[0] + " at " + p + ")"
}

func mathMatMul(n *Node, a []string) string {
	x, y := a[0], a[1]
	if n.Attrs.TransA {
		x += "ᵀ"
	}
	if n.Attrs.TransB {
		y += "ᵀ"
	}
	return x + " · " + y
}

func mathQMatMul(n *Node, a []string) string {
	y := a[1]
	if n.Attrs.TransB {
		y += "ᵀ"
	}
	if len(a) == 3 {
		return "(" + a[0] + " · " + y + ")·" + a[2]
	}
	return a[0] + " · " + y
}

func mathSlice(n *Node, a []string) string {
	parts := make([]string, len(n.Attrs.Starts))
	for i := range parts {
		parts[i] = fmt.Sprintf("%d:%d", n.Attrs.Starts[i], n.Attrs.Ends[i])
	}
	return a[0] + "[" + strings.Join(parts, ",") + "]"
}

func mathReduce(sym string) func(n *Node, a []string) string {
	return func(n *Node, a []string) string {
		if len(n.Attrs.Axes) == 0 {
			return sym + "(" + a[0] + ")"
		}
		return sym + "_" + intList(n.Attrs.Axes) + "(" + a[0] + ")"
	}
}

// scaledGrad renders s·g, or g when the scale is the constant 1.
func scaledGrad(g, s string) string {
	if s == "1" {
		return g
	}
	return s + "·" + g
}

func mathSchedule(n *Node, a []string) string {
	at := n.Attrs
	switch {
	case at.Warmup == 0 && at.Steps == 0:
		return FormatFloat(at.LR)
	case at.Steps == 0:
		return "warmup(" + a[0] + "; lr=" + FormatFloat(at.LR) + ", warmup=" + fmt.Sprint(at.Warmup) + ")"
	}
	return "warmup_cosine(" + a[0] + "; lr=" + FormatFloat(at.LR) + ", warmup=" + fmt.Sprint(at.Warmup) + ", steps=" + fmt.Sprint(at.Steps) + ", lrmin=" + FormatFloat(at.LRMin) + ")"
}
