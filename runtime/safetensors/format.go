package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The dtypes this package reads and writes, spelled as in the format.
const (
	F32  = "F32"
	F64  = "F64"
	I32  = "I32"
	I8   = "I8"   // int8: low-precision weights (docs/low-precision.md)
	BF16 = "BF16" // bfloat16, held as its uint16 bit patterns
)

// MaxHeaderSize bounds the JSON header; larger claims are rejected before
// anything is allocated. The value matches the reference implementation's.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key for the string→string metadata.
const metadataKey = "__metadata__"

// Tensor is one named, dense, row-major tensor. Exactly one of F32, F64,
// I32, I8 and BF16 holds the data: the one DType names. A scalar has an
// empty Shape.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	F32   []float32
	F64   []float64
	I32   []int32
	I8    []int8
	BF16  []uint16 // bit patterns: the upper halves of float32s
}

// Spec returns the tensor's name, dtype and shape.
func (t *Tensor) Spec() Spec {
	return Spec{Name: t.Name, DType: t.DType, Shape: t.Shape}
}

// dataLen is the number of elements in the slice that DType selects, or -1
// for an unsupported dtype.
func (t *Tensor) dataLen() int {
	switch t.DType {
	case F32:
		return len(t.F32)
	case F64:
		return len(t.F64)
	case I32:
		return len(t.I32)
	case I8:
		return len(t.I8)
	case BF16:
		return len(t.BF16)
	}
	return -1
}

// File is the content of a safetensors file: its metadata and its tensors.
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
}

// Lookup returns the tensor called name, if there is one.
func (f *File) Lookup(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// elemSize is the width in bytes of a supported dtype, 0 for any other.
func elemSize(dtype string) int {
	switch dtype {
	case F32, I32:
		return 4
	case F64:
		return 8
	case BF16:
		return 2
	case I8:
		return 1
	}
	return 0
}

// otherDTypes are dtypes the format defines but mlc does not read; naming
// them lets an error say "not supported" rather than "unknown".
var otherDTypes = []string{
	"BOOL", "U8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16", "F16",
	"U32", "I64", "U64", "C64", "F4", "F6_E2M3", "F6_E3M2",
}

func checkDType(dtype string) error {
	if elemSize(dtype) != 0 {
		return nil
	}
	if slices.Contains(otherDTypes, dtype) {
		return fmt.Errorf("dtype %s is not supported (mlc reads F32, F64, I32, BF16 and I8)", dtype)
	}
	return fmt.Errorf("unknown dtype %s", quote(dtype))
}

// numElements is the product of shape, or an error when a dimension is
// negative or the product overflows.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %s has a negative dimension", formatShape(shape))
		}
		if d == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, nil
	}
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %s has too many elements", formatShape(shape))
		}
		n *= d
	}
	return n, nil
}

// Encode writes f to w in canonical safetensors form (see the package doc).
// It checks f first and writes nothing when f is invalid.
func Encode(w io.Writer, f *File) error {
	order, err := check(f)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return encode(w, f, order)
}

