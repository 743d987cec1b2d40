package passes_test

import (
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
)

// TestMemPlanSharesOnlyDeadMemory checks every plan of the zoo: two values
// whose memory overlaps must never be live at once, except a value written
// over an operand that dies where it is written (in place) and a reshape,
// which is its operand's memory by construction.
func TestMemPlanSharesOnlyDeadMemory(t *testing.T) {
	for _, e := range models.Zoo {
		res, err := compile.Zoo(e.Name, "", compile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range res.Program.Graphs() {
			checkPlan(t, e.Name, g)
		}
	}
}

func checkPlan(t *testing.T, model string, g *graph.Graph) {
	t.Helper()
	if g.Plan == nil {
		t.Fatalf("%s: no memory plan", model)
	}
	storage, _ := graph.StorageOf(g)
	pos := map[*graph.Node]int{}
	for i, n := range g.Nodes {
		pos[n] = i
	}
	if g.Fusion != nil {
		for _, grp := range g.Fusion.Groups {
			for _, n := range grp.Nodes {
				pos[n] = pos[grp.Last()]
			}
			if grp.Producer != nil {
				pos[grp.Producer] = pos[grp.Last()]
			}
		}
	}
	root := func(n *graph.Node) *graph.Node {
		for storage[n] == graph.StoreAlias {
			n = n.Inputs[0]
		}
		return n
	}
	// lifetime of each stored value: written at its position (inputs before
	// everything), last read by any user of it or of its reshapes.
	start, end := map[*graph.Node]int{}, map[*graph.Node]int{}
	var vals []*graph.Node
	for _, n := range g.Nodes {
		if storage[n] == graph.StoreArena {
			vals = append(vals, n)
			start[n], end[n] = pos[n], pos[n]
			if n.Op == graph.OpInput {
				start[n] = -1
			}
		}
	}
	for _, n := range g.Nodes {
		for _, x := range n.Inputs {
			if r := root(x); storage[r] == graph.StoreArena && pos[n] > end[r] {
				end[r] = pos[n]
			}
		}
	}
	for _, r := range g.Roots() {
		if x := root(r); storage[x] == graph.StoreArena {
			end[x] = len(g.Nodes)
		}
	}
	// inPlaceOf: v may share memory with u when u dies exactly where v is written.
	operandOf := func(v, u *graph.Node) bool {
		for _, x := range v.Inputs {
			if root(x) == u {
				return true
			}
		}
		if g.Fusion != nil {
			for _, grp := range g.Fusion.Groups {
				if !contains(grp.Nodes, v) {
					continue
				}
				if grp.Producer == u {
					return true
				}
				for _, m := range grp.Nodes {
					for _, x := range m.Inputs {
						if root(x) == u {
							return true
						}
					}
				}
			}
		}
		return false
	}
	sizeOf := func(n *graph.Node) int { return n.Type.Shape.Size() }
	for i, a := range vals {
		for _, b := range vals[i+1:] {
			if graph.ArenaClass(a.Type.DType) != graph.ArenaClass(b.Type.DType) {
				continue
			}
			oa, ob := g.Plan.Offset[a], g.Plan.Offset[b]
			if oa+sizeOf(a) <= ob || ob+sizeOf(b) <= oa {
				continue // disjoint memory
			}
			if start[a] > end[b] || start[b] > end[a] {
				continue // never live together
			}
			// Overlapping memory and lifetimes: only a chain of in-place writes may.
			first, second := a, b
			if start[b] < start[a] {
				first, second = b, a
			}
			if end[first] == start[second] && operandOf(second, first) {
				continue
			}
			t.Errorf("%s %s: %s [%d,%d] at %d+%d and %s [%d,%d] at %d+%d share live memory",
				model, g.Name, a.Ref(), start[a], end[a], oa, sizeOf(a), b.Ref(), start[b], end[b], ob, sizeOf(b))
			return
		}
	}
	if g.Plan.PlannedBytes > g.Plan.NaiveBytes || g.Plan.LowerBoundBytes > g.Plan.PlannedBytes {
		t.Errorf("%s: naive %d, planned %d, lower bound %d bytes out of order", model, g.Plan.NaiveBytes, g.Plan.PlannedBytes, g.Plan.LowerBoundBytes)
	}
}

func contains(ns []*graph.Node, n *graph.Node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}
