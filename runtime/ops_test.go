package runtime_test

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// opCase is one hand-computed example of an op.
type opCase struct {
	op    graph.Op
	name  string
	build func(b *dsl.Builder) *dsl.Tensor
	shape []int
	want  []float64
}

func c(b *dsl.Builder, data []float64, dims ...int) *dsl.Tensor { return b.ConstValues(data, dims...) }

func ids(b *dsl.Builder, data []int, dims ...int) *dsl.Tensor { return b.ConstIDs(data, dims...) }

// ropeRow rotates rows of 4 values at positions p0, p0+1, … by the angles
// p·θ_i, written out pair by pair: (0, 2) and (1, 3), or (0, 1) and (2, 3).
func ropeRow(x, theta []float64, p0 int, interleaved, inverse bool) []float64 {
	out := make([]float64, len(x))
	pairs := [2][2]int{{0, 2}, {1, 3}}
	if interleaved {
		pairs = [2][2]int{{0, 1}, {2, 3}}
	}
	for r := 0; r < len(x)/4; r++ {
		for i, pr := range pairs {
			a := float64(p0+r) * theta[i]
			if inverse {
				a = -a
			}
			u, v := x[4*r+pr[0]], x[4*r+pr[1]]
			out[4*r+pr[0]] = u*math.Cos(a) - v*math.Sin(a)
			out[4*r+pr[1]] = v*math.Cos(a) + u*math.Sin(a)
		}
	}
	return out
}

var (
	ln2, ln3 = math.Log(2), math.Log(3)
	geluAt   = func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))) }
	sig      = func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	lnRow    = func(x []float64, eps float64) []float64 { // (x − mean)/√(var + eps), written out
		m := 0.0
		for _, v := range x {
			m += v
		}
		m /= float64(len(x))
		va := 0.0
		for _, v := range x {
			va += (v - m) * (v - m)
		}
		va /= float64(len(x))
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = (v - m) / math.Sqrt(va+eps)
		}
		return out
	}
)

