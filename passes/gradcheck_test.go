package passes_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// gradCase builds a small graph around one op from parameters with random
// values and returns the op's result; the harness differentiates
// Σ result ⊙ R for a fixed random R against central finite differences.
type gradCase struct {
	name  string
	build func(b *dsl.Builder, p func(dims ...int) *dsl.Tensor, pos func(dims ...int) *dsl.Tensor) *dsl.Tensor
}

func unaryCases(f func(*dsl.Tensor) *dsl.Tensor, positive bool) []gradCase {
	return []gradCase{
		{"vector", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			if positive {
				return f(q(5))
			}
			return f(p(5))
		}},
		{"3d", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			if positive {
				return f(q(2, 3, 2))
			}
			return f(p(2, 3, 2))
		}},
	}
}

// broadcastPairs are operand shapes that exercise NumPy broadcasting.
var broadcastPairs = [][2][]int{{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{}, {2, 3}}, {{4, 1}, {1, 5}}}

// shapeRand draws the random shapes of the gradient checks: seeded, so a
// failure reproduces, and different for each op.
var shapeRand = rand.New(rand.NewPCG(20261126, 1))

// randomPair draws two shapes that broadcast: a random shape, and a copy
// with some axes set to 1 and some leading axes dropped.
func randomPair() [2][]int {
	rank := 1 + shapeRand.IntN(3)
	a := make([]int, rank)
	for i := range a {
		a[i] = 1 + shapeRand.IntN(4)
	}
	b := append([]int{}, a[shapeRand.IntN(rank):]...)
	for i := range b {
		if shapeRand.IntN(2) == 0 {
			b[i] = 1
		}
	}
	if shapeRand.IntN(2) == 0 {
		return [2][]int{b, a}
	}
	return [2][]int{a, b}
}

// randomMatMul draws a batched product with random sizes, trans flags and,
// sometimes, a broadcast batch.
func randomMatMul() gradCase {
	m, k, n := 1+shapeRand.IntN(4), 1+shapeRand.IntN(4), 1+shapeRand.IntN(4)
	batch := []int{1 + shapeRand.IntN(3)}
	if shapeRand.IntN(2) == 0 {
		batch = append(batch, 1+shapeRand.IntN(2))
	}
	ta, tb := shapeRand.IntN(2) == 0, shapeRand.IntN(2) == 0
	bBatch := batch
	if shapeRand.IntN(2) == 0 {
		bBatch = nil // B broadcast over A's batch axes
	}
	aDims := append(append([]int{}, batch...), m, k)
	if ta {
		aDims = append(append([]int{}, batch...), k, m)
	}
	bDims := append(append([]int{}, bBatch...), k, n)
	if tb {
		bDims = append(append([]int{}, bBatch...), n, k)
	}
	return gradCase{fmt.Sprintf("random %v·%v ta=%v tb=%v", aDims, bDims, ta, tb), func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		x, y := p(aDims...), p(bDims...)
		if ta {
			x = x.T()
		}
		if tb {
			return x.MatMulT(y)
		}
		return x.MatMul(y)
	}}
}

func binaryCases(f func(a, b *dsl.Tensor) *dsl.Tensor, positiveB bool) []gradCase {
	var cs []gradCase
	for _, sh := range append(broadcastPairs, randomPair(), randomPair()) {
		sh := sh
		cs = append(cs, gradCase{fmt.Sprint(sh[0], "x", sh[1]), func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			x := p(sh[0]...)
			if positiveB {
				return f(x, q(sh[1]...))
			}
			return f(x, p(sh[1]...))
		}})
	}
	return cs
}

func one(name string, f func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor) []gradCase {
	return []gradCase{{name, f}}
}

