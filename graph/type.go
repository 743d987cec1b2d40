package graph

import (
	"fmt"
	"strconv"
	"strings"
)

// DType is the element type of a value.
type DType uint8

const (
	Invalid DType = iota
	F32           // float32 values
	F64           // float64 values
	I32           // int32 indices: token ids, labels
	Bool          // masks produced by comparisons and mask ops
	Void          // the "type" of effect nodes (optimizer updates) that produce no value
	BF16          // bfloat16 storage (runtime/lowp): weights only; arithmetic is f32
	I8            // int8 storage: quantised weights, read with a per-channel f32 scale
)

var dtypeNames = [...]string{Invalid: "invalid", F32: "f32", F64: "f64", I32: "i32", Bool: "bool", Void: "void", BF16: "bf16", I8: "i8"}

func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", d)
}

// IsFloat reports whether d is f32 or f64.
func (d DType) IsFloat() bool { return d == F32 || d == F64 }

// Size is the number of bytes one element of d takes.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F64:
		return 8
	case BF16:
		return 2
	case Bool, I8:
		return 1
	}
	return 0
}

// IsStorage reports whether d is a low-precision storage dtype (bf16, i8):
// a parameter's only, read by the ops that widen it to f32 (QMatMul).
func (d DType) IsStorage() bool { return d == BF16 || d == I8 }

// ParseDType parses "f32", "f64", "i32", "bool", "void", "bf16" or "i8".
func ParseDType(s string) (DType, error) {
	for d, n := range dtypeNames {
		if n == s && DType(d) != Invalid {
			return DType(d), nil
		}
	}
	return Invalid, fmt.Errorf("unknown dtype %q (want f32, f64, i32, bool, bf16 or i8)", s)
}

// Shape is a static shape, outermost dimension first. The empty shape is a scalar.
type Shape []int

// Size is the number of elements (1 for a scalar).
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// MaxElements bounds the elements of one value: 2^40, four terabytes of
// float32, far beyond any machine mlc runs on, and far below where sizes in
// bytes overflow an int.
const MaxElements = 1 << 40

// CheckSize fails when a dimension is negative or the shape has more than
// MaxElements elements, computing the product without overflowing.
func (s Shape) CheckSize() error {
	n := 1
	for _, d := range s {
		if d < 0 {
			return fmt.Errorf("shape %s has a negative dimension", s)
		}
		if d != 0 && n > MaxElements/d {
			return fmt.Errorf("shape %s has more than 2^40 elements (%.3g)", s, s.approxSize())
		}
		n *= d
	}
	return nil
}

// approxSize is the element count as a float, which does not overflow.
func (s Shape) approxSize() float64 {
	f := 1.0
	for _, d := range s {
		f *= float64(d)
	}
	return f
}

// Rank is the number of dimensions.
func (s Shape) Rank() int { return len(s) }

// Equal reports whether two shapes have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy that does not share storage with s.
func (s Shape) Clone() Shape {
	if s == nil {
		return Shape{}
	}
	return append(Shape{}, s...)
}

// Strides returns the row-major strides in elements.
func (s Shape) Strides() []int {
	st := make([]int, len(s))
	n := 1
	for i := len(s) - 1; i >= 0; i-- {
		st[i] = n
		n *= s[i]
	}
	return st
}

func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteByte(']')
	return b.String()
}

// Type is a dtype with a static shape, printed as f32[64,256].
type Type struct {
	DType DType
	Shape Shape
}

// T is shorthand for building a Type.
func T(d DType, dims ...int) Type { return Type{DType: d, Shape: Shape(dims).Clone()} }

func (t Type) String() string {
	if t.DType == Void {
		return "void"
	}
	return t.DType.String() + t.Shape.String()
}

// Equal reports whether two types have the same dtype and shape.
func (t Type) Equal(u Type) bool { return t.DType == u.DType && t.Shape.Equal(u.Shape) }

// Bytes is the storage size of a value of this type.
func (t Type) Bytes() int { return t.Shape.Size() * t.DType.Size() }

// ParseType parses the printed form of a Type, e.g. "f32[64,256]" or "void".
func ParseType(s string) (Type, error) {
	if s == "void" {
		return Type{DType: Void}, nil
	}
	i := strings.IndexByte(s, '[')
	if i < 0 || !strings.HasSuffix(s, "]") {
		return Type{}, fmt.Errorf("bad type %q: want dtype[dims], e.g. f32[4,2]", s)
	}
	d, err := ParseDType(s[:i])
	if err != nil {
		return Type{}, err
	}
	sh, err := ParseShape(s[i:])
	if err != nil {
		return Type{}, err
	}
	return Type{DType: d, Shape: sh}, nil
}

// ParseShape parses "[4,2]" or "[]".
func ParseShape(s string) (Shape, error) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("bad shape %q: want [d0,d1,...]", s)
	}
	body := s[1 : len(s)-1]
	sh := Shape{}
	if body == "" {
		return sh, nil
	}
	for _, f := range strings.Split(body, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad dimension %q in shape %s", f, s)
		}
		sh = append(sh, n)
	}
	return sh, nil
}