var opCases = []opCase{
	{graph.OpInput, "input", func(b *dsl.Builder) *dsl.Tensor { return b.Input("x", 2) }, []int{2}, []float64{1.5, -2}},
	{graph.OpParam, "values", func(b *dsl.Builder) *dsl.Tensor { return b.Param("w", dsl.Values(1, 2, 3), 3) }, []int{3}, []float64{1, 2, 3}},
	{graph.OpState, "filled", func(b *dsl.Builder) *dsl.Tensor { return b.State("s", 0.25, 2) }, []int{2}, []float64{0.25, 0.25}},
	{graph.OpConst, "fill", func(b *dsl.Builder) *dsl.Tensor { return b.Const(7, 2, 1) }, []int{2, 1}, []float64{7, 7}},
	{graph.OpNeg, "neg", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, -2, 0}, 3).Neg() }, []int{3}, []float64{-1, 2, 0}},
	{graph.OpExp, "exp", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{0, ln2, -ln2}, 3).Exp() }, []int{3}, []float64{1, 2, 0.5}},
	{graph.OpLog, "log", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 0.5}, 3).Log() }, []int{3}, []float64{0, ln2, -ln2}},
	{graph.OpSqrt, "sqrt", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{4, 0.25, 9}, 3).Sqrt() }, []int{3}, []float64{2, 0.5, 3}},
	{graph.OpRsqrt, "rsqrt", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{4, 0.25, 1}, 3).Rsqrt() }, []int{3}, []float64{0.5, 2, 1}},
	{graph.OpTanh, "tanh", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{0, ln3 / 2}, 2).Tanh() }, []int{2}, []float64{0, 0.5}},
	{graph.OpSigmoid, "sigmoid", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{0, ln3, -ln3, -800}, 4).Sigmoid() }, []int{4}, []float64{0.5, 0.75, 0.25, 0}},
	{graph.OpReLU, "relu", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{-1, 0, 2.5}, 3).ReLU() }, []int{3}, []float64{0, 0, 2.5}},
	{graph.OpGELU, "gelu", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{-1, 0, 2}, 3).GELU() }, []int{3}, []float64{geluAt(-1), 0, geluAt(2)}},
	// x·Φ(x): Φ(−1) = 0.15865525393145707, Φ(2) = 0.9772498680518208.
	{graph.OpGELUErf, "gelu erf", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{-1, 0, 2}, 3).GELUErf() }, []int{3}, []float64{-0.15865525393145707, 0, 1.9544997361036416}},
	{graph.OpAbs, "abs", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{-1.5, 0, 2}, 3).Abs() }, []int{3}, []float64{1.5, 0, 2}},
	{graph.OpIm2Col, "1d pad stride", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4}, 1, 1, 4).Im2Col(dsl.Window{Kernel: []int{2}, Strides: []int{2}, Pads: []int{1, 0}}, -9)
	}, []int{1, 1, 2, 2}, []float64{-9, 2, 1, 3}},
	{graph.OpCol2Im, "1d overlap", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 10, 20, 30}, 1, 1, 2, 3).Col2Im(dsl.Window{Kernel: []int{2}, Pads: []int{0, 0}}, 4)
	}, []int{1, 1, 4}, []float64{1, 12, 23, 30}},
	{graph.OpErf, "erf", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{0, 0.5, -1, 3}, 4).Erf() }, []int{4}, []float64{0, 0.5204998778130465, -0.8427007929497149, 0.9999779095030014}},
	{graph.OpPow, "pow", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{4, 0.25, 1}, 3).Pow(1.5) }, []int{3}, []float64{8, 0.125, 1}},
	{graph.OpCast, "to i32", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1.7, -1.7, 3}, 3).Cast(graph.I32) }, []int{3}, []float64{1, -1, 3}},
	{graph.OpAdd, "broadcast row", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4}, 2, 2).Add(c(b, []float64{10, 20}, 2))
	}, []int{2, 2}, []float64{11, 22, 13, 24}},
	{graph.OpSub, "broadcast column", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4}, 2, 2).Sub(c(b, []float64{1, 2}, 2, 1))
	}, []int{2, 2}, []float64{0, 1, 1, 2}},
	{graph.OpMul, "outer by broadcast", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2}, 2, 1).Mul(c(b, []float64{3, 4, 5}, 1, 3))
	}, []int{2, 3}, []float64{3, 4, 5, 6, 8, 10}},
	{graph.OpDiv, "scalar", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, -3}, 2).Div(b.Const(4)) }, []int{2}, []float64{0.25, -0.75}},
	{graph.OpMaximum, "max", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 5, -2}, 3).Maximum(c(b, []float64{2, 3, -2}, 3))
	}, []int{3}, []float64{2, 5, -2}},
	{graph.OpMinimum, "min", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 5, -2}, 3).Minimum(c(b, []float64{2, 3, -2}, 3))
	}, []int{3}, []float64{1, 3, -2}},
	{graph.OpLess, "<", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3}, 3).Less(b.Const(2)) }, []int{3}, []float64{1, 0, 0}},
	{graph.OpLessEqual, "<=", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3}, 3).LessEqual(b.Const(2)) }, []int{3}, []float64{1, 1, 0}},
	{graph.OpGreater, ">", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3}, 3).Greater(b.Const(2)) }, []int{3}, []float64{0, 0, 1}},
	{graph.OpGreaterEqual, ">=", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3}, 3).GreaterEqual(b.Const(2)) }, []int{3}, []float64{0, 1, 1}},
	{graph.OpEqual, "== on ids", func(b *dsl.Builder) *dsl.Tensor { return ids(b, []int{0, 3, 3}, 3).Equal(ids(b, []int{3})) }, []int{3}, []float64{0, 1, 1}},
	{graph.OpNotEqual, "!= padding", func(b *dsl.Builder) *dsl.Tensor { return ids(b, []int{5, 0, 0}, 3).NotEqual(ids(b, []int{0})) }, []int{3}, []float64{1, 0, 0}},
	{graph.OpAnd, "and", func(b *dsl.Builder) *dsl.Tensor {
		x := c(b, []float64{1, 2, 3, 4}, 4)
		return x.Greater(b.Const(1)).And(x.Less(b.Const(4)))
	}, []int{4}, []float64{0, 1, 1, 0}},
	{graph.OpOr, "or", func(b *dsl.Builder) *dsl.Tensor {
		x := c(b, []float64{1, 2, 3, 4}, 4)
		return x.Less(b.Const(2)).Or(x.Greater(b.Const(3)))
	}, []int{4}, []float64{1, 0, 0, 1}},
	{graph.OpNot, "not", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 3}, 2).Greater(b.Const(2)).Not() }, []int{2}, []float64{1, 0}},
	{graph.OpWhere, "mask fill", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4}, 2, 2).MaskFill(b.CausalMask(2))
	}, []int{2, 2}, []float64{1, math.Inf(-1), 3, 4}},
	{graph.OpMatMul, "2x3·3x2", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3).MatMul(c(b, []float64{1, 0, 0, 1, 1, 1}, 3, 2))
	}, []int{2, 2}, []float64{4, 5, 10, 11}},
	{graph.OpMatMul, "batched, broadcast weight", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4}, 2, 1, 2).MatMul(c(b, []float64{1, 1, 0, 2}, 2, 2))
	}, []int{2, 1, 2}, []float64{1, 5, 3, 11}},
	{graph.OpMatMul, "A·Bᵀ", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4}, 2, 2).MatMulT(c(b, []float64{1, 1, 0, 1}, 2, 2))
	}, []int{2, 2}, []float64{3, 2, 7, 4}},
	{graph.OpQMatMul, "i8 weights, scales", func(b *dsl.Builder) *dsl.Tensor {
		w := lowParam(b, "wq", graph.I8, []float64{1, -2, 3, 0, -1, 127}, 3, 2)
		return qmatmul(b, false, c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3), w, lowScales(b, "wq.scale", 0.5, 0.25))
	}, []int{2, 2}, []float64{2, 94.75, 6.5, 188.5}},
	{graph.OpQMatMul, "bf16 weights stored [n,k]; 1+2⁻⁸ rounds to 1", func(b *dsl.Builder) *dsl.Tensor {
		w := lowParam(b, "wh", graph.BF16, []float64{1.00390625, 2, -0.5, 3, 0, 1}, 2, 3)
		return qmatmul(b, true, c(b, []float64{1, 2, 3}, 1, 3), w)
	}, []int{1, 2}, []float64{3.5, 6}},
	{graph.OpQMatMul, "bf16 weights round x: 1+2⁻⁸ to 1, 3+2⁻⁷ to 3", func(b *dsl.Builder) *dsl.Tensor {
		w := lowParam(b, "wh", graph.BF16, []float64{1, 0, 0, 1}, 2, 2)
		return qmatmul(b, false, c(b, []float64{1.00390625, 3.0078125}, 1, 2), w)
	}, []int{1, 2}, []float64{1, 3}},
	{graph.OpRoundBF16, "ties to even, overflow, subnormal", func(b *dsl.Builder) *dsl.Tensor {
		// 1+2⁻⁸ and 1+3·2⁻⁸ are ties (down to 1, up to 1+2⁻⁶); 3.4e38 is past the
		// largest bf16 plus half an ulp; 2⁻¹³⁰ is a subnormal bf16 holds.
		return roundBF16(b, c(b, []float64{1.00390625, 1.01171875, -2.5, 3.4e38, math.Ldexp(1, -130), 0.1}, 6))
	}, []int{6}, []float64{1, 1.015625, -2.5, math.Inf(1), math.Ldexp(1, -130), 0.10009765625}},
	{graph.OpTranspose, "2x3ᵀ", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3).T() }, []int{3, 2}, []float64{1, 4, 2, 5, 3, 6}},
	{graph.OpReshape, "3x2", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3).Reshape(3, -1) }, []int{3, 2}, []float64{1, 2, 3, 4, 5, 6}},
	{graph.OpBroadcastTo, "rows", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2}, 2, 1).BroadcastTo(2, 3) }, []int{2, 3}, []float64{1, 1, 1, 2, 2, 2}},
	{graph.OpSlice, "block", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3).Slice([]int{0, 1}, []int{2, 3})
	}, []int{2, 2}, []float64{2, 3, 5, 6}},
	{graph.OpPad, "pad", func(b *dsl.Builder) *dsl.Tensor {
		x := c(b, []float64{1, 2}, 1, 2)
		n, _ := b.Graph().Apply(graph.OpPad, graph.Attrs{Starts: []int{1, 1}, Shape: []int{2, 3}}, x.Node())
		return dsl.Wrap(b, n)
	}, []int{2, 3}, []float64{0, 0, 0, 0, 1, 2}},
	{graph.OpConcat, "axis 1", func(b *dsl.Builder) *dsl.Tensor {
		return dsl.Concat(1, c(b, []float64{1, 2}, 2, 1), c(b, []float64{3, 4, 5, 6}, 2, 2))
	}, []int{2, 3}, []float64{1, 3, 4, 2, 5, 6}},
	{graph.OpGather, "embedding", func(b *dsl.Builder) *dsl.Tensor {
		return c(b, []float64{1, 2, 3, 4, 5, 6}, 3, 2).Gather(ids(b, []int{2, 0, 2}, 3))
	}, []int{3, 2}, []float64{5, 6, 1, 2, 5, 6}},
	{graph.OpScatterAdd, "adjoint", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpScatterAdd, graph.Attrs{Depth: 3}, ids(b, []int{2, 0, 2}, 3).Node(), c(b, []float64{1, 2, 3, 4, 5, 6}, 3, 2).Node())
		return dsl.Wrap(b, n)
	}, []int{3, 2}, []float64{3, 4, 0, 0, 6, 8}},
	{graph.OpOneHot, "onehot", func(b *dsl.Builder) *dsl.Tensor { return ids(b, []int{1, 0}, 2).OneHot(3) }, []int{2, 3}, []float64{0, 1, 0, 1, 0, 0}},
	{graph.OpSum, "rows", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3).Sum(1) }, []int{2}, []float64{6, 15}},
	{graph.OpSum, "all", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3).Sum() }, []int{}, []float64{21}},
	{graph.OpMean, "columns keepdims", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3, 4, 5, 6}, 2, 3).MeanKeep(0) }, []int{1, 3}, []float64{2.5, 3.5, 4.5}},
	{graph.OpMax, "rows", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 7, 3, -4, -5, -6}, 2, 3).Max(1) }, []int{2}, []float64{7, -4}},
	{graph.OpArgMax, "first max", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 7, 7, -4, -5, -6}, 2, 3).ArgMax(1) }, []int{2}, []float64{1, 0}},
	{graph.OpSoftmax, "rows", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{0, ln3, 5, 5}, 2, 2).Softmax(-1) }, []int{2, 2}, []float64{0.25, 0.75, 0.5, 0.5}},
	{graph.OpSoftmax, "large logits", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1000, 1000}, 1, 2).Softmax(-1) }, []int{1, 2}, []float64{0.5, 0.5}},
	{graph.OpLogSoftmax, "rows", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{0, ln3}, 1, 2).LogSoftmax(1) }, []int{1, 2}, []float64{math.Log(0.25), math.Log(0.75)}},
	{graph.OpSoftmaxGrad, "y(dy−Σdy·y)", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpSoftmaxGrad, graph.Attrs{Axis: 0}, c(b, []float64{0.25, 0.75}, 2).Node(), c(b, []float64{1, 0}, 2).Node())
		return dsl.Wrap(b, n) // Σ dy·y = 0.25: [0.25·0.75, 0.75·(−0.25)]
	}, []int{2}, []float64{0.1875, -0.1875}},
	{graph.OpLogSoftmaxGrad, "dy−e^y Σdy", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpLogSoftmaxGrad, graph.Attrs{Axis: 0}, c(b, []float64{math.Log(0.25), math.Log(0.75)}, 2).Node(), c(b, []float64{1, 1}, 2).Node())
		return dsl.Wrap(b, n) // Σdy = 2: [1 − 0.5, 1 − 1.5]
	}, []int{2}, []float64{0.5, -0.5}},
	{graph.OpLayerNorm, "row", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 2, 3, 6}, 1, 4).Normalize(1e-5) }, []int{1, 4}, lnRow([]float64{1, 2, 3, 6}, 1e-5)},
	{graph.OpLayerNormGrad, "uniform dy", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpLayerNormGrad, graph.Attrs{Eps: 0}, c(b, []float64{1, 3}, 1, 2).Node(), c(b, []float64{1, 1}, 1, 2).Node())
		return dsl.Wrap(b, n) // a shift of x does not change the output: zero gradient
	}, []int{1, 2}, []float64{0, 0}},
	{graph.OpGELUGrad, "at 0", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpGELUGrad, graph.Attrs{}, c(b, []float64{0}, 1).Node(), c(b, []float64{2}, 1).Node())
		return dsl.Wrap(b, n) // gelu′(0) = ½
	}, []int{1}, []float64{1}},
	{graph.OpGELUErfGrad, "at 0 and 1", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpGELUErfGrad, graph.Attrs{}, c(b, []float64{0, 1}, 2).Node(), c(b, []float64{2, 1}, 2).Node())
		return dsl.Wrap(b, n) // Φ(0) = ½; Φ(1) + φ(1) = 0.8413447460685429 + 0.24197072451914337
	}, []int{2}, []float64{1, 1.0833154705876864}},
	{graph.OpCausalMask, "3x3", func(b *dsl.Builder) *dsl.Tensor { return b.CausalMask(3) }, []int{3, 3}, []float64{1, 0, 0, 1, 1, 0, 1, 1, 1}},
	{graph.OpCrossEntropy, "mean", func(b *dsl.Builder) *dsl.Tensor {
		return dsl.CrossEntropy(c(b, []float64{0, ln3, 7, 7}, 2, 2), ids(b, []int{1, 0}, 2))
	}, []int{}, []float64{(-math.Log(0.75) + ln2) / 2}},
	{graph.OpCrossEntropy, "masked", func(b *dsl.Builder) *dsl.Tensor {
		t := ids(b, []int{1, 0, 1}, 3)
		return dsl.CrossEntropy(c(b, []float64{0, ln3, 7, 7, 50, -50}, 3, 2), t, c(b, []float64{1, 1, 0}, 3).Greater(b.Const(0.5)))
	}, []int{}, []float64{(-math.Log(0.75) + ln2) / 2}},
	{graph.OpBCEWithLogits, "mean", func(b *dsl.Builder) *dsl.Tensor {
		return dsl.BCEWithLogits(c(b, []float64{0, ln3, 1000}, 3), c(b, []float64{1, 0, 1}, 3))
	}, []int{}, []float64{(ln2 + math.Log(4)) / 3}},
	{graph.OpMSE, "mean", func(b *dsl.Builder) *dsl.Tensor { return dsl.MSE(c(b, []float64{1, 2}, 2), c(b, []float64{0, 0}, 2)) }, []int{}, []float64{2.5}},
	{graph.OpDropoutMask, "p=0 keeps all", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpDropoutMask, graph.Attrs{P: 0, Shape: []int{2, 2}, To: b.Float()})
		return dsl.Wrap(b, n)
	}, []int{2, 2}, []float64{1, 1, 1, 1}},
	{graph.OpApplySGD, "p − lr·s·g", func(b *dsl.Builder) *dsl.Tensor {
		w := b.Param("w", dsl.Values(1, 2), 2)
		applyUpdate(b, graph.OpApplySGD, graph.Attrs{}, w, c(b, []float64{0.5, -1}, 2), b.Const(0.1), b.Const(2))
		return w
	}, []int{2}, []float64{0.9, 2.2}},
	{graph.OpApplyMomentum, "v = μv + g; p −= lr·v", func(b *dsl.Builder) *dsl.Tensor {
		w, v := b.Param("w", dsl.Values(1), 1), b.State("w.v", 0.2, 1)
		applyUpdate(b, graph.OpApplyMomentum, graph.Attrs{}, w, c(b, []float64{0.5}, 1), v, b.Const(0.1), b.Const(1), b.Const(0.9))
		return w // v = 0.18 + 0.5 = 0.68
	}, []int{1}, []float64{1 - 0.068}},
	{graph.OpApplyEMAMomentum, "v = βv + (1−β)g; p −= lr·v", func(b *dsl.Builder) *dsl.Tensor {
		w, v := b.Param("w", dsl.Values(1), 1), b.State("w.v", 0.2, 1)
		applyUpdate(b, graph.OpApplyEMAMomentum, graph.Attrs{}, w, c(b, []float64{0.5}, 1), v, b.Const(0.1), b.Const(1), b.Const(0.9))
		return w // v = 0.18 + 0.05 = 0.23
	}, []int{1}, []float64{1 - 0.023}},
	{graph.OpApplyRMSProp, "v = αv + (1−α)g²; p −= lr·g/(√v+ε)", func(b *dsl.Builder) *dsl.Tensor {
		w, v := b.Param("w", dsl.Values(1), 1), b.State("w.v", 0, 1)
		applyUpdate(b, graph.OpApplyRMSProp, graph.Attrs{}, w, c(b, []float64{0.5}, 1), v, b.Const(0.1), b.Const(1), b.Const(0.99), b.Const(1e-8))
		return w // v = 0.01·0.25 = 0.0025, √v = 0.05
	}, []int{1}, []float64{1 - 0.1*0.5/(0.05+1e-8)}},
	{graph.OpApplyAdam, "AdamW, first update", func(b *dsl.Builder) *dsl.Tensor {
		w := b.Param("w", dsl.Values(1), 1)
		m, v := b.State("w.m", 0, 1), b.State("w.v", 0, 1)
		applyUpdate(b, graph.OpApplyAdam, graph.Attrs{}, w, c(b, []float64{0.5}, 1), m, v, b.Const(0.1), b.Const(1), b.Const(1), b.Const(0.9), b.Const(0.999), b.Const(1e-8), b.Const(0.5))
		return w // decay to 0.95; m̂ = 0.5, v̂ = 0.25: step 0.1·0.5/(0.5+1e-8)
	}, []int{1}, []float64{0.95 - 0.1*0.5/(0.5+1e-8)}},
	{graph.OpAssign, "step ← t", func(b *dsl.Builder) *dsl.Tensor {
		s := b.State("step", 0)
		applyUpdate(b, graph.OpAssign, graph.Attrs{}, s, b.Const(3))
		return s
	}, []int{}, []float64{3}},
	{graph.OpLRSchedule, "warmup then cosine", func(b *dsl.Builder) *dsl.Tensor {
		at := graph.Attrs{LR: 1, Warmup: 2, Steps: 10, LRMin: 0.1}
		t := c(b, []float64{1, 2, 3, 10, 12}, 5)
		var out []*dsl.Tensor
		for i := range 5 {
			n, _ := b.Graph().Apply(graph.OpLRSchedule, at, t.SliceAxis(0, i, i+1).Reshape().Node())
			out = append(out, dsl.Wrap(b, n).Reshape(1))
		}
		return dsl.Concat(0, out...)
	}, []int{5}, []float64{0.5, 1, 0.1 + 0.45*(1+math.Cos(math.Pi/8)), 0.1, 0.1}},
	{graph.OpGlobalNorm, "‖(3, 4)‖", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpGlobalNorm, graph.Attrs{}, c(b, []float64{3}, 1).Node(), c(b, []float64{4}, 1, 1).Node())
		return dsl.Wrap(b, n)
	}, []int{}, []float64{5}},
	{graph.OpAttendCache, "two heads at t = 1, cache row 2 unused", func(b *dsl.Builder) *dsl.Tensor {
		q := c(b, []float64{1, 0, 0, 1}, 2, 1, 2)
		K := c(b, []float64{2, 0, 100, 100, 100, 100, 0, 0, 100, 100, 100, 100}, 2, 3, 2)
		V := c(b, []float64{1, 2, 100, 100, 100, 100, 4, 4, 100, 100, 100, 100}, 2, 3, 2)
		kNew, vNew := c(b, []float64{0, 1, 0, 0}, 2, 1, 2), c(b, []float64{3, -1, 0, 2}, 2, 1, 2)
		n, _ := b.Graph().Apply(graph.OpAttendCache, graph.Attrs{Value: 0.5}, q.Node(), K.Node(), V.Node(), kNew.Node(), vNew.Node(), b.Const(1).Node())
		// head 0: scores (2·0.5, 0) = (1, 0), weights (e, 1)/(e+1); head 1: equal scores, the mean of (4, 4) and (0, 2).
		return dsl.Wrap(b, n)
	}, []int{2, 1, 2}, []float64{(math.E*1 + 3) / (math.E + 1), (math.E*2 - 1) / (math.E + 1), 2, 3}},
	{graph.OpAttendCache, "two query rows share one key head (grouped-query attention)", func(b *dsl.Builder) *dsl.Tensor {
		q := c(b, []float64{1, 0, 0, 1}, 1, 2, 2)
		K := c(b, []float64{2, 0, 100, 100}, 1, 2, 2)
		V := c(b, []float64{1, 2, 100, 100}, 1, 2, 2)
		kNew, vNew := c(b, []float64{0, 2}, 1, 1, 2), c(b, []float64{3, -1}, 1, 1, 2)
		n, _ := b.Graph().Apply(graph.OpAttendCache, graph.Attrs{Value: 0.5}, q.Node(), K.Node(), V.Node(), kNew.Node(), vNew.Node(), b.Const(1).Node())
		// row 0: scores (1, 0), weights (e, 1)/(e+1); row 1: scores (0, 1), weights (1, e)/(e+1).
		return dsl.Wrap(b, n)
	}, []int{1, 2, 2}, []float64{(math.E*1 + 3) / (math.E + 1), (math.E*2 - 1) / (math.E + 1), (1 + 3*math.E) / (math.E + 1), (2 - math.E) / (math.E + 1)}},
	{graph.OpRMSNorm, "x/rms", func(b *dsl.Builder) *dsl.Tensor { return c(b, []float64{1, 7, 3, 4}, 2, 2).RMSNormalize(0) }, // rms 5 and √12.5
		[]int{2, 2}, []float64{0.2, 1.4, 3 / math.Sqrt(12.5), 4 / math.Sqrt(12.5)}},
	{graph.OpRMSNormGrad, "(dy − x̂·mean(dy·x̂))/rms", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpRMSNormGrad, graph.Attrs{Eps: 0}, c(b, []float64{1, 7, 1, 7}, 2, 2).Node(), c(b, []float64{1, 0, 1, 7}, 2, 2).Node())
		// rms 5, x̂ = (0.2, 1.4); dy = (1, 0): mean(dy·x̂) = 0.1; dy ∝ x: 0 (RMSNorm ignores scale).
		return dsl.Wrap(b, n)
	}, []int{2, 2}, []float64{(1 - 0.02) / 5, (0 - 0.14) / 5, 0, 0}},
	{graph.OpRoPE, "rotate-half, rows at 1 and 2", func(b *dsl.Builder) *dsl.Tensor {
		// d 4, theta 100: θ = (1, 0.1); pairs (x0, x2) and (x1, x3).
		return dsl.RoPE{Theta: 100, Offset: 1}.Rotate(c(b, []float64{1, 2, 3, 4, 1, 0, 0, 0}, 2, 4))
	}, []int{2, 4}, ropeRow([]float64{1, 2, 3, 4, 1, 0, 0, 0}, []float64{1, 0.1}, 1, false, false)},
	{graph.OpRoPE, "interleaved at pos 3 + offset 1 + t", func(b *dsl.Builder) *dsl.Tensor {
		n, _ := b.Graph().Apply(graph.OpRoPE, graph.Attrs{Theta: 100, Offset: 1, Interleaved: true}, c(b, []float64{1, 2, 3, 4, 1, 0, 0, 0}, 1, 2, 4).Node(), b.Const(3).Node())
		return dsl.Wrap(b, n)
	}, []int{1, 2, 4}, ropeRow([]float64{1, 2, 3, 4, 1, 0, 0, 0}, []float64{1, 0.1}, 4, true, false)},
	{graph.OpRoPE, "inverse undoes the rotation", func(b *dsl.Builder) *dsl.Tensor {
		x := dsl.RoPE{Theta: 100, Offset: 2}.Rotate(c(b, []float64{1, 2, 3, 4, 5, 6, 7, 8}, 2, 4))
		n, _ := b.Graph().Apply(graph.OpRoPE, graph.Attrs{Theta: 100, Offset: 2, Inverse: true}, x.Node())
		return dsl.Wrap(b, n)
	}, []int{2, 4}, []float64{1, 2, 3, 4, 5, 6, 7, 8}},
	{graph.OpCacheWrite, "row 2 of a 3-row cache", func(b *dsl.Builder) *dsl.Tensor {
		C := b.State("k.cache", 0, 1, 3, 2)
		applyUpdate(b, graph.OpCacheWrite, graph.Attrs{}, C, c(b, []float64{5, 6}, 1, 1, 2), b.Const(2))
		return C
	}, []int{1, 3, 2}, []float64{0, 0, 0, 0, 5, 6}},
}