// encode writes f, already checked, with its tensors in the given order.
func encode(w io.Writer, f *File, order []int) error {
	header := encodeHeader(f, order)
	if len(header) > MaxHeaderSize {
		return fmt.Errorf("safetensors header of %d bytes exceeds the limit of %d (too many tensors?)", len(header), MaxHeaderSize)
	}
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(header)))
	if _, err := w.Write(size[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	buf := make([]byte, 0, chunkBytes)
	for _, i := range order {
		if err := writeData(w, &f.Tensors[i], buf); err != nil {
			return err
		}
	}
	return nil
}

// check validates f for encoding and returns the canonical tensor order.
func check(f *File) ([]int, error) {
	for k, v := range f.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("metadata %s is not valid UTF-8", quote(k))
		}
	}
	seen := make(map[string]bool, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		switch {
		case t.Name == metadataKey:
			return nil, fmt.Errorf("tensor name %q is reserved for metadata", metadataKey)
		case !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("tensor name %s is not valid UTF-8", quote(t.Name))
		case seen[t.Name]:
			return nil, fmt.Errorf("duplicate tensor %s", quote(t.Name))
		}
		seen[t.Name] = true
		if err := checkDType(t.DType); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", quote(t.Name), err)
		}
		n, err := numElements(t.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", quote(t.Name), err)
		}
		if got := t.dataLen(); got != n {
			return nil, fmt.Errorf("tensor %s: shape %s needs %d %s values, has %d", quote(t.Name), formatShape(t.Shape), n, t.DType, got)
		}
		if len(t.F32)+len(t.F64)+len(t.I32)+len(t.I8)+len(t.BF16) != n {
			return nil, fmt.Errorf("tensor %s: holds data in a slice other than its dtype %s", quote(t.Name), t.DType)
		}
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := &f.Tensors[a], &f.Tensors[b]
		return cmp.Or(cmp.Compare(elemSize(tb.DType), elemSize(ta.DType)), strings.Compare(ta.Name, tb.Name))
	})
	return order, nil
}

// encodeHeader builds the JSON header: metadata first, then the tensors in
// data order, padded with spaces to a multiple of 8 bytes.
func encodeHeader(f *File, order []int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(f.Metadata) > 0 {
		b.WriteString(`"__metadata__":{`)
		for i, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, f.Metadata[k])
		}
		b.WriteByte('}')
	}
	var offset uint64
	for i, ti := range order {
		t := &f.Tensors[ti]
		if i > 0 || len(f.Metadata) > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":"` + t.DType + `","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := offset + uint64(t.dataLen()*elemSize(t.DType))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // cannot fail for a string
	b.Write(q)
}

// chunkBytes is the size of the staging buffer between typed slices and
// bytes, so that neither Encode nor Decode holds a second copy of the data.
const chunkBytes = 64 << 10

func writeData(w io.Writer, t *Tensor, buf []byte) error {
	size := elemSize(t.DType)
	n := t.dataLen()
	for start := 0; start < n; {
		end := min(n, start+chunkBytes/size)
		buf = buf[:0]
		switch t.DType {
		case F32:
			for _, v := range t.F32[start:end] {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			}
		case F64:
			for _, v := range t.F64[start:end] {
				buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
			}
		case I32:
			for _, v := range t.I32[start:end] {
				buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
			}
		case I8:
			for _, v := range t.I8[start:end] {
				buf = append(buf, byte(v))
			}
		case BF16:
			for _, v := range t.BF16[start:end] {
				buf = binary.LittleEndian.AppendUint16(buf, v)
			}
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// Decode parses a whole safetensors file held in data; name is the file's
// name, and every error is one line that starts with it. The tensors get
// their own memory, not views of data.
func Decode(data []byte, name string) (*File, error) {
	f, err := decode(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

// entry is one tensor as the header describes it.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// decode reads a safetensors file of the given size from r. Errors do not
// carry the file name; callers add it.
func decode(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("too short for a safetensors file (%d bytes, need at least 8)", size)
	}
	var sizeBuf [8]byte
	if _, err := r.ReadAt(sizeBuf[:], 0); err != nil {
		return nil, fmt.Errorf("reading header size: %w", err)
	}
	n := binary.LittleEndian.Uint64(sizeBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header size %d exceeds the limit of %d bytes (corrupted header?)", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("truncated: header size is %d bytes but only %d follow", n, size-8)
	}
	header := make([]byte, n)
	// ReadAt may report EOF for an empty read at the end of the input.
	if _, err := r.ReadAt(header, 8); err != nil && n > 0 {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	meta, entries, err := parseHeader(header)
	if err != nil {
		return nil, fmt.Errorf("corrupted header: %w", err)
	}
	dataSize := uint64(size-8) - n
	if err := checkLayout(entries, dataSize); err != nil {
		return nil, err
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, len(entries))}
	sr := io.NewSectionReader(r, 8+int64(n), int64(dataSize))
	buf := make([]byte, chunkBytes)
	for i, e := range entries {
		if err := readData(sr, e, &f.Tensors[i], buf); err != nil {
			return nil, fmt.Errorf("tensor %s: reading data: %w", quote(e.name), err)
		}
	}
	return f, nil
}

// checkLayout verifies that the tensors tile [0, dataSize) exactly, and
// sorts entries into data order.
func checkLayout(entries []entry, dataSize uint64) error {
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), strings.Compare(a.name, b.name))
	})
	var at uint64
	for _, e := range entries {
		switch {
		case e.begin < at:
			return fmt.Errorf("corrupted header: tensor %s at bytes [%d,%d) overlaps the previous tensor, which ends at %d", quote(e.name), e.begin, e.end, at)
		case e.begin > at:
			return fmt.Errorf("corrupted header: gap in the data buffer at bytes [%d,%d) before tensor %s", at, e.begin, quote(e.name))
		case e.end > dataSize:
			return fmt.Errorf("truncated: tensor %s needs data bytes [%d,%d) but the data buffer has %d", quote(e.name), e.begin, e.end, dataSize)
		}
		at = e.end
	}
	if at != dataSize {
		return fmt.Errorf("corrupted: %d bytes after the last tensor's data", dataSize-at)
	}
	return nil
}

