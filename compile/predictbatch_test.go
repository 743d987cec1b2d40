package compile

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// batchSource builds a one-layer model at the batch its spec gives; with
// centre, each row is centred on the batch's mean, so rows see each other.
type batchSource struct{ centre bool }

func (batchSource) Name() string { return "rows" }

func (s batchSource) Load(spec string, float graph.DType) (*Model, error) {
	batch := 8
	for kv := range strings.SplitSeq(spec, ",") {
		if v, ok := strings.CutPrefix(kv, "batch="); ok {
			batch, _ = strconv.Atoi(v)
		}
	}
	pred, err := dsl.Build("rows", "rows.go", dsl.Options{Float: graph.F64}, func(b *dsl.Builder) {
		x := b.Input("x", batch, 3)
		w := b.Param("w", dsl.Xavier(), 3, 2)
		if s.centre {
			x = x.Sub(x.Mean(0))
		}
		b.Output("y", x.MatMul(w).Tanh())
	})
	if err != nil {
		return nil, err
	}
	return &Model{Name: "rows", Float: graph.F64, Config: "batch=" + strconv.Itoa(batch),
		Keys: []dsl.ConfigKey{{Name: "batch", Type: "int", Default: strconv.Itoa(batch)}}, pred: pred}, nil
}

// TestPredictBatch: a second Predict at a smaller batch serves the first
// rows the way the whole batch does, in the interpreter; a model whose
// rows see each other, a batch that does not shrink and a missing key are
// refused with the reason.
func TestPredictBatch(t *testing.T) {
	m, _ := batchSource{}.Load("", graph.Invalid)
	if err := m.WithPredictBatch(batchSource{}, "batch", 2); err != nil {
		t.Fatal(err)
	}
	res, err := m.Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	prog := res.Program
	if prog.PredictSmall == nil || !prog.PredictSmall.Inputs()[0].Type.Shape.Equal(graph.Shape{2, 3}) {
		t.Fatalf("no Predict at batch 2: %v", prog.PredictSmall)
	}
	pr, err := runtime.NewProgram(prog, runtime.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := runtime.FromFloat64(graph.F64, []int{2, 3}, []float64{1, 2, 3, -1, 0.5, 0})
	out, err := pr.Predict(map[string]*runtime.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Shape; !got.Equal(graph.Shape{2, 2}) {
		t.Errorf("Predict on 2 rows gives %s", got)
	}

	for _, c := range []struct {
		src  batchSource
		key  string
		n    int
		want string
	}{
		{batchSource{}, "batch", 8, "want a batch from 1 to 7"},
		{batchSource{}, "rows", 2, `has no config key "rows"`},
		{batchSource{centre: true}, "batch", 2, "the model's rows are not independent"},
	} {
		m, _ := c.src.Load("", graph.Invalid)
		err := m.WithPredictBatch(c.src, c.key, c.n)
		if err == nil {
			_, err = m.Compile(Options{})
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c, err, c.want)
		}
	}
}

// TestPredictBatchONNX: an ONNX model's symbolic batch dimension serves as
// the key: the import at batch 1 gives the first row of the import at
// batch 8, in the interpreter.
func TestPredictBatchONNX(t *testing.T) {
	src, err := Resolve("../onnx/testdata/mlp/model.onnx", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Load("batch=8", graph.Invalid)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WithPredictBatch(src, "batch", 1); err != nil {
		t.Fatal(err)
	}
	res, err := m.Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := res.Program.PredictSmall.Inputs()[0]
	if !in.Type.Shape.Equal(graph.Shape{1, in.Type.Shape[1]}) {
		t.Fatalf("the smaller Predict's input is %s", in.Type)
	}
	if err := CheckRowIndependent(res.Program, nil); err != nil {
		t.Fatal(err)
	}
}