// applyUpdate adds an optimizer update node with role update.
func applyUpdate(b *dsl.Builder, op graph.Op, a graph.Attrs, xs ...*dsl.Tensor) error {
	nodes := make([]*graph.Node, len(xs))
	for i, x := range xs {
		nodes[i] = x.Node()
	}
	n, err := b.Graph().Apply(op, a, nodes...)
	if err != nil {
		b.Errorf("%v", err)
		return err
	}
	n.Role = graph.RoleUpdate
	return nil
}

// TestOpValues runs every op's hand-computed examples in f64 (to 1e-12) and
// f32 (to 1e-6 relative), and fails when an op has no example.
func TestOpValues(t *testing.T) {
	covered := map[graph.Op]bool{}
	for _, oc := range opCases {
		covered[oc.op] = true
		for _, dt := range []graph.DType{graph.F64, graph.F32} {
			t.Run(oc.op.String()+"/"+oc.name+"/"+dt.String(), func(t *testing.T) {
				var out *graph.Node
				g, err := dsl.Build("op", "op", dsl.Options{Float: dt}, func(b *dsl.Builder) {
					r := oc.build(b)
					out = r.Node()
					b.Output("out", r)
				})
				if err != nil {
					t.Fatal(err)
				}
				it, err := runtime.NewInterpreter(g, runtime.Options{})
				if err != nil {
					t.Fatal(err)
				}
				in := map[string]*runtime.Tensor{}
				if x := g.Find("x"); x != nil && x.Op == graph.OpInput {
					in["x"] = runtime.NewTensor(x.Type)
					copy(in["x"].F64, []float64{1.5, -2})
					if dt == graph.F32 {
						copy(in["x"].F32, []float32{1.5, -2})
					}
				}
				if err := it.Run(in); err != nil {
					t.Fatal(err)
				}
				got := it.Value(out)
				if !got.Shape.Equal(oc.shape) {
					t.Fatalf("shape %s, want %v", got.Shape, oc.shape)
				}
				tol := 1e-12
				if dt == graph.F32 && got.DType == graph.F32 {
					tol = 1e-6
				}
				if d := testutil.CompareSlices(got.Float64s(), oc.want, tol); d != "" {
					t.Error(d)
				}
			})
		}
	}
	for _, op := range graph.AllOps() {
		if !covered[op] {
			t.Errorf("%s has no hand-computed test", op)
		}
	}
}

