package onnx_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/onnx"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
	"github.com/mlc-dev/mlc/runtime"
)

// runOne imports a one-node model y = op(x, consts…) (constant inputs are
// int64 initializers) and runs it on the interpreter.
func runOne(t *testing.T, op string, attrs []*onnxpb.AttributeProto, xShape []int64, x []float64, consts ...[]int64) runtime.JSONTensor {
	t.Helper()
	f32 := int32(onnxpb.TensorProto_FLOAT)
	var ds []*onnxpb.TensorShapeProto_Dimension
	for _, d := range xShape {
		ds = append(ds, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	g := &onnxpb.GraphProto{
		Input: []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32), Shape: &onnxpb.TensorShapeProto{Dim: ds}}}}}},
		Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
	}
	ins := []string{"x"}
	for i, c := range consts {
		name := "c" + string(rune('0'+i))
		dims := []int64{int64(len(c))}
		if len(c) == 1 {
			dims = nil
		}
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: dims, Int64Data: c})
		ins = append(ins, name)
	}
	g.Node = []*onnxpb.NodeProto{{OpType: proto.String(op), Input: ins, Output: []string{"y"}, Attribute: attrs}}
	b, err := proto.Marshal(&onnxpb.ModelProto{OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}}, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(path, onnx.Options{Float: 2}) // f64
	if err != nil {
		t.Fatal(err)
	}
	res, err := compile.FromGraphs(m.Graph, nil, compile.Options{Float: m.Float})
	if err != nil {
		t.Fatal(err)
	}
	in := runtime.JSONTensor{Shape: make([]int, len(xShape))}
	for i, d := range xShape {
		in.Shape[i] = int(d)
	}
	for _, v := range x {
		in.Data = append(in.Data, runtime.JSONFloat(v))
	}
	out, err := compile.RunInterpreted(res.Program, compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": in}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Outputs["y"]
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func strAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func floats(j runtime.JSONTensor) []float64 {
	out := make([]float64, len(j.Data))
	for i, v := range j.Data {
		out[i] = float64(v)
	}
	return out
}

// The conformance suite feeds CumSum's axis and Pad's pads as run-time
// inputs, which static shapes refuse; these check the ops with constants.
func TestCumSum(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		excl, rev int64
		x, want   []float64
	}{
		{0, 0, []float64{1, 2, 3, 4, 5}, []float64{1, 3, 6, 10, 15}},
		{1, 0, []float64{1, 2, 3, 4, 5}, []float64{0, 1, 3, 6, 10}},
		{0, 1, []float64{1, 2, 3, 4, 5}, []float64{15, 14, 12, 9, 5}},
		{1, 1, []float64{1, 2, 3, 4, 5}, []float64{14, 12, 9, 5, 0}},
		{0, 0, []float64{1, inf, 2, 3, 4}, []float64{1, inf, inf, inf, inf}}, // no 0·∞
	} {
		got := floats(runOne(t, "CumSum", []*onnxpb.AttributeProto{intAttr("exclusive", c.excl), intAttr("reverse", c.rev)}, []int64{5}, c.x, []int64{0}))
		if !slices.Equal(got, c.want) {
			t.Errorf("CumSum(%v, exclusive=%d, reverse=%d) = %v, want %v", c.x, c.excl, c.rev, got, c.want)
		}
	}
	// Along axis 1 (given as −1) of a 2×3 matrix.
	got := floats(runOne(t, "CumSum", nil, []int64{2, 3}, []float64{1, 2, 3, 4, 5, 6}, []int64{-1}))
	if want := []float64{1, 3, 6, 4, 9, 15}; !slices.Equal(got, want) {
		t.Errorf("CumSum axis −1 = %v, want %v", got, want)
	}
}

