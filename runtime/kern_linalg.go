package runtime

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime/lowp"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// matmulPlan holds the batch offsets of a (possibly broadcast) batched product.
type matmulPlan struct {
	m, k, n      int
	aOff, bOff   []int // per output batch: element offset of the A and B matrices
	aRows, aCols int   // stored shape of one A matrix
	bRows, bCols int
}

func planMatMul(n *graph.Node) *matmulPlan {
	as, bs, os := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape, n.Type.Shape
	p := &matmulPlan{
		aRows: as[len(as)-2], aCols: as[len(as)-1],
		bRows: bs[len(bs)-2], bCols: bs[len(bs)-1],
		m: os[len(os)-2], n: os[len(os)-1],
	}
	p.k = p.aCols
	if n.Attrs.TransA {
		p.k = p.aRows
	}
	batch := os[:len(os)-2]
	amap := bcastMap(batch, as[:len(as)-2])
	bmap := bcastMap(batch, bs[:len(bs)-2])
	nb := batch.Size()
	for i := range nb {
		p.aOff = append(p.aOff, at(amap, i)*p.aRows*p.aCols)
		p.bOff = append(p.bOff, at(bmap, i)*p.bRows*p.bCols)
	}
	return p
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

func kernMatMul(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	p, ok := it.aux[n.ID].(*matmulPlan)
	if !ok {
		p = planMatMul(n)
		it.aux[n.ID] = p
	}
	ta, tb := trans(n.Attrs.TransA), trans(n.Attrs.TransB)
	mn := p.m * p.n
	for bi := range p.aOff {
		switch out.DType {
		case graph.F64:
			a := blas64.General{Rows: p.aRows, Cols: p.aCols, Stride: p.aCols, Data: in[0].F64[p.aOff[bi]:]}
			b := blas64.General{Rows: p.bRows, Cols: p.bCols, Stride: p.bCols, Data: in[1].F64[p.bOff[bi]:]}
			c := blas64.General{Rows: p.m, Cols: p.n, Stride: p.n, Data: out.F64[bi*mn : (bi+1)*mn]}
			blas64.Gemm(ta, tb, 1, a, b, 0, c)
		case graph.F32:
			a := blas32.General{Rows: p.aRows, Cols: p.aCols, Stride: p.aCols, Data: in[0].F32[p.aOff[bi]:]}
			b := blas32.General{Rows: p.bRows, Cols: p.bCols, Stride: p.bCols, Data: in[1].F32[p.bOff[bi]:]}
			c := blas32.General{Rows: p.m, Cols: p.n, Stride: p.n, Data: out.F32[bi*mn : (bi+1)*mn]}
			blas32.Gemm(ta, tb, 1, a, b, 0, c)
		}
	}
	return nil
}

// gatherMap gives, for each output element of a data-movement op, the
// operand element it copies.
func gatherMap(n *graph.Node) []int32 {
	in, out := n.Inputs[0].Type.Shape, n.Type.Shape
	switch n.Op {
	case graph.OpBroadcastTo:
		m := bcastMap(out, in)
		if m == nil {
			m = identityMap(out.Size())
		}
		return m
	case graph.OpTranspose:
		st := in.Strides()
		perm := n.Attrs.Perm
		m := make([]int32, out.Size())
		idx := make([]int, len(out))
		for k := range m {
			off := 0
			for a, ax := range perm {
				off += idx[a] * st[ax]
			}
			m[k] = int32(off)
			increment(idx, out)
		}
		return m
	case graph.OpSlice:
		st := in.Strides()
		m := make([]int32, out.Size())
		idx := make([]int, len(out))
		for k := range m {
			off := 0
			for a := range idx {
				off += (idx[a] + n.Attrs.Starts[a]) * st[a]
			}
			m[k] = int32(off)
			increment(idx, out)
		}
		return m
	}
	panic("gatherMap: " + n.Op.String())
}

func identityMap(n int) []int32 {
	m := make([]int32, n)
	for i := range m {
		m[i] = int32(i)
	}
	return m
}

// increment advances a row-major multi-index within shape s.
func increment(idx []int, s graph.Shape) {
	for a := len(idx) - 1; a >= 0; a-- {
		idx[a]++
		if idx[a] < s[a] {
			return
		}
		idx[a] = 0
	}
}

func kernIndexMap(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	m, ok := it.aux[n.ID].([]int32)
	if !ok {
		m = gatherMap(n)
		it.aux[n.ID] = m
	}
	x := in[0]
	switch out.DType {
	case graph.F64:
		for i, j := range m {
			out.F64[i] = x.F64[j]
		}
	case graph.F32:
		for i, j := range m {
			out.F32[i] = x.F32[j]
		}
	case graph.I32:
		for i, j := range m {
			out.I32[i] = x.I32[j]
		}
	case graph.Bool:
		for i, j := range m {
			out.B[i] = x.B[j]
		}
	}
	return nil
}

func kernReshape(_ *Interpreter, _ *graph.Node, out *Tensor, in []*Tensor) error {
	return copyData(out, in[0])
}

func copyData(dst, src *Tensor) error {
	copy(dst.F64, src.F64)
	copy(dst.F32, src.F32)
	copy(dst.I32, src.I32)
	copy(dst.B, src.B)
	return nil
}

func kernPad(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	m, ok := it.aux[n.ID].([]int32)
	if !ok {
		// Where each operand element lands in the output.
		xs, os := n.Inputs[0].Type.Shape, n.Type.Shape
		st := os.Strides()
		m = make([]int32, xs.Size())
		idx := make([]int, len(xs))
		for k := range m {
			off := 0
			for a := range idx {
				off += (idx[a] + n.Attrs.Starts[a]) * st[a]
			}
			m[k] = int32(off)
			increment(idx, xs)
		}
		it.aux[n.ID] = m
	}
	out.Zero()
	for i, j := range m {
		out.Set(int(j), in[0].At(i))
	}
	return nil
}

func kernConcat(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	ax := n.Attrs.Axis
	os := n.Type.Shape
	outer := graph.Shape(os[:ax]).Size()
	inner := graph.Shape(os[ax+1:]).Size()
	rowOut := os[ax] * inner
	off := 0
	for _, x := range in {
		chunk := x.Shape[ax] * inner
		for o := range outer {
			for j := range chunk {
				out.Set(o*rowOut+off+j, x.At(o*chunk+j))
			}
		}
		off += chunk
	}
	return nil
}

func kernGather(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	table, ids := in[0], in[1]
	v := table.Shape[0]
	row := graph.Shape(table.Shape[1:]).Size()
	for i, id := range ids.I32 {
		if id < 0 || int(id) >= v {
			return fmt.Errorf("id %d at position %d is outside [0, %d)", id, i, v)
		}
		switch out.DType {
		case graph.F64:
			copy(out.F64[i*row:(i+1)*row], table.F64[int(id)*row:])
		case graph.F32:
			copy(out.F32[i*row:(i+1)*row], table.F32[int(id)*row:])
		}
	}
	return nil
}

func kernScatterAdd(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	ids, upd := in[0], in[1]
	v := n.Attrs.Depth
	row := graph.Shape(out.Shape[1:]).Size()
	out.Zero()
	for i, id := range ids.I32 {
		if id < 0 || int(id) >= v {
			return fmt.Errorf("id %d at position %d is outside [0, %d)", id, i, v)
		}
		for j := range row {
			o := int(id)*row + j
			out.Set(o, out.At(o)+upd.At(i*row+j))
		}
	}
	return nil
}

func kernOneHot(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	d := n.Attrs.Depth
	out.Zero()
	for i, id := range in[0].I32 {
		if id < 0 || int(id) >= d {
			return fmt.Errorf("id %d at position %d is outside [0, %d)", id, i, d)
		}
		out.Set(i*d+int(id), 1)
	}
	return nil
}

// kernQMatMul is the op table's formula in plain loops: for each output,
// the sum over k of x times the weight widened to f32, in order and in x's
// dtype, then the channel's scale. With bf16 weights, x is rounded to bf16
// first, as generated code's kernels do (VDPBF16PS multiplies bf16 pairs).
// (Generated kernels sum in another order, so the two agree to rounding,
// not bit for bit.)
func kernQMatMul(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	if out.DType == graph.F64 {
		qmatmul(n, out.F64, in[0].F64, in)
	} else {
		qmatmul(n, out.F32, in[0].F32, in)
	}
	return nil
}

func qmatmul[T float32 | float64](n *graph.Node, y, x []T, in []*Tensor) {
	w := in[1].F32 // bf16 and i8 values are held exactly in F32
	ws := n.Inputs[1].Type.Shape
	k, nn := ws[0], ws[1]
	if n.Attrs.TransB {
		k, nn = nn, k
	}
	bf16 := n.Inputs[1].Type.DType == graph.BF16
	for i := range len(x) / k {
		xr := x[i*k : (i+1)*k]
		for j := range nn {
			var s T
			for l, xv := range xr {
				if bf16 {
					xv = T(roundBF16(float64(xv)))
				}
				if n.Attrs.TransB {
					s += xv * T(w[j*k+l])
				} else {
					s += xv * T(w[l*nn+j])
				}
			}
			if len(in) == 3 {
				s *= T(in[2].F32[j])
			}
			y[i*nn+j] = s
		}
	}
}

// roundBF16 is the value of x as bf16: rounded to f32, then to bf16.
func roundBF16(x float64) float64 { return float64(lowp.BF16ToF32(lowp.F32ToBF16(float32(x)))) }