// shapeCase is a mistake and the exact message Build reports after "file:line: ".
type shapeCase struct {
	op    graph.Op
	build func(b *dsl.Builder)
	want  string
}

var shapeCases = []shapeCase{
	{graph.OpInput, func(b *dsl.Builder) { b.Input("x", 2, 0) }, `Input "x": dimensions must be positive, got [2,0]`},
	{graph.OpParam, func(b *dsl.Builder) { b.Param("w", dsl.Values(1, 2), 3) }, `"w": Param: init values has 2 numbers for shape [3] (3 elements)`},
	{graph.OpState, func(b *dsl.Builder) { b.State("bad name", 0, 2) }, `State: bad name "bad name": use letters, digits, '_' and '.', starting with a letter`},
	{graph.OpConst, func(b *dsl.Builder) { b.ConstValues([]float64{1, 2, 3}, 2) }, `Const: data has 3 numbers for shape [2]`},
	{graph.OpNeg, func(b *dsl.Builder) { b.InputIDs("i", 2).Neg() }, `Neg: operand i is i32[2], want f32 or f64`},
	{graph.OpExp, func(b *dsl.Builder) { b.InputIDs("i", 2).Exp() }, `Exp: operand i is i32[2], want f32 or f64`},
	{graph.OpLog, func(b *dsl.Builder) { b.InputMask("m", 2).Log() }, `Log: operand m is bool[2], want f32 or f64`},
	{graph.OpSqrt, func(b *dsl.Builder) { b.InputIDs("i", 2).Sqrt() }, `Sqrt: operand i is i32[2], want f32 or f64`},
	{graph.OpRsqrt, func(b *dsl.Builder) { b.InputIDs("i", 2).Rsqrt() }, `Rsqrt: operand i is i32[2], want f32 or f64`},
	{graph.OpTanh, func(b *dsl.Builder) { b.InputIDs("i", 2).Tanh() }, `Tanh: operand i is i32[2], want f32 or f64`},
	{graph.OpSigmoid, func(b *dsl.Builder) { b.InputIDs("i", 2).Sigmoid() }, `Sigmoid: operand i is i32[2], want f32 or f64`},
	{graph.OpReLU, func(b *dsl.Builder) { b.InputIDs("i", 2).ReLU() }, `ReLU: operand i is i32[2], want f32 or f64`},
	{graph.OpGELU, func(b *dsl.Builder) { b.InputIDs("i", 2).GELU() }, `GELU: operand i is i32[2], want f32 or f64`},
	{graph.OpGELUErf, func(b *dsl.Builder) { b.InputIDs("i", 2).GELUErf() }, `GELUErf: operand i is i32[2], want f32 or f64`},
	{graph.OpAbs, func(b *dsl.Builder) { b.InputIDs("i", 2).Abs() }, `Abs: operand i is i32[2], want f32 or f64`},
	{graph.OpErf, func(b *dsl.Builder) { b.InputIDs("i", 2).Erf() }, `Erf: operand i is i32[2], want f32 or f64`},
	{graph.OpIm2Col, func(b *dsl.Builder) { b.Input("x", 1, 1, 2).Im2Col(dsl.Window{Kernel: []int{3}}, 0) }, `Im2Col: axis 0: the window (3 with dilation) is larger than the padded image (2)`},
	{graph.OpCol2Im, func(b *dsl.Builder) { b.Input("x", 1, 1, 2, 2).Col2Im(dsl.Window{Kernel: []int{2}}, 4) }, `Col2Im: operand [1,1,2,2] does not match the columns [1,1,2,3] of image [4]`},
	{graph.OpPow, func(b *dsl.Builder) { b.InputIDs("i", 2).Pow(2) }, `Pow: operand i is i32[2], want f32 or f64`},
	{graph.OpCast, func(b *dsl.Builder) { b.Input("x", 2).Cast(graph.Void) }, `Cast: cannot cast to void`},
	{graph.OpAdd, func(b *dsl.Builder) { b.Input("x", 2, 3).Add(b.Input("y", 4)) }, `Add: shapes [2,3] and [4] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpSub, func(b *dsl.Builder) { b.Input("x", 2, 3).Sub(b.Input("y", 3, 3)) }, `Sub: shapes [2,3] and [3,3] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpMul, func(b *dsl.Builder) { b.Input("x", 2).Mul(b.InputIDs("i", 2)) }, `Mul: dtypes differ: f64[2] and i32[2]`},
	{graph.OpDiv, func(b *dsl.Builder) { b.Input("x", 5).Div(b.Input("y", 2)) }, `Div: shapes [5] and [2] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpMaximum, func(b *dsl.Builder) { b.Input("x", 5).Maximum(b.Input("y", 2)) }, `Maximum: shapes [5] and [2] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpMinimum, func(b *dsl.Builder) { b.Input("x", 5).Minimum(b.Input("y", 2)) }, `Minimum: shapes [5] and [2] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpLess, func(b *dsl.Builder) { b.Input("x", 2).Less(b.InputIDs("i", 2)) }, `Less: dtypes differ: f64[2] and i32[2]`},
	{graph.OpLessEqual, func(b *dsl.Builder) { b.Input("x", 2).LessEqual(b.Input("y", 3)) }, `LessEqual: shapes [2] and [3] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpGreater, func(b *dsl.Builder) { b.InputMask("m", 2).Greater(b.InputMask("n", 2)) }, `Greater: cannot compare bool values`},
	{graph.OpGreaterEqual, func(b *dsl.Builder) { b.Input("x", 2).GreaterEqual(b.Input("y", 3)) }, `GreaterEqual: shapes [2] and [3] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpEqual, func(b *dsl.Builder) { b.InputIDs("i", 2).Equal(b.InputIDs("j", 3)) }, `Equal: shapes [2] and [3] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpNotEqual, func(b *dsl.Builder) { b.InputIDs("i", 2).NotEqual(b.Input("x", 2)) }, `NotEqual: dtypes differ: i32[2] and f64[2]`},
	{graph.OpAnd, func(b *dsl.Builder) { b.InputMask("m", 2).And(b.Input("x", 2)) }, `And: operand x is f64[2], want a bool mask`},
	{graph.OpOr, func(b *dsl.Builder) { b.InputMask("m", 2).Or(b.InputMask("n", 3)) }, `Or: shapes [2] and [3] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpNot, func(b *dsl.Builder) { b.Input("x", 2).Not() }, `Not: operand x is f64[2], want a bool mask`},
	{graph.OpWhere, func(b *dsl.Builder) { dsl.Where(b.Input("x", 2), b.Input("y", 2), b.Input("z", 2)) }, `Where: condition x is f64[2], want a bool mask`},
	{graph.OpMatMul, func(b *dsl.Builder) { b.Input("x", 64, 784).MatMul(b.Param("w", dsl.He(), 256, 784)) }, `MatMul: inner dimensions differ: [64,784] x [256,784]; did you mean Transpose(w)?`},
	{graph.OpTranspose, func(b *dsl.Builder) { b.Input("x", 2, 3).Transpose(0, 0) }, `Transpose: perm [0,0] is not a permutation of 0..1`},
	{graph.OpReshape, func(b *dsl.Builder) { b.Input("x", 2, 3).Reshape(4, 2) }, `Reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements)`},
	{graph.OpBroadcastTo, func(b *dsl.Builder) { b.Input("x", 2, 3).BroadcastTo(3, 3) }, `BroadcastTo: cannot broadcast [2,3] to [3,3]`},
	{graph.OpSlice, func(b *dsl.Builder) { b.Input("x", 2, 3).Slice([]int{0, 1}, []int{2, 4}) }, `Slice: range 1:4 on axis 1 is outside [2,3]`},
	{graph.OpPad, func(b *dsl.Builder) {
		if _, err := b.Graph().Apply(graph.OpPad, graph.Attrs{Starts: []int{1}, Shape: []int{2}}, b.Input("x", 2).Node()); err != nil {
			b.Errorf("%v", err)
		}
	}, `Pad: [2] at offset [1] does not fit in [2]`},
	{graph.OpConcat, func(b *dsl.Builder) { dsl.Concat(1, b.Input("x", 2, 3), b.Input("y", 3, 3)) }, `Concat: shapes [2,3] and [3,3] differ off axis 1`},
	{graph.OpGather, func(b *dsl.Builder) { b.Param("E", dsl.Zeros(), 5, 4).Gather(b.Input("x", 3)) }, `Gather: ids x are f64[3], want i32`},
	{graph.OpGather, func(b *dsl.Builder) { b.InputIDs("T", 5, 4).Gather(b.InputIDs("i", 3)) }, `Gather: operand T is i32[5,4], want f32 or f64`},
	{graph.OpScatterAdd, func(b *dsl.Builder) {
		if _, err := b.Graph().Apply(graph.OpScatterAdd, graph.Attrs{Depth: 4}, b.InputIDs("i", 3).Node(), b.Input("u", 2, 4).Node()); err != nil {
			b.Errorf("%v", err)
		}
	}, `ScatterAdd: updates [2,4] must start with the ids shape [3]`},
	{graph.OpOneHot, func(b *dsl.Builder) { b.Input("x", 3).OneHot(4) }, `OneHot: ids x are f64[3], want i32`},
	{graph.OpSum, func(b *dsl.Builder) { b.Input("x", 2, 3).Sum(2) }, `Sum: axis 2 out of range for [2,3]`},
	{graph.OpMean, func(b *dsl.Builder) { b.Input("x", 2, 3).Mean(1, 0) }, `Mean: axes [1,0] must be increasing and distinct`},
	{graph.OpMax, func(b *dsl.Builder) { b.InputIDs("i", 3).Max() }, `Max: operand i is i32[3], want f32 or f64`},
	{graph.OpArgMax, func(b *dsl.Builder) { b.Input("x", 2, 3).ArgMax(5) }, `ArgMax: axis 5 out of range for [2,3]`},
	{graph.OpSoftmax, func(b *dsl.Builder) { b.Input("x", 2, 3).Softmax(2) }, `Softmax: axis 2 out of range for [2,3]`},
	{graph.OpLogSoftmax, func(b *dsl.Builder) { b.InputIDs("i", 3).LogSoftmax(0) }, `LogSoftmax: operand i is i32[3], want f32 or f64`},
	{graph.OpSoftmaxGrad, func(b *dsl.Builder) {
		applyErr(b, graph.OpSoftmaxGrad, graph.Attrs{}, b.Input("y", 2), b.Input("dy", 3))
	}, `SoftmaxGrad: operands differ: f64[2] and f64[3]`},
	{graph.OpLogSoftmaxGrad, func(b *dsl.Builder) {
		applyErr(b, graph.OpLogSoftmaxGrad, graph.Attrs{}, b.Input("y", 2), b.Input("dy", 3))
	}, `LogSoftmaxGrad: operands differ: f64[2] and f64[3]`},
	{graph.OpLayerNorm, func(b *dsl.Builder) {
		dsl.LayerNorm(b.Input("x", 3, 4), b.Param("g", dsl.Ones(), 5), b.Param("b", dsl.Zeros(), 4), 1e-5)
	}, `Mul: shapes [3,4] and [5] do not broadcast; dimensions must match or be 1, aligned from the right`},
	{graph.OpLayerNormGrad, func(b *dsl.Builder) {
		applyErr(b, graph.OpLayerNormGrad, graph.Attrs{}, b.Input("x", 2), b.Input("dy", 3))
	}, `LayerNormGrad: operands differ: f64[2] and f64[3]`},
	{graph.OpGELUGrad, func(b *dsl.Builder) { applyErr(b, graph.OpGELUGrad, graph.Attrs{}, b.Input("x", 2), b.Input("dy", 3)) }, `GELUGrad: operands differ: f64[2] and f64[3]`},
	{graph.OpGELUErfGrad, func(b *dsl.Builder) {
		applyErr(b, graph.OpGELUErfGrad, graph.Attrs{}, b.Input("x", 2), b.Input("dy", 3))
	}, `GELUErfGrad: operands differ: f64[2] and f64[3]`},
	{graph.OpCausalMask, func(b *dsl.Builder) { b.CausalMask(0) }, `CausalMask: dimensions must be positive, got [0,0]`},
	{graph.OpCrossEntropy, func(b *dsl.Builder) { dsl.CrossEntropy(b.Input("z", 4, 10), b.InputIDs("t", 5)) }, `CrossEntropy: logits [4,10] and targets [5] disagree; logits must be the targets' shape plus a class axis`},
	{graph.OpBCEWithLogits, func(b *dsl.Builder) { dsl.BCEWithLogits(b.Input("z", 4, 1), b.Input("y", 4)) }, `BCEWithLogits: operands differ: f64[4,1] and f64[4]`},
	{graph.OpMSE, func(b *dsl.Builder) { dsl.MSE(b.Input("a", 4), b.Input("b", 3)) }, `MSE: operands differ: f64[4] and f64[3]`},
	{graph.OpDropoutMask, func(b *dsl.Builder) {
		applyErr(b, graph.OpDropoutMask, graph.Attrs{P: 1, Shape: []int{2}, To: b.Float()})
	}, `DropoutMask: p must be in [0, 1), got 1`},
	{graph.OpApplySGD, func(b *dsl.Builder) {
		applyUpdate(b, graph.OpApplySGD, graph.Attrs{}, b.Param("w", dsl.Zeros(), 2), b.Input("g", 3), b.Const(0.1), b.Const(1))
	}, `ApplySGD: gradient g is f64[3], parameter w is f64[2]`},
	{graph.OpApplyMomentum, func(b *dsl.Builder) {
		applyUpdate(b, graph.OpApplyMomentum, graph.Attrs{}, b.Param("w", dsl.Zeros(), 2), b.Input("g", 2), b.Input("v", 2), b.Const(0.1), b.Const(1), b.Const(0.9))
	}, `ApplyMomentum: operand v (f64[2]) must be a state variable shaped like f64[2] or a scalar`},
	{graph.OpApplyEMAMomentum, func(b *dsl.Builder) {
		applyUpdate(b, graph.OpApplyEMAMomentum, graph.Attrs{}, b.Input("w", 2), b.Input("g", 2), b.State("v", 0, 2), b.Const(0.1), b.Const(1), b.Const(0.9))
	}, `ApplyEMAMomentum: updates w, which is not a Param or State`},
	{graph.OpApplyRMSProp, func(b *dsl.Builder) {
		applyUpdate(b, graph.OpApplyRMSProp, graph.Attrs{}, b.Param("w", dsl.Zeros(), 2), b.Input("g", 2), b.State("v", 0, 3), b.Const(0.1), b.Const(1), b.Const(0.99), b.Const(1e-8))
	}, `ApplyRMSProp: operand v (f64[3]) must be a state variable shaped like f64[2] or a scalar`},
	{graph.OpApplyAdam, func(b *dsl.Builder) {
		applyUpdate(b, graph.OpApplyAdam, graph.Attrs{}, b.Param("w", dsl.Zeros(), 2), b.Input("g", 2), b.State("m", 0, 2), b.State("v", 0, 2), b.Const(0.1), b.Const(1))
	}, `ApplyAdam: takes 10 to 11 operands, got 6`},
	{graph.OpAssign, func(b *dsl.Builder) {
		applyUpdate(b, graph.OpAssign, graph.Attrs{}, b.State("s", 0), b.Const(1, 2))
	}, `Assign: value v1 is f64[2], variable s is f64[]`},
	{graph.OpLRSchedule, func(b *dsl.Builder) {
		applyErr(b, graph.OpLRSchedule, graph.Attrs{LR: 1, Warmup: 5, Steps: 5}, b.Const(1))
	}, `LRSchedule: need 0 ≤ warmup < steps (or steps = 0), got warmup 5, steps 5`},
	{graph.OpGlobalNorm, func(b *dsl.Builder) {
		applyErr(b, graph.OpGlobalNorm, graph.Attrs{}, b.Input("g", 2), b.InputIDs("i", 2))
	}, `GlobalNorm: operands must share one float dtype, got f64[2] and i32[2]`},
	{graph.OpAttendCache, func(b *dsl.Builder) {
		x := b.Input("q", 1, 2, 2)
		applyErr(b, graph.OpAttendCache, graph.Attrs{Value: 1}, x, b.State("K", 0, 1, 4, 2), b.State("V", 0, 1, 4, 2), x, x, b.Const(0))
	}, `AttendCache: new key f64[1,2,2] and value f64[1,2,2] must be one row [..., 1, d] like q f64[1,2,2]`},
	{graph.OpRMSNorm, func(b *dsl.Builder) { b.InputIDs("i", 2).RMSNormalize(1e-5) }, `RMSNorm: operand i is i32[2], want f32 or f64`},
	{graph.OpRMSNormGrad, func(b *dsl.Builder) {
		applyErr(b, graph.OpRMSNormGrad, graph.Attrs{}, b.Input("x", 2), b.Input("dy", 3))
	}, `RMSNormGrad: operands differ: f64[2] and f64[3]`},
	{graph.OpRoPE, func(b *dsl.Builder) { dsl.RoPE{Theta: 1e4}.Rotate(b.Input("x", 2, 3)) }, `RoPE: the rotated width 3 is odd: rotary embeddings rotate pairs of features`},
	{graph.OpRoPE, func(b *dsl.Builder) {
		applyErr(b, graph.OpRoPE, graph.Attrs{Theta: 1e4}, b.Input("x", 2, 4), b.Input("pos", 1))
	}, `RoPE: pos must be a float scalar, or a float vector of one position per entry of the first axis of [2,4], got f64[1]`},
	{graph.OpRoPE, func(b *dsl.Builder) { applyErr(b, graph.OpRoPE, graph.Attrs{}, b.Input("x", 2, 4)) }, `RoPE: theta must be positive and finite, got 0`},
	{graph.OpQMatMul, func(b *dsl.Builder) {
		applyErr(b, graph.OpQMatMul, graph.Attrs{}, b.Input("x", 2, 3), b.Param("w", dsl.Zeros(), 3, 2))
	}, `QMatMul: W w must be a bf16 or i8 parameter`},
	{graph.OpQMatMul, func(b *dsl.Builder) {
		applyErr(b, graph.OpQMatMul, graph.Attrs{}, b.Input("x", 2, 3), lowParam(b, "w", graph.I8, nil, 3, 2))
	}, `QMatMul: i8 weights w need their f32 scales`},
	{graph.OpQMatMul, func(b *dsl.Builder) {
		applyErr(b, graph.OpQMatMul, graph.Attrs{TransB: true}, b.Input("x", 2, 3), lowParam(b, "w", graph.BF16, nil, 3, 2))
	}, `QMatMul: inner dimensions differ: [2,3] x [3,2]`},
	{graph.OpRoundBF16, func(b *dsl.Builder) { applyErr(b, graph.OpRoundBF16, graph.Attrs{}, b.InputIDs("i", 2)) }, `RoundBF16: operand i is i32[2], want f32 or f64`},
	{graph.OpCacheWrite, func(b *dsl.Builder) {
		applyUpdate(b, graph.OpCacheWrite, graph.Attrs{}, b.State("K", 0, 1, 4, 2), b.Input("k", 1, 1, 3), b.Const(0))
	}, `CacheWrite: row f64[1,1,3] does not fit the cache f64[1,4,2]`},
}

