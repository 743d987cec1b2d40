package compile

import (
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/graph"
)

func TestONNXSource(t *testing.T) {
	const path = "../onnx/testdata/mlp/model.onnx"
	if !IsONNXPath(path) || IsONNXPath("mlp") {
		t.Fatal("IsONNXPath")
	}
	src := ONNXSource(path)
	if src.Name() != "model" {
		t.Errorf("Name = %q", src.Name())
	}
	if _, err := src.Load("", graph.Invalid); err == nil || !strings.Contains(err.Error(), `"batch"`) {
		t.Errorf("unbound batch: %v", err)
	}
	if _, err := src.Load("batch=2,heads=3", graph.Invalid); err == nil || !strings.Contains(err.Error(), `unknown config key "heads"`) {
		t.Errorf("unknown key: %v", err)
	}
	m, err := src.Load("loss=cross_entropy,batch=5", graph.F64)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config != "batch=5,loss=cross_entropy" || m.ConfigInt("batch") != 5 || m.Float != graph.F64 {
		t.Errorf("config %q, batch %d, float %s", m.Config, m.ConfigInt("batch"), m.Float)
	}
	res, err := m.Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Program
	if p.Train == nil || p.Train.Find("logits_target") == nil || !p.Predict.Output("logits").Type.Equal(graph.T(graph.F64, 5, 3)) {
		t.Fatalf("program: train %v", p.Train != nil)
	}
}
