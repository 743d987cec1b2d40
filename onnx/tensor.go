package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// kind is what a value holds, independent of its exact ONNX element type:
// every float type maps to the graph's float dtype, every integer type to
// i32 in the IR (int64 while folded at import), bool to bool.
type kind uint8

const (
	kFloat kind = iota + 1
	kInt
	kBool
)

func (k kind) String() string {
	switch k {
	case kFloat:
		return "float"
	case kInt:
		return "int"
	case kBool:
		return "bool"
	}
	return "?"
}

// Limits that keep hostile or broken files from exhausting memory.
const (
	maxElems      = 1 << 31 // elements of any value in the graph
	maxConstElems = 1 << 22 // elements of a value computed at import
)

// constant is a value known at import: an initializer, a Constant node or
// the result of folding (Shape, ConstantOfShape, shape arithmetic).
type constant struct {
	kind  kind
	shape []int
	f     []float64 // kFloat and kBool (0 or 1)
	i     []int64   // kInt
}

func (c *constant) size() int {
	if c.kind == kInt {
		return len(c.i)
	}
	return len(c.f)
}

// at reads element j as a float64 (ints convert).
func (c *constant) at(j int) float64 {
	if c.kind == kInt {
		return float64(c.i[j])
	}
	return c.f[j]
}

// atInt reads element j as an int64 (floats truncate).
func (c *constant) atInt(j int) int64 {
	if c.kind == kInt {
		return c.i[j]
	}
	return int64(c.f[j])
}

func newConstant(k kind, shape []int) (*constant, error) {
	n, err := checkedSize(shape, maxConstElems)
	if err != nil {
		return nil, err
	}
	c := &constant{kind: k, shape: append([]int{}, shape...)}
	if k == kInt {
		c.i = make([]int64, n)
	} else {
		c.f = make([]float64, n)
	}
	return c, nil
}

// checkedSize multiplies dims, failing on a negative dimension or a total
// above limit (which also rules out overflow).
func checkedSize(shape []int, limit int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, limit)
		}
		n *= d
	}
	return n, nil
}

// elemKind maps an ONNX element type to a kind, or fails naming it.
func elemKind(dt int32) (kind, error) {
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		return kFloat, nil
	case onnxpb.TensorProto_INT8, onnxpb.TensorProto_INT16, onnxpb.TensorProto_INT32, onnxpb.TensorProto_INT64,
		onnxpb.TensorProto_UINT8, onnxpb.TensorProto_UINT16, onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
		return kInt, nil
	case onnxpb.TensorProto_BOOL:
		return kBool, nil
	}
	return 0, unsupported("element type %s", dtypeName(dt))
}

func dtypeName(dt int32) string {
	if s, ok := onnxpb.TensorProto_DataType_name[dt]; ok {
		return s
	}
	return "type " + strconv.Itoa(int(dt))
}

