package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sample has the values a round trip is most likely to get wrong: NaNs with
// payloads, negative zero, infinities, subnormals, integer extremes, a
// scalar and an empty tensor.
func sample() *File {
	return &File{
		Metadata: map[string]string{"mlc.model": "xor", "note": "ünïcode \"quoted\" <tag> & \n newline"},
		Tensors: []Tensor{
			{Name: "W1", DType: F32, Shape: []int{2, 3}, F32: []float32{
				math.Float32frombits(0x7fc00001), // quiet NaN with a payload
				math.Float32frombits(0xff800123), // signalling NaN, sign bit set
				float32(math.Copysign(0, -1)),
				float32(math.Inf(1)),
				math.Float32frombits(1), // smallest subnormal
				-1.5,
			}},
			{Name: "b1", DType: F64, Shape: []int{3}, F64: []float64{
				math.Float64frombits(0x7ff8000000000abc),
				math.Copysign(0, -1),
				math.SmallestNonzeroFloat64,
			}},
			{Name: "ids", DType: I32, Shape: []int{2, 2}, I32: []int32{math.MinInt32, -1, 0, math.MaxInt32}},
			{Name: "scale", DType: F64, Shape: []int{}, F64: []float64{0.1}},
			{Name: "empty", DType: F32, Shape: []int{0, 3}},
			{Name: "blocks.0.attn.Wq", DType: F32, Shape: []int{1}, F32: []float32{3}},
		},
	}
}

// diffFiles describes the first difference between a and b, comparing
// floats bit for bit and ignoring tensor order and nil-versus-empty; "" when
// they are equal.
func diffFiles(a, b *File) string {
	if len(a.Metadata) != len(b.Metadata) {
		return fmt.Sprintf("metadata %v vs %v", a.Metadata, b.Metadata)
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || v != w {
			return fmt.Sprintf("metadata %q: %q vs %q", k, v, w)
		}
	}
	if len(a.Tensors) != len(b.Tensors) {
		return fmt.Sprintf("%d tensors vs %d", len(a.Tensors), len(b.Tensors))
	}
	for _, ta := range a.Tensors {
		tb, ok := b.Lookup(ta.Name)
		if !ok {
			return fmt.Sprintf("tensor %q missing", ta.Name)
		}
		if ta.DType != tb.DType || !slices.Equal(ta.Shape, tb.Shape) {
			return fmt.Sprintf("tensor %q: %s%v vs %s%v", ta.Name, ta.DType, ta.Shape, tb.DType, tb.Shape)
		}
		if !slices.Equal(f32bits(ta.F32), f32bits(tb.F32)) || !slices.Equal(f64bits(ta.F64), f64bits(tb.F64)) || !slices.Equal(ta.I32, tb.I32) {
			return fmt.Sprintf("tensor %q: data differs", ta.Name)
		}
	}
	return ""
}

func f32bits(x []float32) []uint32 {
	out := make([]uint32, len(x))
	for i, v := range x {
		out[i] = math.Float32bits(v)
	}
	return out
}

func f64bits(x []float64) []uint64 {
	out := make([]uint64, len(x))
	for i, v := range x {
		out[i] = math.Float64bits(v)
	}
	return out
}

func encodeBytes(t *testing.T, f *File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, f); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b.Bytes()
}

// raw builds a file from a literal header and data, without padding.
func raw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestRoundTripBitExact(t *testing.T) {
	want := sample()
	got, err := Decode(encodeBytes(t, want), "mem.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(want, got); d != "" {
		t.Fatalf("in memory: %s", d)
	}

	path := filepath.Join(t.TempDir(), "rt.safetensors")
	if err := WriteFileAtomic(path, want); err != nil {
		t.Fatal(err)
	}
	got, err = ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(want, got); d != "" {
		t.Fatalf("through a file: %s", d)
	}
}

// A tensor larger than the staging buffer crosses chunk boundaries on both
// the write and the read side.
func TestRoundTripLargeTensor(t *testing.T) {
	const n = 3*chunkBytes/4 + 5
	f := &File{Tensors: []Tensor{
		{Name: "a", DType: F32, Shape: []int{n}, F32: make([]float32, n)},
		{Name: "b", DType: F64, Shape: []int{n}, F64: make([]float64, n)},
		{Name: "c", DType: I32, Shape: []int{n}, I32: make([]int32, n)},
	}}
	for i := range n {
		f.Tensors[0].F32[i] = float32(i) * 0.5
		f.Tensors[1].F64[i] = -float64(i) / 3
		f.Tensors[2].I32[i] = int32(i * 7)
	}
	got, err := Decode(encodeBytes(t, f), "big.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(f, got); d != "" {
		t.Fatal(d)
	}
}