// lowParam is a parameter of a low-precision dtype with these values.
func lowParam(b *dsl.Builder, name string, dt graph.DType, data []float64, dims ...int) *dsl.Tensor {
	a := graph.Attrs{Init: "values", Data: data}
	if data == nil {
		a.Init = "zeros"
	}
	n, err := b.Graph().Leaf(graph.OpParam, name, graph.T(dt, dims...), a)
	if err != nil {
		b.Errorf("%v", err)
		return nil
	}
	return dsl.Wrap(b, n)
}

// lowScales is an f32 parameter of i8 scales.
func lowScales(b *dsl.Builder, name string, s ...float64) *dsl.Tensor {
	n, err := b.Graph().Leaf(graph.OpParam, name, graph.T(graph.F32, len(s)), graph.Attrs{Init: "values", Data: s})
	if err != nil {
		b.Errorf("%v", err)
		return nil
	}
	return dsl.Wrap(b, n)
}

func qmatmul(b *dsl.Builder, transB bool, xs ...*dsl.Tensor) *dsl.Tensor {
	nodes := make([]*graph.Node, len(xs))
	for i, x := range xs {
		nodes[i] = x.Node()
	}
	n, err := b.Graph().Apply(graph.OpQMatMul, graph.Attrs{TransB: transB}, nodes...)
	if err != nil {
		b.Errorf("%v", err)
		return nil
	}
	return dsl.Wrap(b, n)
}