// decodeTensor reads a TensorProto, loading external data relative to dir
// ("" refuses external data).
func decodeTensor(t *onnxpb.TensorProto, dir string) (*constant, error) {
	if t.GetSegment() != nil {
		return nil, fmt.Errorf("segmented tensors are not supported")
	}
	dt := t.GetDataType()
	k, err := elemKind(dt)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(t.GetDims()))
	for i, d := range t.GetDims() {
		if d < 0 || d > maxElems {
			return nil, fmt.Errorf("bad dimension %d", d)
		}
		shape[i] = int(d)
	}
	n, err := checkedSize(shape, maxElems)
	if err != nil {
		return nil, err
	}
	raw := t.GetRawData()
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		if raw, err = readExternal(t, dir); err != nil {
			return nil, err
		}
	}
	c := &constant{kind: k, shape: shape}
	if k == kInt {
		c.i = make([]int64, 0, min(n, 1<<20))
	} else {
		c.f = make([]float64, 0, min(n, 1<<20))
	}
	put := func(f float64, i int64) {
		if k == kInt {
			c.i = append(c.i, i)
		} else {
			c.f = append(c.f, f)
		}
	}
	typ := onnxpb.TensorProto_DataType(dt)
	if raw != nil {
		w := elemWidth(typ)
		if len(raw) != n*w {
			return nil, fmt.Errorf("raw data has %d bytes, want %d for %d %s elements", len(raw), n*w, n, dtypeName(dt))
		}
		for j := range n {
			b := raw[j*w : (j+1)*w]
			switch typ {
			case onnxpb.TensorProto_FLOAT:
				put(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 0)
			case onnxpb.TensorProto_DOUBLE:
				put(math.Float64frombits(binary.LittleEndian.Uint64(b)), 0)
			case onnxpb.TensorProto_FLOAT16:
				put(half(binary.LittleEndian.Uint16(b)), 0)
			case onnxpb.TensorProto_BFLOAT16:
				put(float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b))<<16)), 0)
			case onnxpb.TensorProto_INT8:
				put(0, int64(int8(b[0])))
			case onnxpb.TensorProto_UINT8:
				put(0, int64(b[0]))
			case onnxpb.TensorProto_BOOL:
				put(b2f(b[0] != 0), 0)
			case onnxpb.TensorProto_INT16:
				put(0, int64(int16(binary.LittleEndian.Uint16(b))))
			case onnxpb.TensorProto_UINT16:
				put(0, int64(binary.LittleEndian.Uint16(b)))
			case onnxpb.TensorProto_INT32:
				put(0, int64(int32(binary.LittleEndian.Uint32(b))))
			case onnxpb.TensorProto_UINT32:
				put(0, int64(binary.LittleEndian.Uint32(b)))
			case onnxpb.TensorProto_INT64:
				put(0, int64(binary.LittleEndian.Uint64(b)))
			case onnxpb.TensorProto_UINT64:
				put(0, int64(binary.LittleEndian.Uint64(b)))
			}
		}
		return c, nil
	}
	var got int
	switch typ {
	case onnxpb.TensorProto_FLOAT:
		got = len(t.GetFloatData())
		for _, v := range t.GetFloatData() {
			put(float64(v), 0)
		}
	case onnxpb.TensorProto_DOUBLE:
		got = len(t.GetDoubleData())
		for _, v := range t.GetDoubleData() {
			put(v, 0)
		}
	case onnxpb.TensorProto_INT64:
		got = len(t.GetInt64Data())
		for _, v := range t.GetInt64Data() {
			put(0, v)
		}
	case onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
		got = len(t.GetUint64Data())
		for _, v := range t.GetUint64Data() {
			put(0, int64(v))
		}
	default: // the narrow types travel in int32_data
		got = len(t.GetInt32Data())
		for _, v := range t.GetInt32Data() {
			switch typ {
			case onnxpb.TensorProto_FLOAT16:
				put(half(uint16(v)), 0)
			case onnxpb.TensorProto_BFLOAT16:
				put(float64(math.Float32frombits(uint32(uint16(v))<<16)), 0)
			case onnxpb.TensorProto_BOOL:
				put(b2f(v != 0), 0)
			default:
				put(0, int64(v))
			}
		}
	}
	if got != n {
		return nil, fmt.Errorf("has %d values for shape %v (%d elements)", got, shape, n)
	}
	return c, nil
}

func elemWidth(t onnxpb.TensorProto_DataType) int {
	switch t {
	case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_INT64, onnxpb.TensorProto_UINT64:
		return 8
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT32, onnxpb.TensorProto_UINT32:
		return 4
	case onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16, onnxpb.TensorProto_INT16, onnxpb.TensorProto_UINT16:
		return 2
	}
	return 1
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// half converts IEEE 754 binary16 bits to a float64.
func half(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

// readExternal reads a tensor's bytes from the file its external_data names,
// which must lie inside the model's directory.
func readExternal(t *onnxpb.TensorProto, dir string) ([]byte, error) {
	if dir == "" {
		return nil, fmt.Errorf("external data needs the model's file path (load it with Load)")
	}
	var loc string
	off, length := int64(0), int64(-1)
	for _, e := range t.GetExternalData() {
		var err error
		switch e.GetKey() {
		case "location":
			loc = e.GetValue()
		case "offset":
			off, err = strconv.ParseInt(e.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(e.GetValue(), 10, 64)
		case "checksum":
		default:
			return nil, fmt.Errorf("external data key %q is not supported", e.GetKey())
		}
		if err != nil || off < 0 {
			return nil, fmt.Errorf("external data %s: bad number %q", e.GetKey(), e.GetValue())
		}
	}
	if loc == "" {
		return nil, fmt.Errorf("external data has no location")
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("external data location %q lies outside the model's directory", loc)
	}
	f, err := os.Open(filepath.Join(dir, clean))
	if err != nil {
		return nil, fmt.Errorf("external data: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %v", err)
	}
	if length < 0 {
		length = st.Size() - off
	}
	if off > st.Size() || length < 0 || length > st.Size()-off {
		return nil, fmt.Errorf("external data: %d bytes at offset %d do not fit in %s (%d bytes)", length, off, loc, st.Size())
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("external data: %v", err)
	}
	return buf, nil
}

// Tensor is a TensorProto read on its own (a test input or expected output).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float64 // ints and bools (0, 1) convert
	Kind  string    // "float", "int" or "bool"
}

// ReadTensor reads a serialized TensorProto file, such as the input_0.pb
// and output_0.pb files of ONNX's test data; external data is read
// relative to the file's directory.
func ReadTensor(path string) (*Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %v", err)
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("%s: not an ONNX tensor: %v", path, err)
	}
	c, err := decodeTensor(&tp, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &Tensor{Name: tp.GetName(), Shape: c.shape, Kind: c.kind.String(), Data: c.f}
	if c.kind == kInt {
		t.Data = make([]float64, len(c.i))
		for j, v := range c.i {
			t.Data[j] = float64(v)
		}
	}
	return t, nil
}