func TestEncodeDeterministic(t *testing.T) {
	a := encodeBytes(t, sample())

	// The same content with tensors and metadata in another order.
	shuffled := sample()
	slices.Reverse(shuffled.Tensors)
	meta := map[string]string{}
	for _, k := range []string{"note", "mlc.model"} {
		meta[k] = shuffled.Metadata[k]
	}
	shuffled.Metadata = meta
	if b := encodeBytes(t, shuffled); !bytes.Equal(a, b) {
		t.Fatalf("same content, different bytes:\n%q\n%q", a[:min(len(a), 200)], b[:min(len(b), 200)])
	}

	// Canonical layout: header padded to 8 bytes, every tensor aligned to its
	// element size in the file, wider dtypes first.
	n := binary.LittleEndian.Uint64(a)
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	meta2, entries, err := parseHeader(a[8 : 8+n])
	if err != nil {
		t.Fatal(err)
	}
	if len(meta2) != 2 {
		t.Errorf("metadata %v", meta2)
	}
	if err := checkLayout(entries, uint64(len(a))-8-n); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if (8+n+e.begin)%uint64(elemSize(e.dtype)) != 0 {
			t.Errorf("tensor %q at file offset %d is not aligned to %d", e.name, 8+n+e.begin, elemSize(e.dtype))
		}
		names = append(names, e.name)
	}
	want := []string{"b1", "scale", "W1", "blocks.0.attn.Wq", "empty", "ids"}
	if !slices.Equal(names, want) {
		t.Errorf("data order %q, want %q", names, want)
	}
}

func TestHandMadeFixtures(t *testing.T) {
	tests := []struct {
		file      string
		canonical bool // laid out as Encode would lay it out
		want      *File
	}{
		{"tiny_f32.safetensors", true, &File{Tensors: []Tensor{
			{Name: "weight", DType: F32, Shape: []int{2, 2}, F32: []float32{1, -2, 0.5, 3.25}},
		}}},
		{"mixed.safetensors", false, &File{
			Metadata: map[string]string{"format": "pt"},
			Tensors: []Tensor{
				{Name: "bias", DType: F64, Shape: []int{2}, F64: []float64{0.25, -1e300}},
				{Name: "ids", DType: I32, Shape: []int{3}, I32: []int32{7, -1, 2147483647}},
				{Name: "scale", DType: F32, Shape: []int{}, F32: []float32{1.5}},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			got, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffFiles(tt.want, got); d != "" {
				t.Fatal(d)
			}
			if !tt.canonical {
				return
			}
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b := encodeBytes(t, got); !bytes.Equal(b, orig) {
				t.Errorf("re-encoded:\n%q\nfixture:\n%q", b, orig)
			}
		})
	}
}

func TestHeaderPadding(t *testing.T) {
	const h = `{"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}`
	data := []byte{42, 0, 0, 0}
	for _, pad := range []int{0, 1, 7, 8, 100} {
		t.Run(fmt.Sprint(pad), func(t *testing.T) {
			f, err := Decode(raw(h+strings.Repeat(" ", pad), data), "pad.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			if x, ok := f.Lookup("x"); !ok || !slices.Equal(x.I32, []int32{42}) {
				t.Fatalf("got %+v", f.Tensors)
			}
		})
	}
}

// wellFormed is a valid file the malformed cases below are cut from.
func wellFormed(t *testing.T) []byte {
	return encodeBytes(t, &File{
		Metadata: map[string]string{"k": "v"},
		Tensors: []Tensor{
			{Name: "a", DType: F32, Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}},
			{Name: "b", DType: F64, Shape: []int{3}, F64: []float64{5, 6, 7}},
		},
	})
}

func TestDecodeTruncated(t *testing.T) {
	full := wellFormed(t)
	n := int(binary.LittleEndian.Uint64(full))
	cuts := []int{0, 1, 7, 8, 9, 8 + n/2, 8 + n - 1, 8 + n, 8 + n + 1, len(full) - 8, len(full) - 1}
	for _, cut := range cuts {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			_, err := Decode(full[:cut], "cut.safetensors")
			checkErr(t, err, "cut.safetensors", "")
			if msg := err.Error(); !strings.Contains(msg, "truncated") && !strings.Contains(msg, "too short") {
				t.Errorf("error %q does not say the file is cut short", msg)
			}
		})
	}
}

