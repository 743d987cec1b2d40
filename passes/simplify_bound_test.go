package passes

import (
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/graph"
)

// TestSimplifyStopsAtBound: a rule set that never converges stops at the
// bound with a warning instead of looping forever.
func TestSimplifyStopsAtBound(t *testing.T) {
	g, err := graph.Parse("t.ir", `mlc-ir 1
graph "loop" source "loop.go"
v0 = Param <f64[2]> {init=zeros} name="x" @ loop.go:1
v1 = Neg <f64[2]> v0 @ loop.go:2
v2 = Sum <f64[]> v1 name="loss" @ loop.go:3
loss v2
`)
	if err != nil {
		t.Fatal(err)
	}
	saved := simplifyRules
	defer func() { simplifyRules = saved }()
	// A rule that always "rewrites" Neg into a fresh Neg: never a fixed point.
	simplifyRules = []rule{{"flip", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op == graph.OpNeg {
			return rw.node(graph.OpNeg, graph.Attrs{}, n.Inputs[0])
		}
		return nil
	}}}
	st := NewStats()
	if err := Simplify(g, st); err != nil {
		t.Fatal(err)
	}
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "simplify: loop: still rewriting after 20 rounds; stopped at the bound") {
		t.Fatalf("warnings = %q", st.Warnings)
	}
	if st.Rewrites["simplify/flip"] != 20 {
		t.Fatalf("rewrites = %v", st.Rewrites)
	}
	if err := graph.Validate(g); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenInvariantNamesPassAndModel: a pass that leaves an invalid graph
// is reported with its name and the model's.
func TestBrokenInvariantNamesPassAndModel(t *testing.T) {
	g, err := graph.Parse("t.ir", `mlc-ir 1
graph "victim" source "v.go"
v0 = Param <f64[2]> {init=zeros} name="x" @ v.go:1
v1 = Exp <f64[2]> v0 @ v.go:2
v2 = Sum <f64[]> v1 name="loss" @ v.go:3
loss v2
`)
	if err != nil {
		t.Fatal(err)
	}
	saved := Pipeline
	defer func() { Pipeline = saved }()
	Pipeline = []Pass{{Name: "vandal", Run: func(g *graph.Graph, st *Stats) error {
		g.Nodes[1].Type = graph.T(graph.F64, 3) // a wrong type
		return nil
	}}}
	err = Run(g, Options{Validate: true}, NewStats())
	if err == nil || !strings.Contains(err.Error(), "pass vandal broke an invariant of model victim") {
		t.Fatalf("err = %v", err)
	}
}
