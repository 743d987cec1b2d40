package onnx

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/graph"
)

// TestFuseCausalMask: a bool constant [1, 1, T, S] that Where reads as its
// condition becomes CausalMask[T, S] when it is causal's pattern (branches
// kept) or its complement, the positions to hide as PyTorch exports them
// (branches swapped); any other pattern, or a constant with another
// reader, stays.
func TestFuseCausalMask(t *testing.T) {
	const T, S = 3, 4
	pattern := func(f func(i, j int) bool) []float64 {
		d := make([]float64, T*S)
		for i := range T {
			for j := range S {
				if f(i, j) {
					d[i*S+j] = 1
				}
			}
		}
		return d
	}
	causal := func(i, j int) bool { return j <= i+S-T }
	for _, c := range []struct {
		name  string
		data  []float64
		extra bool // the mask has another reader
		want  string
	}{
		{"causal", pattern(causal), false, "kept"},
		{"complement", pattern(func(i, j int) bool { return !causal(i, j) }), false, "swapped"},
		{"off by one", pattern(func(i, j int) bool { return j <= i+S-T+1 }), false, "const"},
		{"another reader", pattern(causal), true, "const"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &graph.Graph{Name: "t"}
			x, err := g.Leaf(graph.OpInput, "x", graph.Type{DType: graph.F64, Shape: graph.Shape{1, 2, T, S}}, graph.Attrs{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := g.Leaf(graph.OpConst, "", graph.Type{DType: graph.Bool, Shape: graph.Shape{1, 1, T, S}}, graph.Attrs{Data: c.data})
			if err != nil {
				t.Fatal(err)
			}
			fill, err := g.Leaf(graph.OpConst, "", graph.Type{DType: graph.F64, Shape: graph.Shape{}}, graph.Attrs{Value: math.Inf(-1)})
			if err != nil {
				t.Fatal(err)
			}
			w, err := g.Apply(graph.OpWhere, graph.Attrs{}, m, fill, x)
			if err != nil {
				t.Fatal(err)
			}
			g.Outputs = append(g.Outputs, graph.Output{Name: "y", Node: w})
			if c.extra {
				g.Outputs = append(g.Outputs, graph.Output{Name: "mask", Node: m})
			}
			fuseCausalMask(g)
			got := "const"
			if m.Op == graph.OpCausalMask {
				got = "kept"
				if w.Inputs[1] == x && w.Inputs[2] == fill {
					got = "swapped"
				}
				if !m.Type.Shape.Equal(graph.Shape{T, S}) {
					t.Errorf("mask shape %v, want [%d,%d]", m.Type.Shape, T, S)
				}
			}
			if got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}