// checkErr fails unless err is a single line that starts with file and
// contains want.
func checkErr(t *testing.T, err error, file, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, file+": ") {
		t.Errorf("error %q does not start with the file name %q", msg, file)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans several lines", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

func TestDecodeMalformed(t *testing.T) {
	entry := func(name, dtype, shape string, begin, end int) string {
		return fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, dtype, shape, begin, end)
	}
	four := make([]byte, 4)
	eight := make([]byte, 8)
	hugeSize := binary.LittleEndian.AppendUint64(nil, 1<<40)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"header size huge", append(hugeSize, "{}"...), "exceeds the limit"},
		{"header size past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "truncated"},
		{"header not JSON", raw(`{not json}`, nil), "not valid JSON"},
		{"header cut mid-JSON", raw(`{"a":{"dtype":"F32"`, nil), "not valid JSON"},
		{"header not an object", raw(`["a"]`, nil), "does not start with '{'"},
		{"header empty", raw(``, nil), "does not start with '{'"},
		{"header not UTF-8", raw("{\"\xff\":{}}", nil), "not valid UTF-8"},
		{"garbage after header", raw(`{}x`, nil), "after the JSON object"},
		{"newline padding", raw("{}\n", nil), "after the JSON object"},
		{"two objects", raw(`{}{}`, nil), "after the JSON object"},
		{"entry not an object", raw(`{"a":[1]}`, nil), "not a JSON object"},
		{"dtype unknown", raw(`{`+entry("a", "F33", "[1]", 0, 4)+`}`, four), `unknown dtype "F33"`},
		{"dtype unsupported", raw(`{`+entry("a", "F16", "[2]", 0, 4)+`}`, four), "F16 is not supported"},
		{"dtype not a string", raw(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, four), `"dtype" is not a string`},
		{"missing dtype", raw(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, four), `missing "dtype"`},
		{"missing offsets", raw(`{"a":{"dtype":"F32","shape":[1]}}`, four), `missing "data_offsets"`},
		{"unknown field", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, four), `unknown field "x"`},
		{"duplicate field", raw(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), `duplicate key "dtype"`},
		{"negative dim", raw(`{`+entry("a", "F32", "[-1]", 0, 4)+`}`, four), "not a natural number"},
		{"fractional dim", raw(`{`+entry("a", "F32", "[1.5]", 0, 4)+`}`, four), "not a natural number"},
		{"shape not an array", raw(`{`+entry("a", "F32", "3", 0, 4)+`}`, four), `"shape" is not an array`},
		{"shape overflows", raw(`{`+entry("a", "F32", "[4611686018427387904,4]", 0, 4)+`}`, four), "too many elements"},
		{"shape/length mismatch", raw(`{`+entry("a", "F32", "[2]", 0, 4)+`}`, four), "has 2 elements, data_offsets [0,4] hold 4 bytes"},
		{"length not a multiple", raw(`{`+entry("a", "F32", "[1]", 0, 5)+`}`, append(four, 0)), "hold 5 bytes"},
		{"three offsets", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, four), "has 3 numbers"},
		{"offsets reversed", raw(`{`+entry("a", "F32", "[0]", 4, 0)+`}`, nil), "end before they begin"},
		{"offsets huge", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}`, four), "not a natural number"},
		{"offsets past end", raw(`{`+entry("a", "F32", "[2]", 0, 8)+`}`, four), "truncated"},
		{"offsets overlap", raw(`{`+entry("a", "F32", "[1]", 0, 4)+`,`+entry("b", "F32", "[1]", 2, 6)+`}`, eight), "overlaps"},
		{"offsets same range", raw(`{`+entry("a", "F32", "[1]", 0, 4)+`,`+entry("b", "F32", "[1]", 0, 4)+`}`, eight), "overlaps"},
		{"offsets gap", raw(`{`+entry("a", "F32", "[1]", 4, 8)+`}`, eight), "gap in the data buffer at bytes [0,4)"},
		{"bytes after data", raw(`{`+entry("a", "F32", "[1]", 0, 4)+`}`, eight), "4 bytes after the last tensor"},
		{"duplicate names", raw(`{`+entry("a", "F32", "[1]", 0, 4)+`,`+entry("a", "F32", "[1]", 4, 8)+`}`, eight), `duplicate key "a"`},
		{"duplicate metadata", raw(`{"__metadata__":{},"__metadata__":{}}`, nil), `duplicate key "__metadata__"`},
		{"duplicate metadata key", raw(`{"__metadata__":{"k":"1","k":"2"}}`, nil), `duplicate key "k"`},
		{"metadata not an object", raw(`{"__metadata__":"x"}`, nil), "not a JSON object"},
		{"metadata value not a string", raw(`{"__metadata__":{"k":1}}`, nil), `metadata "k" is not a string`},
		{"long name elided", raw(`{`+entry(strings.Repeat("n", 1000), "F33", "[1]", 0, 4)+`}`, four), "nnn…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.data, "bad.safetensors")
			checkErr(t, err, "bad.safetensors", tt.want)
			if f != nil {
				t.Errorf("got a file along with the error")
			}
		})
	}
}

// Edge cases the format allows.
func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		count int
	}{
		{"no tensors", raw(`{}`, nil), 0},
		{"null metadata", raw(`{"__metadata__":null}`, nil), 0},
		{"whitespace inside JSON", raw("{ \"a\" :\n{\"shape\":[ ],\"data_offsets\":[0,8],\"dtype\":\"F64\"} }", make([]byte, 8)), 1},
		{"empty tensors share an offset", raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"I32","shape":[2,0],"data_offsets":[0,0]}}`, nil), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.data, "ok.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Tensors) != tt.count {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), tt.count)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		t    Tensor
		want string
	}{
		{"unknown dtype", Tensor{Name: "a", DType: "F16", Shape: []int{1}}, "F16 is not supported"},
		{"empty dtype", Tensor{Name: "a", Shape: []int{1}}, `unknown dtype ""`},
		{"too few values", Tensor{Name: "a", DType: F32, Shape: []int{2, 2}, F32: []float32{1, 2, 3}}, "needs 4 F32 values, has 3"},
		{"wrong slice", Tensor{Name: "a", DType: F32, Shape: []int{1}, F32: []float32{1}, F64: []float64{1}}, "other than its dtype"},
		{"negative dim", Tensor{Name: "a", DType: I32, Shape: []int{-1}}, "negative dimension"},
		{"reserved name", Tensor{Name: "__metadata__", DType: I32, Shape: []int{0}}, "reserved"},
		{"name not UTF-8", Tensor{Name: "a\xff", DType: I32, Shape: []int{0}}, "not valid UTF-8"},
		{"duplicate", Tensor{Name: "ok", DType: I32, Shape: []int{0}}, `duplicate tensor "ok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &File{Tensors: []Tensor{{Name: "ok", DType: I32, Shape: []int{0}}, tt.t}}
			var b bytes.Buffer
			err := Encode(&b, f)
			checkErr(t, err, "safetensors", tt.want)
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", b.Len())
			}

			dir := t.TempDir()
			path := filepath.Join(dir, "x.safetensors")
			checkErr(t, WriteFileAtomic(path, f), path, tt.want)
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left %d files behind", len(left))
			}
		})
	}
	t.Run("metadata not UTF-8", func(t *testing.T) {
		err := Encode(new(bytes.Buffer), &File{Metadata: map[string]string{"k": "\xff"}})
		checkErr(t, err, "safetensors", `metadata "k" is not valid UTF-8`)
	})
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.safetensors")
	if err := os.WriteFile(truncated, wellFormed(t)[:30], 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing.safetensors"), "no such file or directory"},
		{dir, "not a regular file"},
		{truncated, "truncated"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			_, err := ReadFile(tt.path)
			checkErr(t, err, tt.path, tt.want)
			if strings.Count(err.Error(), tt.path) != 1 {
				t.Errorf("error %q repeats the path", err)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	first := &File{Tensors: []Tensor{{Name: "a", DType: I32, Shape: []int{1}, I32: []int32{1}}}}
	second := &File{Tensors: []Tensor{{Name: "a", DType: I32, Shape: []int{2}, I32: []int32{2, 3}}}}
	if err := WriteFileAtomic(path, first); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("new file: %v, %v; want mode 0644", st.Mode(), err)
	}
	// A replacement keeps the mode of the file it replaces.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, second); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(second, got); d != "" {
		t.Fatal(d)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after replacing, want 0600", st.Mode().Perm())
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("%d files in the directory, want only the target", len(left))
	}

	// Failures name the target, not the temporary file.
	noDir := filepath.Join(dir, "nope", "x.safetensors")
	checkErr(t, WriteFileAtomic(noDir, first), noDir, "no such file or directory")
	checkErr(t, WriteFileAtomic(dir, first), dir, "not a regular file")
}

// TestLowPrecisionRoundTrip: I8 and BF16 tensors (low-precision weights)
// encode to their little-endian bytes and decode to the same values.
func TestLowPrecisionRoundTrip(t *testing.T) {
	f := &File{Tensors: []Tensor{
		{Name: "w", DType: I8, Shape: []int{2, 2}, I8: []int8{-127, 0, 1, 127}},
		{Name: "w.scale", DType: F32, Shape: []int{2}, F32: []float32{0.5, 0.25}},
		{Name: "h", DType: BF16, Shape: []int{3}, BF16: []uint16{0x3f80, 0xbf80, 0x7fc0}},
	}}
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.Contains(b, []byte{0x80, 0x3f, 0x80, 0xbf, 0xc0, 0x7f}) || !bytes.Contains(b, []byte{0x81, 0, 1, 0x7f}) {
		t.Fatalf("the data buffer lacks the little-endian BF16 and I8 bytes: % x", b)
	}
	g, err := Decode(b, "low.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	w, _ := g.Lookup("w")
	h, _ := g.Lookup("h")
	if w == nil || h == nil || !slices.Equal(w.I8, f.Tensors[0].I8) || !slices.Equal(h.BF16, f.Tensors[2].BF16) {
		t.Fatalf("decoded %+v", g.Tensors)
	}
}