// gradChecks covers every differentiable op of the op table.
var gradChecks = map[graph.Op][]gradCase{
	graph.OpNeg:     unaryCases((*dsl.Tensor).Neg, false),
	graph.OpExp:     unaryCases((*dsl.Tensor).Exp, false),
	graph.OpLog:     unaryCases((*dsl.Tensor).Log, true),
	graph.OpSqrt:    unaryCases((*dsl.Tensor).Sqrt, true),
	graph.OpRsqrt:   unaryCases((*dsl.Tensor).Rsqrt, true),
	graph.OpTanh:    unaryCases((*dsl.Tensor).Tanh, false),
	graph.OpSigmoid: unaryCases((*dsl.Tensor).Sigmoid, false),
	graph.OpReLU:    unaryCases((*dsl.Tensor).ReLU, false),
	graph.OpGELU:    unaryCases((*dsl.Tensor).GELU, false),
	graph.OpGELUErf: unaryCases((*dsl.Tensor).GELUErf, false),
	graph.OpAbs:     unaryCases((*dsl.Tensor).Abs, false),
	graph.OpErf:     unaryCases((*dsl.Tensor).Erf, false),
	graph.OpIm2Col: {
		{"2d stride pad", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return p(2, 2, 4, 5).Im2Col(dsl.Window{Kernel: []int{2, 3}, Strides: []int{2, 1}, Pads: []int{1, 0, 0, 1}}, 0)
		}},
		{"1d dilation", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return p(1, 3, 7).Im2Col(dsl.Window{Kernel: []int{3}, Dilations: []int{2}, Pads: []int{1, 1}}, 0)
		}},
	},
	graph.OpCol2Im: one("2d overlap", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return p(1, 2, 2, 2, 3, 3).Col2Im(dsl.Window{Kernel: []int{2, 2}, Pads: []int{1, 0, 0, 1}}, 3, 3)
	}),
	graph.OpPow: append(unaryCases(func(t *dsl.Tensor) *dsl.Tensor { return t.Pow(1.7) }, true),
		append(unaryCases(func(t *dsl.Tensor) *dsl.Tensor { return t.Pow(2) }, false),
			unaryCases(func(t *dsl.Tensor) *dsl.Tensor { return t.Pow(-0.5) }, true)...)...),
	graph.OpCast: one("f64-f32-f64", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return p(3, 2).Cast(graph.F64)
	}),
	graph.OpAdd:     binaryCases((*dsl.Tensor).Add, false),
	graph.OpSub:     binaryCases((*dsl.Tensor).Sub, false),
	graph.OpMul:     binaryCases((*dsl.Tensor).Mul, false),
	graph.OpDiv:     binaryCases((*dsl.Tensor).Div, true),
	graph.OpMaximum: binaryCases((*dsl.Tensor).Maximum, false),
	graph.OpMinimum: binaryCases((*dsl.Tensor).Minimum, false),
	graph.OpWhere: one("mask-broadcast", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		x := p(3, 4)
		m := x.Greater(p(4))
		return dsl.Where(m, x.Exp(), p(3, 1))
	}),
	graph.OpMatMul: {
		{"2d", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4).MatMul(p(4, 5)) }},
		{"transB", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4).MatMulT(p(5, 4)) }},
		{"transA", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return p(4, 3).Transpose().MatMul(p(4, 5))
		}},
		{"batched", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(2, 3, 4).MatMul(p(2, 4, 2)) }},
		{"batch-broadcast", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(2, 3, 4).MatMul(p(4, 2)) }},
		{"batch-broadcast-both", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return p(2, 1, 3, 4).MatMulT(p(3, 5, 4))
		}},
		randomMatMul(), randomMatMul(), randomMatMul(), randomMatMul(),
	},
	graph.OpTranspose: one("perm", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return p(2, 3, 4).Transpose(2, 0, 1)
	}),
	graph.OpReshape: one("reshape", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return p(2, 6).Reshape(3, 2, 2)
	}),
	graph.OpBroadcastTo: one("broadcast", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return p(3, 1).BroadcastTo(2, 3, 4)
	}),
	graph.OpSlice: one("slice", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return p(4, 5).Slice([]int{1, 2}, []int{3, 5})
	}),
	graph.OpPad: one("pad via slice grad", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		// Pad is Slice's adjoint; reach it through a second-order path: the
		// gradient of a slice is a Pad, so use a graph whose forward has one.
		return padOf(b, p(2, 3))
	}),
	graph.OpConcat: one("concat", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return dsl.Concat(1, p(2, 3), p(2, 1), p(2, 2))
	}),
	graph.OpGather: one("embedding", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return p(5, 3).Gather(b.ConstIDs([]int{4, 0, 4, 2}, 2, 2))
	}),
	graph.OpScatterAdd: one("scatter", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return scatterOf(b, p(4, 3))
	}),
	graph.OpSum: {
		{"axis", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4).Sum(1) }},
		{"keep", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(2, 3, 4).SumKeep(0, 2) }},
		{"all", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(2, 3).Sum() }},
	},
	graph.OpMean: {
		{"axis", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4).Mean(0) }},
		{"keep", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(2, 3, 4).MeanKeep(1) }},
	},
	graph.OpMax: {
		{"axis", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4).Max(1) }},
		{"all", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(2, 3).Max() }},
	},
	graph.OpSoftmax: {
		{"last", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4).Softmax(-1) }},
		{"axis0", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4, 2).Softmax(1) }},
		{"masked", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return p(4, 4).MaskFill(b.CausalMask(4)).Softmax(-1)
		}},
	},
	graph.OpLogSoftmax: one("axis", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 5).LogSoftmax(1) }),
	graph.OpLayerNorm: one("rows", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return dsl.LayerNorm(p(3, 5), p(5), p(5), 1e-5)
	}),
	graph.OpRMSNorm: {
		{"rows with gain", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return dsl.RMSNorm(p(3, 5), p(5), 1e-5)
		}},
		{"3d, eps 0.1", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(2, 3, 4).RMSNormalize(0.1) }},
	},
	graph.OpRoPE: {
		{"rotate-half", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return dsl.RoPE{Theta: 10000}.Rotate(p(2, 3, 4))
		}},
		{"interleaved, offset 2", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return dsl.RoPE{Theta: 50, Interleaved: true, Offset: 2}.Rotate(p(3, 6))
		}},
		{"inverse at pos 3", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			n, err := b.Graph().Apply(graph.OpRoPE, graph.Attrs{Theta: 100, Inverse: true}, p(2, 1, 4).Node(), b.Const(3).Node())
			if err != nil {
				panic(err)
			}
			return dsl.Wrap(b, n)
		}},
	},
	graph.OpCrossEntropy: {
		{"mean", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return dsl.CrossEntropy(p(4, 5), b.ConstIDs([]int{0, 4, 2, 2}, 4))
		}},
		{"masked", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			ids := b.ConstIDs([]int{1, 0, 3, 3, 2, 4}, 2, 3)
			mask := ids.NotEqual(b.ConstIDs([]int{3}))
			return dsl.CrossEntropy(p(2, 3, 5), ids, mask)
		}},
		{"none", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
			return dsl.CrossEntropyPerPosition(p(3, 4), b.ConstIDs([]int{3, 0, 1}, 3))
		}},
	},
	graph.OpBCEWithLogits: one("mean", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return dsl.BCEWithLogits(p(4, 1), p(4, 1).Sigmoid())
	}),
	graph.OpMSE: one("mean", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return dsl.MSE(p(3, 2), p(3, 2)) }),
}