func TestPadModes(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6}
	for _, c := range []struct {
		mode string
		pads []int64
		want []float64
	}{
		{"edge", []int64{1, 1, 0, 2}, []float64{1, 1, 2, 3, 3, 3, 1, 1, 2, 3, 3, 3, 4, 4, 5, 6, 6, 6}},
		{"reflect", []int64{0, 2, 1, 1}, []float64{3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2}},
	} {
		got := runOne(t, "Pad", []*onnxpb.AttributeProto{strAttr("mode", c.mode)}, []int64{2, 3}, x, c.pads)
		if !slices.Equal(floats(got), c.want) {
			t.Errorf("Pad %s %v = %v %v, want %v", c.mode, c.pads, got.Shape, floats(got), c.want)
		}
	}
}

// TestPowTensor: Pow with an exponent known only at run time matches
// math.Pow (NumPy's power) on the cases where exp(y·log|x|) alone would
// not: negative bases with odd, even and non-integer exponents (large ones
// too, through the split of |y| at 2³⁰), zero and one bases, infinite and
// NaN operands; in f64 and f32, on the interpreter and the generated code.
func TestPowTensor(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	xs := []float64{2, -2, -2, -2, 0, 0, 0, 1, nan, -1, -1, 0.5, 2, 2, -3, 3, -2, -1, -1, -1, -1, nan, -0.5, 4, -1}
	ys := []float64{3, 3, 2, 0.5, 2, 0, -1, nan, 0, inf, -inf, inf, inf, -inf, -1, 0.5, 1e10, 1<<31 + 1, 1<<40 + 1, 1<<52 + 1, 1.5e16, 2, -3, -0.5, -7}
	n := int64(len(xs))
	f := func(dt onnxpb.TensorProto_DataType) *onnxpb.TypeProto {
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)),
			Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: n}}}}}}}
	}
	for _, dt := range []onnxpb.TensorProto_DataType{onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT} {
		g := &onnxpb.GraphProto{
			Input:  []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: f(dt)}, {Name: proto.String("y"), Type: f(dt)}},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("z")}},
			Node:   []*onnxpb.NodeProto{{OpType: proto.String("Pow"), Input: []string{"x", "y"}, Output: []string{"z"}}},
		}
		b, err := proto.Marshal(&onnxpb.ModelProto{OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}}, Graph: g})
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnx.Parse(b, "", "pow.onnx", onnx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := compile.FromGraphs(m.Graph, nil, compile.Options{Float: m.Float})
		if err != nil {
			t.Fatal(err)
		}
		round, rel := func(v float64) float64 { return v }, 1e-13
		if dt == onnxpb.TensorProto_FLOAT {
			round, rel = func(v float64) float64 { return float64(float32(v)) }, 1e-6
		}
		tensor := func(vs []float64) runtime.JSONTensor {
			j := runtime.JSONTensor{Shape: []int{int(n)}}
			for _, v := range vs {
				j.Data = append(j.Data, runtime.JSONFloat(round(v)))
			}
			return j
		}
		req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": tensor(xs), "y": tensor(ys)}}
		engines := []string{"interpreter"}
		if dt == onnxpb.TensorProto_FLOAT {
			engines = append(engines, "generated")
		}
		for _, engine := range engines {
			var out *runtime.RunResult
			if engine == "interpreter" {
				out, err = compile.RunInterpreted(res.Program, req)
			} else {
				var bin string
				if bin, err = compile.BuildRunner(res.Program); err == nil {
					out, err = compile.RunGenerated(bin, req)
				}
			}
			if err != nil {
				t.Fatalf("%s %s: %v", m.Float, engine, err)
			}
			for i, gv := range floats(out.Outputs["z"]) {
				want := round(math.Pow(round(xs[i]), round(ys[i])))
				ok := math.IsNaN(want) && math.IsNaN(gv) || gv == want || math.Abs(gv-want) <= rel*math.Abs(want)
				if !ok {
					t.Errorf("%s %s: pow(%v, %v) = %v, want %v", m.Float, engine, round(xs[i]), round(ys[i]), gv, want)
				}
			}
		}
	}
}
