package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// FuzzParse feeds arbitrary bytes to the importer: it must return a model
// or an error, never panic or hang. Seeds are a hand-built model and, when
// the ONNX test data is installed, a few of its models.
func FuzzParse(f *testing.F) {
	f.Add(seedModel(f))
	f.Add([]byte{})
	f.Add([]byte("\x08\x07"))
	for _, name := range []string{"test_gemm_all_attributes", "test_reshape_extended_dims", "test_layer_normalization_4d_axis1",
		"test_gather_1", "test_slice", "test_constantofshape_float_ones", "test_split_equal_parts_1d",
		"test_resize_upsample_scales_cubic", "test_convtranspose_pads", "test_maxpool_2d_pads", "test_averagepool_2d_pads", "test_tile", "test_sce_mean", "test_gather_elements_0"} {
		if b, err := os.ReadFile(filepath.Join("/usr/share/libonnx-testdata/data/node", name, "model.onnx")); err == nil {
			f.Add(b)
		}
	}
	recoverPanics = false
	f.Cleanup(func() { recoverPanics = true })
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "", "fuzz.onnx", Options{Dims: map[string]int{"N": 2, "batch": 1}})
		if err == nil && m.Graph == nil {
			t.Fatal("no error and no graph")
		}
	})
}

// seedModel is y = softmax(reshape(x·W + b)) with a symbolic batch.
func seedModel(t testing.TB) []byte {
	f32 := int32(onnxpb.TensorProto_FLOAT)
	dim := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("seed"),
			Input: []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
				ElemType: proto.Int32(f32),
				Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
					{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}, dim(3)}},
			}}}}},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
			Initializer: []*onnxpb.TensorProto{
				{Name: proto.String("W"), DataType: proto.Int32(f32), Dims: []int64{3, 2}, FloatData: []float32{1, 2, 3, 4, 5, 6}},
				{Name: proto.String("b"), DataType: proto.Int32(f32), Dims: []int64{2}, FloatData: []float32{0.5, -0.5}},
				{Name: proto.String("shape"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{2}, Int64Data: []int64{0, -1}},
			},
			Node: []*onnxpb.NodeProto{
				{OpType: proto.String("MatMul"), Input: []string{"x", "W"}, Output: []string{"xw"}},
				{OpType: proto.String("Add"), Input: []string{"xw", "b"}, Output: []string{"z"}},
				{OpType: proto.String("Reshape"), Input: []string{"z", "shape"}, Output: []string{"r"}},
				{OpType: proto.String("Softmax"), Input: []string{"r"}, Output: []string{"y"}, Attribute: []*onnxpb.AttributeProto{
					{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(-1)}}},
			},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