func readData(r io.Reader, e entry, t *Tensor, buf []byte) error {
	*t = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape}
	size := elemSize(e.dtype)
	n := int((e.end - e.begin) / uint64(size))
	switch e.dtype {
	case F32:
		t.F32 = make([]float32, n)
	case F64:
		t.F64 = make([]float64, n)
	case I32:
		t.I32 = make([]int32, n)
	case I8:
		t.I8 = make([]int8, n)
	case BF16:
		t.BF16 = make([]uint16, n)
	}
	for start := 0; start < n; {
		end := min(n, start+len(buf)/size)
		b := buf[:(end-start)*size]
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		switch e.dtype {
		case F32:
			for i := range t.F32[start:end] {
				t.F32[start+i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case F64:
			for i := range t.F64[start:end] {
				t.F64[start+i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
			}
		case I32:
			for i := range t.I32[start:end] {
				t.I32[start+i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case I8:
			for i := range t.I8[start:end] {
				t.I8[start+i] = int8(b[i])
			}
		case BF16:
			for i := range t.BF16[start:end] {
				t.BF16[start+i] = binary.LittleEndian.Uint16(b[2*i:])
			}
		}
		start = end
	}
	return nil
}

// parseHeader parses and checks the JSON header. It walks the JSON token by
// token because encoding/json would silently keep the last of two
// duplicate keys.
func parseHeader(h []byte) (map[string]string, []entry, error) {
	if !utf8.Valid(h) {
		return nil, nil, errors.New("not valid UTF-8")
	}
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, errors.New("does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	var meta map[string]string
	var entries []entry
	err := parseObject(dec, "the header", func(key string) error {
		if key == metadataKey {
			m, err := parseMetadata(dec)
			meta = m
			return err
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", quote(key), err)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, jsonError(err)
	}
	if rest := h[dec.InputOffset():]; len(bytes.TrimLeft(rest, " ")) != 0 {
		return nil, nil, fmt.Errorf("unexpected bytes after the JSON object at offset %d", dec.InputOffset())
	}
	return meta, entries, nil
}

// jsonError gives encoding/json's syntax errors their offset and turns an
// early end of input into a plain message.
func jsonError(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("not valid JSON at byte %d: %w", se.Offset, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("not valid JSON: unexpected end")
	}
	return err
}

// parseObject reads a JSON object, calling field for each key with dec
// positioned at the value; field must consume the value. Keys must be
// unique. what names the object in errors.
func parseObject(dec *json.Decoder, what string, field func(key string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%s is not a JSON object", what)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok { // the decoder reports non-string keys itself; this is a backstop
			return fmt.Errorf("non-string key in %s", what)
		}
		if seen[key] {
			return fmt.Errorf("duplicate key %s in %s", quote(key), what)
		}
		seen[key] = true
		if err := field(key); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing '}'; More has checked it is there
	return err
}

func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	if string(raw) == "null" {
		return nil, nil // how the reference writer may spell "no metadata"
	}
	sub := json.NewDecoder(bytes.NewReader(raw))
	sub.UseNumber()
	meta := map[string]string{}
	err := parseObject(sub, metadataKey, func(key string) error {
		var v any
		if err := sub.Decode(&v); err != nil {
			return err
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("metadata %s is not a string", quote(key))
		}
		meta[key] = s
		return nil
	})
	return meta, err
}

func parseEntry(dec *json.Decoder, name string) (entry, error) {
	e := entry{name: name}
	var have [3]bool
	err := parseObject(dec, "its description", func(key string) error {
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		switch key {
		case "dtype":
			s, ok := v.(string)
			if !ok {
				return errors.New(`"dtype" is not a string`)
			}
			if err := checkDType(s); err != nil {
				return err
			}
			e.dtype, have[0] = s, true
		case "shape":
			dims, err := naturals(v, "shape", math.MaxInt)
			if err != nil {
				return err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				e.shape[i] = int(d)
			}
			have[1] = true
		case "data_offsets":
			offs, err := naturals(v, "data_offsets", math.MaxUint64)
			if err != nil {
				return err
			}
			if len(offs) != 2 {
				return fmt.Errorf(`"data_offsets" has %d numbers, want 2`, len(offs))
			}
			if offs[1] < offs[0] {
				return fmt.Errorf(`"data_offsets" [%d,%d] end before they begin`, offs[0], offs[1])
			}
			e.begin, e.end, have[2] = offs[0], offs[1], true
		default:
			return fmt.Errorf("unknown field %s", quote(key))
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	for i, field := range []string{"dtype", "shape", "data_offsets"} {
		if !have[i] {
			return e, fmt.Errorf("missing %q", field)
		}
	}
	n, err := numElements(e.shape)
	if err != nil {
		return e, err
	}
	// Divide rather than multiply: n·size can overflow a uint64.
	size, span := uint64(elemSize(e.dtype)), e.end-e.begin
	if span%size != 0 || span/size != uint64(n) {
		return e, fmt.Errorf("%s shape %s has %d elements, data_offsets [%d,%d] hold %d bytes", e.dtype, formatShape(e.shape), n, e.begin, e.end, span)
	}
	return e, nil
}

// naturals converts a decoded JSON array of integers in [0, limit].
func naturals(v any, field string, limit uint64) ([]uint64, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%q is not an array", field)
	}
	out := make([]uint64, len(arr))
	for i, x := range arr {
		num, ok := x.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%q holds a non-number", field)
		}
		u, err := strconv.ParseUint(num.String(), 10, 64)
		if err != nil || u > limit {
			return nil, fmt.Errorf("%q holds %s, not a natural number", field, truncate(num.String()))
		}
		out[i] = u
	}
	return out, nil
}

// quote quotes s for an error message, shortened so that a hostile header
// cannot make an error line huge.
func quote(s string) string {
	return strconv.Quote(truncate(s))
}

func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// formatShape prints a shape as [2,4], eliding the middle of very long ones.
func formatShape(shape []int) string {
	parts := make([]string, 0, min(len(shape), 7))
	for i, d := range shape {
		if len(shape) > 8 && i >= 4 && i < len(shape)-2 {
			if i == 4 {
				parts = append(parts, "…")
			}
			continue
		}
		parts = append(parts, strconv.Itoa(d))
	}
	return "[" + strings.Join(parts, ",") + "]"
}