func roundBF16(b *dsl.Builder, x *dsl.Tensor) *dsl.Tensor {
	n, err := b.Graph().Apply(graph.OpRoundBF16, graph.Attrs{}, x.Node())
	if err != nil {
		b.Errorf("%v", err)
		return nil
	}
	return dsl.Wrap(b, n)
}

func applyErr(b *dsl.Builder, op graph.Op, a graph.Attrs, xs ...*dsl.Tensor) {
	nodes := make([]*graph.Node, len(xs))
	for i, x := range xs {
		nodes[i] = x.Node()
	}
	if _, err := b.Graph().Apply(op, a, nodes...); err != nil {
		b.Errorf("%v", err)
	}
}

var sitePrefix = regexp.MustCompile(`^runtime/ops_test\.go:\d+: `)

// TestOpShapeErrors checks the exact error for a bad shape or dtype of every
// op, reported at this file's line, and that no op is left out.
func TestOpShapeErrors(t *testing.T) {
	covered := map[graph.Op]bool{}
	for _, sc := range shapeCases {
		covered[sc.op] = true
		t.Run(sc.op.String(), func(t *testing.T) {
			_, err := dsl.Build("bad", "bad", dsl.Options{}, sc.build)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("want one error, got:\n%s", msg)
			}
			if !sitePrefix.MatchString(msg) {
				t.Fatalf("error %q does not start with this file's position", msg)
			}
			if got := sitePrefix.ReplaceAllString(msg, ""); got != sc.want {
				t.Errorf("error\n got %s\nwant %s", got, sc.want)
			}
		})
	}
	for _, op := range graph.AllOps() {
		if !covered[op] {
			t.Errorf("%s has no bad-shape test", op)
		}
	}
}