// exempt are the ops with no gradient check, each with its reason.
var exempt = map[graph.Op]string{
	graph.OpInput: "leaf", graph.OpParam: "leaf (differentiated with respect to)", graph.OpState: "leaf, not trainable",
	graph.OpConst: "leaf", graph.OpCausalMask: "leaf mask",
	graph.OpLess: "comparison: no gradient", graph.OpLessEqual: "comparison", graph.OpGreater: "comparison",
	graph.OpGreaterEqual: "comparison", graph.OpEqual: "comparison", graph.OpNotEqual: "comparison",
	graph.OpAnd: "mask logic", graph.OpOr: "mask logic", graph.OpNot: "mask logic",
	graph.OpOneHot: "integer operand", graph.OpArgMax: "integer result",
	graph.OpSoftmaxGrad: "backward-only (no second derivatives)", graph.OpLogSoftmaxGrad: "backward-only",
	graph.OpLayerNormGrad: "backward-only", graph.OpGELUGrad: "backward-only", graph.OpRMSNormGrad: "backward-only",
	graph.OpGELUErfGrad:   "backward-only",
	graph.OpApplySGD:      "optimizer update (effect, runs after backward)",
	graph.OpApplyMomentum: "optimizer update", graph.OpApplyEMAMomentum: "optimizer update",
	graph.OpApplyRMSProp: "optimizer update", graph.OpApplyAdam: "optimizer update",
	graph.OpAssign: "effect", graph.OpLRSchedule: "optimizer scalar (no gradient)",
	graph.OpGlobalNorm:  "clipping scalar (no gradient)",
	graph.OpDropoutMask: "random mask: no gradient (the Mul it feeds is checked)",
	graph.OpQMatMul:     "inference only: low-precision weights are not trained",
	graph.OpRoundBF16:   "a rounding point MixedPrecision inserts after autodiff: never differentiated",
	graph.OpAttendCache: "inference only (KV-cache decoding; checked equal to the full forward's attention, whose ops are each checked)",
	graph.OpCacheWrite:  "effect (inference only)",
}

