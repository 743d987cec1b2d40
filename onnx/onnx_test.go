package onnx

import (
	"errors"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/graph"
)

func TestSeedModel(t *testing.T) {
	data := seedModel(t)
	if _, err := Parse(data, "", "seed.onnx", Options{}); err == nil || !strings.Contains(err.Error(), `symbolic "N"`) {
		t.Fatalf("unbound N: got %v, want an error naming it", err)
	}
	m, err := Parse(data, "", "seed.onnx", Options{Dims: map[string]int{"N": 4}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Dims) != 1 || m.Dims[0] != (Dim{"N", 4}) {
		t.Errorf("Dims = %v", m.Dims)
	}
	y := m.Graph.Output("y")
	if y == nil || !y.Type.Equal(graph.T(graph.F32, 4, 2)) {
		t.Fatalf("output y = %v", y)
	}
	var params []string
	for _, p := range m.Graph.Params() {
		params = append(params, p.Name+p.Type.String())
	}
	if got := strings.Join(params, " "); got != "Wf32[3,2] bf32[2]" {
		t.Errorf("params = %q, want W and b (the int64 shape stays a constant)", got)
	}
	c, err := Parse(data, "", "seed.onnx", Options{Dims: map[string]int{"N": 4}, Constants: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if ps := c.Graph.Params(); len(ps) != 1 || ps[0].Name != "W" {
		t.Errorf("with b constant, params = %v", ps)
	}
	train, err := m.WithLoss("cross_entropy", "")
	if err != nil {
		t.Fatal(err)
	}
	tgt := train.Find("y_target")
	if tgt == nil || tgt.Op != graph.OpInput || !tgt.Type.Equal(graph.T(graph.I32, 4)) || train.Loss == nil {
		t.Fatalf("target %v, loss %v", tgt, train.Loss)
	}
	if m.Graph.Loss != nil || m.Graph.Find("y_target") != nil {
		t.Error("WithLoss changed the eval graph")
	}
	if _, err := m.WithLoss("hinge", "y"); err == nil {
		t.Error("unknown loss accepted")
	}
	if _, err := m.WithLoss("mse", "nope"); err == nil {
		t.Error("unknown output accepted")
	}
}

func TestUnsupportedNamesNodeOpAttribute(t *testing.T) {
	data := seedModel(t)
	// Flip the Softmax to an op the importer lacks by editing the bytes.
	bad := []byte(strings.Replace(string(data), "Softmax", "Softmux", 1))
	_, err := Parse(bad, "", "seed.onnx", Options{Dims: map[string]int{"N": 1}})
	if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Softmux") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want a one-line unsupported error naming Softmux", err)
	}
	bad = []byte(strings.Replace(string(data), "axis", "axiz", 1))
	_, err = Parse(bad, "", "seed.onnx", Options{Dims: map[string]int{"N": 1}})
	if err == nil || !strings.Contains(err.Error(), `attribute "axiz"`) || !strings.Contains(err.Error(), "(Softmax)") {
		t.Fatalf("got %v, want an error naming the node, op and attribute", err)
	}
}
