// Package runtime holds the reference interpreter, which executes any graph
// of the IR and is the semantic oracle for generated code, together with the
// pieces around it that the CLI and the training driver share.
package runtime

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime/lowp"
)

// Tensor is a dense row-major value. Exactly one of the slices is in use,
// chosen by DType. The storage dtypes bf16 and i8 keep their values in F32,
// where each is exact: Set rounds to the dtype, as storing it would.
type Tensor struct {
	DType graph.DType
	Shape graph.Shape
	F32   []float32
	F64   []float64
	I32   []int32
	B     []bool
}

// NewTensor allocates a zero tensor of type t.
func NewTensor(t graph.Type) *Tensor {
	x := &Tensor{DType: t.DType, Shape: t.Shape.Clone()}
	n := t.Shape.Size()
	switch t.DType {
	case graph.F32, graph.BF16, graph.I8:
		x.F32 = make([]float32, n)
	case graph.F64:
		x.F64 = make([]float64, n)
	case graph.I32:
		x.I32 = make([]int32, n)
	case graph.Bool:
		x.B = make([]bool, n)
	}
	return x
}

// FromFloat64 builds a tensor of dtype dt from float64 data (ids and masks
// convert: masks are true where non-zero).
func FromFloat64(dt graph.DType, shape []int, data []float64) (*Tensor, error) {
	s := graph.Shape(shape)
	if s.Size() != len(data) {
		return nil, fmt.Errorf("shape %s needs %d values, got %d", s, s.Size(), len(data))
	}
	t := NewTensor(graph.Type{DType: dt, Shape: s})
	for i, v := range data {
		t.Set(i, v)
	}
	return t, nil
}

// Type is the tensor's graph type.
func (t *Tensor) Type() graph.Type { return graph.Type{DType: t.DType, Shape: t.Shape} }

// Len is the number of elements.
func (t *Tensor) Len() int { return t.Shape.Size() }

// At reads element i as a float64.
func (t *Tensor) At(i int) float64 {
	switch t.DType {
	case graph.F32, graph.BF16, graph.I8:
		return float64(t.F32[i])
	case graph.F64:
		return t.F64[i]
	case graph.I32:
		return float64(t.I32[i])
	case graph.Bool:
		if t.B[i] {
			return 1
		}
		return 0
	}
	panic("runtime: At on a tensor without data")
}

// Set writes element i, converting from float64 (f32 rounds to nearest;
// bf16 rounds to f32, then to bf16, both to nearest even; i8 rounds half to
// even and saturates at −128 and 127, as int8 storage does).
func (t *Tensor) Set(i int, v float64) {
	switch t.DType {
	case graph.F32:
		t.F32[i] = float32(v)
	case graph.BF16:
		t.F32[i] = lowp.BF16ToF32(lowp.F32ToBF16(float32(v)))
	case graph.I8:
		t.F32[i] = float32(max(-128, min(127, math.RoundToEven(v))))
	case graph.F64:
		t.F64[i] = v
	case graph.I32:
		t.I32[i] = int32(v)
	case graph.Bool:
		t.B[i] = v != 0
	default:
		panic("runtime: Set on a tensor without data")
	}
}

// Float64s copies the data out as float64.
func (t *Tensor) Float64s() []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.At(i)
	}
	return out
}

// CopyFrom copies u's data into t; types must match.
func (t *Tensor) CopyFrom(u *Tensor) error {
	if !t.Type().Equal(u.Type()) {
		return fmt.Errorf("type %s, want %s", u.Type(), t.Type())
	}
	copy(t.F32, u.F32)
	copy(t.F64, u.F64)
	copy(t.I32, u.I32)
	copy(t.B, u.B)
	return nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := NewTensor(graph.Type{DType: t.DType, Shape: t.Shape})
	_ = c.CopyFrom(t)
	return c
}

// Zero sets every element to zero (false).
func (t *Tensor) Zero() {
	clear(t.F32)
	clear(t.F64)
	clear(t.I32)
	clear(t.B)
}