// blockChecks are the DSL's composite blocks, checked as a whole on top of
// their ops' own checks.
var blockChecks = []gradCase{
	{"SiLU", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor { return p(3, 4).SiLU() }},
	{"SwiGLU", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		m := &dsl.SwiGLU{Name: "mlp", Gate: &dsl.Linear{W: p(4, 6)}, Up: &dsl.Linear{W: p(4, 6)}, Down: &dsl.Linear{W: p(6, 4)}}
		return m.Apply(p(2, 3, 4))
	}},
	{"Linear with bias", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		return (&dsl.Linear{W: p(4, 3), B: p(3)}).Apply(p(2, 4))
	}},
	{"grouped-query attention with RoPE", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		a := &dsl.GroupedAttention{Name: "attn", Heads: 4, KVHeads: 2, Wq: p(8, 8), Wk: p(8, 4), Wv: p(8, 4), Wo: p(8, 8), Rope: &dsl.RoPE{Theta: 100}}
		return a.Causal(p(2, 3, 8))
	}},
	{"grouped cross-attention", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		a := &dsl.GroupedAttention{Name: "cross", Heads: 4, KVHeads: 2, Wq: p(8, 8), Wk: p(8, 4), Wv: p(8, 4), Wo: p(8, 8)}
		return a.Cross(p(2, 3, 8), p(2, 5, 8), nil)
	}},
	{"grouped cross-attention with a key padding mask", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		a := &dsl.GroupedAttention{Name: "cross", Heads: 4, KVHeads: 2, Wq: p(8, 8), Wk: p(8, 4), Wv: p(8, 4), Wo: p(8, 8)}
		keep := b.ConstIDs([]int{3, 1, 0, 0, 0, 2, 0, 5, 6, 7}, 2, 5).NotEqual(b.ConstIDs([]int{0}))
		return a.Cross(p(2, 3, 8), p(2, 5, 8), keep)
	}},
	{"bidirectional attention with RoPE", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		a := &dsl.GroupedAttention{Name: "enc", Heads: 2, KVHeads: 2, Wq: p(4, 4), Wk: p(4, 4), Wv: p(4, 4), Wo: p(4, 4), Rope: &dsl.RoPE{Theta: 10}}
		return a.Bidirectional(p(3, 4), nil)
	}},
	{"bidirectional attention with RoPE and a key padding mask", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		a := &dsl.GroupedAttention{Name: "enc", Heads: 2, KVHeads: 2, Wq: p(4, 4), Wk: p(4, 4), Wv: p(4, 4), Wo: p(4, 4), Rope: &dsl.RoPE{Theta: 10}}
		keep := b.ConstIDs([]int{4, 2, 0, 1, 0, 0}, 2, 3).NotEqual(b.ConstIDs([]int{0}))
		return a.Bidirectional(p(2, 3, 4), keep)
	}},
	{"multi-query attention", func(b *dsl.Builder, p, q func(...int) *dsl.Tensor) *dsl.Tensor {
		a := &dsl.GroupedAttention{Name: "attn", Heads: 2, KVHeads: 1, Wq: p(4, 4), Wk: p(4, 2), Wv: p(4, 2), Wo: p(4, 4)}
		return a.Causal(p(3, 4))
	}},
}

func TestBlockGradientsMatchFiniteDifferences(t *testing.T) {
	for i, c := range blockChecks {
		t.Run(c.name, func(t *testing.T) { checkGradient(t, rand.New(rand.NewPCG(7, uint64(i))), c) })
	}
}

