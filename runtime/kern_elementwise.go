package runtime

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/graph"
)

// Elementwise kernels compute in float64 and round once when storing to an
// f32 result. For +, −, ×, ÷ and √ that is exactly float32 arithmetic (a
// float64 has more than twice float32's precision); for exp, log and tanh it is
// what Go code does anyway, since package math works in float64.

var (
	expF  = math.Exp
	logF  = math.Log
	sqrtF = math.Sqrt
	tanhF = math.Tanh
	absF  = math.Abs
	erfF  = math.Erf
)

// Sigmoid is 1/(1+e⁻ˣ) without overflow for large |x|.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

const geluC = 0.7978845608028654 // √(2/π)

// GELU is the tanh approximation 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
func GELU(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(geluC*(x+0.044715*x*x*x)))
}

// GELUGrad is dy · d GELU(x)/dx.
func GELUGrad(x, dy float64) float64 {
	u := geluC * (x + 0.044715*x*x*x)
	t := math.Tanh(u)
	du := geluC * (1 + 3*0.044715*x*x)
	return dy * (0.5*(1+t) + 0.5*x*(1-t*t)*du)
}

// GELUErf is GELU's exact form x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
func GELUErf(x float64) float64 {
	return 0.5 * x * (1 + math.Erf(x*math.Sqrt2/2))
}

// GELUErfGrad is dy · d GELUErf(x)/dx = dy · (Φ(x) + x·φ(x)).
func GELUErfGrad(x, dy float64) float64 {
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	return dy * (0.5*(1+math.Erf(x*math.Sqrt2/2)) + x*invSqrt2Pi*math.Exp(-0.5*x*x))
}

// maxF and minF propagate NaN like NumPy's maximum/minimum.
func maxF(a, b float64) float64 {
	if a != a || a >= b {
		return a
	}
	return b
}

func minF(a, b float64) float64 {
	if a != a || a <= b {
		return a
	}
	return b
}

func unaryKernel(f func(float64) float64) kernel {
	return func(_ *Interpreter, _ *graph.Node, out *Tensor, in []*Tensor) error {
		x := in[0]
		switch out.DType {
		case graph.F64:
			for i, v := range x.F64 {
				out.F64[i] = f(v)
			}
		case graph.F32:
			for i, v := range x.F32 {
				out.F32[i] = float32(f(float64(v)))
			}
		}
		return nil
	}
}

func kernPow(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	p := n.Attrs.Exponent
	return unaryKernel(func(x float64) float64 { return math.Pow(x, p) })(it, n, out, in)
}

func kernCast(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x := in[0]
	for i := range out.Len() {
		v := x.At(i)
		if out.DType == graph.I32 {
			v = math.Trunc(v)
		}
		out.Set(i, v)
	}
	return nil
}

func kernNot(_ *Interpreter, _ *graph.Node, out *Tensor, in []*Tensor) error {
	for i, v := range in[0].B {
		out.B[i] = !v
	}
	return nil
}

// bcastMap maps each element of the output shape to the element of an operand
// of shape in that NumPy broadcasting reads; nil when the shapes are equal.
func bcastMap(out, in graph.Shape) []int32 {
	if out.Equal(in) {
		return nil
	}
	r := len(out)
	strides := make([]int, r) // operand stride per output axis; 0 where broadcast
	st := in.Strides()
	for i := range r {
		j := i - (r - len(in))
		if j >= 0 && in[j] != 1 {
			strides[i] = st[j]
		}
	}
	m := make([]int32, out.Size())
	idx := make([]int, r)
	off := 0
	for k := range m {
		m[k] = int32(off)
		for a := r - 1; a >= 0; a-- {
			idx[a]++
			off += strides[a]
			if idx[a] < out[a] {
				break
			}
			off -= strides[a] * idx[a]
			idx[a] = 0
		}
	}
	return m
}

// operandMaps returns (and caches) the broadcast maps of n's operands.
func (it *Interpreter) operandMaps(n *graph.Node) [][]int32 {
	if m, ok := it.aux[n.ID].([][]int32); ok {
		return m
	}
	maps := make([][]int32, len(n.Inputs))
	for i, x := range n.Inputs {
		maps[i] = bcastMap(n.Type.Shape, x.Type.Shape)
	}
	it.aux[n.ID] = maps
	return maps
}

func at(m []int32, i int) int {
	if m == nil {
		return i
	}
	return int(m[i])
}

func binaryKernel(f func(a, b float64) float64) kernel {
	return func(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
		maps := it.operandMaps(n)
		ma, mb := maps[0], maps[1]
		a, b := in[0], in[1]
		switch out.DType {
		case graph.F64:
			for i := range out.F64 {
				out.F64[i] = f(a.F64[at(ma, i)], b.F64[at(mb, i)])
			}
		case graph.F32:
			for i := range out.F32 {
				out.F32[i] = float32(f(float64(a.F32[at(ma, i)]), float64(b.F32[at(mb, i)])))
			}
		default:
			return fmt.Errorf("unsupported dtype %s", out.DType)
		}
		return nil
	}
}

func compareKernel(f func(a, b float64) bool) kernel {
	return func(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
		maps := it.operandMaps(n)
		for i := range out.B {
			out.B[i] = f(in[0].At(at(maps[0], i)), in[1].At(at(maps[1], i)))
		}
		return nil
	}
}

func kernWhere(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	maps := it.operandMaps(n)
	mask, a, b := in[0], in[1], in[2]
	for i := range out.Len() {
		if mask.B[at(maps[0], i)] {
			out.Set(i, a.At(at(maps[1], i)))
		} else {
			out.Set(i, b.At(at(maps[2], i)))
		}
	}
	return nil
}
