package onnx_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/onnx"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
	"github.com/mlc-dev/mlc/runtime"
)

// writeMatMulModel writes y = tanh(x·W) with W [k, n] of random weights,
// stored in an external data file when external is set.
func writeMatMulModel(t *testing.T, dir string, k, n int, external bool) {
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]float32, k*n)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	f32 := int32(onnxpb.TensorProto_FLOAT)
	info := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		var ds []*onnxpb.TensorShapeProto_Dimension
		for _, d := range dims {
			ds = append(ds, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32), Shape: &onnxpb.TensorShapeProto{Dim: ds}}}}}
	}
	W := &onnxpb.TensorProto{Name: proto.String("W"), DataType: proto.Int32(f32), Dims: []int64{int64(k), int64(n)}}
	if external {
		var buf bytes.Buffer
		buf.WriteString("padding!") // the tensor starts at offset 8
		for _, v := range w {
			b := math.Float32bits(v)
			buf.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
		if err := os.WriteFile(filepath.Join(dir, "weights.bin"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		W.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		W.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String("weights.bin")},
			{Key: proto.String("offset"), Value: proto.String("8")},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(4 * k * n))},
		}
	} else {
		W.FloatData = w
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("wide"),
			Input:       []*onnxpb.ValueInfoProto{info("x", 2, int64(k))},
			Output:      []*onnxpb.ValueInfoProto{info("y", 2, int64(n))},
			Initializer: []*onnxpb.TensorProto{W},
			Node: []*onnxpb.NodeProto{
				{OpType: proto.String("MatMul"), Input: []string{"x", "W"}, Output: []string{"xw"}},
				{OpType: proto.String("Tanh"), Input: []string{"xw"}, Output: []string{"y"}},
			},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLargeWeights: a parameter of more than codegen's embedding threshold
// (64·80 values), read from an external data file, goes into the generated
// package's mlc_weights.bin rather than a literal; both engines agree, and
// mlc recognises the file as its own when it rewrites the directory.
func TestLargeWeights(t *testing.T) {
	dir := t.TempDir()
	writeMatMulModel(t, dir, 64, 80, true)
	res, err := compile.ONNX(filepath.Join(dir, "model.onnx"), compile.ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := compile.Generate(res, "wide")
	if err != nil {
		t.Fatal(err)
	}
	var bin, model []byte
	for _, f := range files {
		switch f.Name {
		case "mlc_weights.bin":
			bin = f.Data
		case "model.go":
			model = f.Data
		}
	}
	if len(bin) < 4*64*80 || !bytes.Contains(model, []byte("//go:embed mlc_weights.bin")) {
		t.Fatalf("weights not embedded: %d bytes of mlc_weights.bin", len(bin))
	}
	out := filepath.Join(t.TempDir(), "wide")
	for range 2 { // the second write must accept the first's files
		if err := compile.WriteDir(out, files); err != nil {
			t.Fatal(err)
		}
	}
	x := runtime.JSONTensor{Shape: []int{2, 64}}
	for i := range 128 {
		x.Data = append(x.Data, runtime.JSONFloat(math.Sin(float64(i))))
	}
	req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": x}}
	want, err := compile.RunInterpreted(res.Program, req)
	if err != nil {
		t.Fatal(err)
	}
	binPath, err := compile.BuildRunner(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	got, err := compile.RunGenerated(binPath, req)
	if err != nil {
		t.Fatal(err)
	}
	w, g := want.Outputs["y"], got.Outputs["y"]
	if len(g.Data) != 160 || len(w.Data) != 160 {
		t.Fatalf("got %d and %d values", len(g.Data), len(w.Data))
	}
	for i := range w.Data {
		if d := math.Abs(float64(g.Data[i] - w.Data[i])); d > 1e-5 {
			t.Fatalf("y[%d]: generated %v, interpreter %v", i, g.Data[i], w.Data[i])
		}
	}
	// The same model with the weights inline imports to the same values.
	dir2 := t.TempDir()
	writeMatMulModel(t, dir2, 64, 80, false)
	m1, err := onnx.Load(filepath.Join(dir, "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := onnx.Load(filepath.Join(dir2, "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := m1.Graph.Params()[0].Attrs.Data, m2.Graph.Params()[0].Attrs.Data
	for i := range d2 {
		if d1[i] != d2[i] {
			t.Fatalf("external W[%d] = %v, inline %v", i, d1[i], d2[i])
		}
	}
}

// TestLargeConstant: a large folded float constant (a non-zero Pad border
// of 80·80 values) is read from mlc_weights.bin too, and both engines agree.
func TestLargeConstant(t *testing.T) {
	dir := t.TempDir()
	f32 := int32(onnxpb.TensorProto_FLOAT)
	info := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		var ds []*onnxpb.TensorShapeProto_Dimension
		for _, d := range dims {
			ds = append(ds, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32), Shape: &onnxpb.TensorShapeProto{Dim: ds}}}}}
	}
	m := &onnxpb.ModelProto{
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Input:  []*onnxpb.ValueInfoProto{info("x", 78, 78)},
			Output: []*onnxpb.ValueInfoProto{info("y", 80, 80)},
			Initializer: []*onnxpb.TensorProto{
				{Name: proto.String("pads"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{4}, Int64Data: []int64{1, 1, 1, 1}},
				{Name: proto.String("fill"), DataType: proto.Int32(f32), FloatData: []float32{2.5}},
			},
			Node: []*onnxpb.NodeProto{{OpType: proto.String("Pad"), Input: []string{"x", "pads", "fill"}, Output: []string{"y"}}},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pad.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := compile.ONNX(path, compile.ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := compile.Generate(res, "pad")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name == "model.go" && (!bytes.Contains(f.Data, []byte("read from mlc_weights.bin")) || len(f.Data) > 100000) {
			t.Errorf("the border constant is not embedded (model.go: %d bytes)", len(f.Data))
		}
	}
	x := runtime.JSONTensor{Shape: []int{78, 78}}
	for i := range 78 * 78 {
		x.Data = append(x.Data, runtime.JSONFloat(i%7))
	}
	req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": x}}
	bin, err := compile.BuildRunner(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func() (*runtime.RunResult, error){
		"interpreter": func() (*runtime.RunResult, error) { return compile.RunInterpreted(res.Program, req) },
		"generated":   func() (*runtime.RunResult, error) { return compile.RunGenerated(bin, req) },
	} {
		got, err := run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		y := got.Outputs["y"].Data
		if y[0] != 2.5 || y[80+1] != 0 || y[80+2] != 1 || y[80*80-1] != 2.5 {
			t.Errorf("%s: y[0]=%v y[81]=%v y[82]=%v y[last]=%v, want 2.5 0 1 2.5", name, y[0], y[81], y[82], y[80*80-1])
		}
	}
}