// padOf and scatterOf build the forward ops that the DSL only produces as adjoints.
func padOf(b *dsl.Builder, x *dsl.Tensor) *dsl.Tensor {
	n, err := b.Graph().Apply(graph.OpPad, graph.Attrs{Starts: []int{1, 0}, Shape: []int{4, 5}}, x.Node())
	if err != nil {
		panic(err)
	}
	return dsl.Wrap(b, n)
}

func scatterOf(b *dsl.Builder, x *dsl.Tensor) *dsl.Tensor {
	ids := b.ConstIDs([]int{2, 0, 2, 1}, 4)
	n, err := b.Graph().Apply(graph.OpScatterAdd, graph.Attrs{Depth: 3}, ids.Node(), x.Node())
	if err != nil {
		panic(err)
	}
	return dsl.Wrap(b, n)
}

func TestEveryOpHasGradientCheck(t *testing.T) {
	for _, op := range graph.AllOps() {
		_, checked := gradChecks[op]
		reason, skipped := exempt[op]
		switch {
		case checked && skipped:
			t.Errorf("%s is both checked and exempt (%s)", op, reason)
		case !checked && !skipped:
			t.Errorf("%s has no finite-difference gradient check and no exemption", op)
		case checked && op.Info().Grad == nil:
			t.Errorf("%s has a check but no gradient rule", op)
		}
	}
}

// TestGradientsMatchFiniteDifferences checks every rule in f64 with central
// differences (gonum diff/fd): relative error ‖g − g_fd‖ / max(‖g‖, ‖g_fd‖) < 1e-6.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, op := range graph.AllOps() {
		for ci, c := range gradChecks[op] {
			t.Run(op.String()+"/"+c.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(op), uint64(ci)))
				checkGradient(t, r, c)
			})
		}
	}
}

func checkGradient(t *testing.T, r *rand.Rand, c gradCase) {
	np := 0
	g, err := dsl.Build("gradcheck", "gradcheck", dsl.Options{Float: graph.F64}, func(b *dsl.Builder) {
		param := func(lo, hi float64) func(dims ...int) *dsl.Tensor {
			return func(dims ...int) *dsl.Tensor {
				n := graph.Shape(dims).Size()
				v := make([]float64, n)
				for i := range v {
					v[i] = lo + (hi-lo)*r.Float64()
				}
				np++
				return b.Param(fmt.Sprintf("p%d", np), dsl.Values(v...), dims...)
			}
		}
		out := c.build(b, param(-2, 2), param(0.3, 2))
		w := make([]float64, graph.Shape(out.Shape()).Size())
		for i := range w {
			w[i] = r.Float64()*2 - 1
		}
		b.Loss(out.Mul(b.ConstValues(w, out.Shape()...)).Sum())
	})
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
	if err := it.Run(nil); err != nil {
		t.Fatal(err)
	}
	analyticOf := map[string][]float64{} // read all before any parameter is perturbed
	for _, p := range g.Params() {
		analyticOf[p.Name] = it.Grad(p.Name).Float64s()
	}
	for _, p := range g.Params() {
		analytic := analyticOf[p.Name]
		v := it.Var(p.Name)
		x0 := v.Float64s()
		f := func(x []float64) float64 {
			for i, xi := range x {
				v.F64[i] = xi
			}
			if err := it.Run(nil); err != nil {
				t.Fatal(err)
			}
			return it.Loss()
		}
		numeric := fd.Gradient(nil, f, x0, &fd.Settings{Formula: fd.Central, Step: 1e-6})
		copy(v.F64, x0)
		var diff, na, nn float64
		for i := range analytic {
			diff += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i])
			na += analytic[i] * analytic[i]
			nn += numeric[i] * numeric[i]
		}
		rel := math.Sqrt(diff) / math.Max(math.Max(math.Sqrt(na), math.Sqrt(nn)), 1e-12)
		if rel > 1e-6 || math.IsNaN(rel) {
			t.Errorf("%s: relative error %.3g\nanalytic %v\nnumeric  %v", p.Name, rel, analytic, numeric)
		}
	}
}
