package codegen

import (
	"github.com/mlc-dev/mlc/graph"
)

// The products of bf16 mixed precision (passes.MixedPrecision): a MatMul
// whose operands are both RoundBF16 runs on kernels.GemmBF16, which rounds
// while packing. Rounding twice changes nothing, so the product may read
// the rounded copy or, where that copy would only be read by such products,
// the unrounded value itself: the RoundBF16 is then not emitted at all
// (elided), and its f32 copy is never written.

// bf16Product reports whether n runs on GemmBF16: a float32 MatMul of two
// bf16-valued operands (bf16Valued), too large for the inline loops.
func (g *gen) bf16Product(n *graph.Node) bool {
	if g.T != "float32" || n.Op != graph.OpMatMul || !bf16Valued(n.Inputs[0]) || !bf16Valued(n.Inputs[1]) {
		return false
	}
	_, _, m, nn, k := matmulDims(n)
	return m*nn*k > inlineMaxWork
}

// bf16Valued reports whether x's values are bf16 by construction: a
// rounding point, or a value that bf16 storage (passes.BF16Storage) kept as
// bf16 and widens for its reader, or a reshape of either. GemmBF16's rounding while packing leaves
// such a value as it is.
func bf16Valued(x *graph.Node) bool {
	for x.Op == graph.OpReshape {
		x = x.Inputs[0] // a view: the same values
	}
	return x.Op == graph.OpRoundBF16 || x.Op == graph.OpCast && x.Inputs[0].Type.DType == graph.BF16
}

// bf16Operand is what a bf16 product reads for its operand x: x's own
// input when x is elided, else x.
func (g *gen) bf16Operand(x *graph.Node) *graph.Node {
	r := x
	for r.Op == graph.OpReshape {
		r = r.Inputs[0] // an elided rounding read through views (elideBF16)
	}
	if g.bf16Elided[r] {
		return r.Inputs[0]
	}
	return x
}

// viewReaders returns the readers of x that see its storage (not x's
// reshapes that share it, which are looked through, their own readers
// taking their place) and whether every reshape on the way is such a view,
// outside any fused kernel and not an output.
func viewReaders(x *graph.Node, users map[*graph.Node][]*graph.Node, p *plan, groups map[*graph.Node]*graph.FusionGroup, outputs map[*graph.Node]bool) ([]*graph.Node, bool) {
	var out []*graph.Node
	for _, n := range users[x] {
		if n.Op != graph.OpReshape {
			out = append(out, n)
			continue
		}
		if p.slots[n] != p.slots[x] || groups[n] != nil || outputs[n] {
			return nil, false
		}
		more, ok := viewReaders(n, users, p, groups, outputs)
		if !ok {
			return nil, false
		}
		out = append(out, more...)
	}
	return out, true
}

// elideBF16 finds the RoundBF16 nodes of gr that need not run: those read
// only by bf16 products and by bf16 storage's casts to bf16 (which round
// alike), outside any fused kernel, not an output, whose
// input still holds its value when the last of them runs. That is a
// parameter not updated in between, or an arena value whose bytes no
// value written in between (the last reader's output included) overlaps.
func (g *gen) elideBF16(gr *graph.Graph, p *plan) {
	if g.T != "float32" {
		return
	}
	if g.bf16Elided == nil {
		g.bf16Elided = map[*graph.Node]bool{}
	}
	pos := map[*graph.Node]int{}
	for i, n := range gr.Nodes {
		pos[n] = i
	}
	last := map[*graph.Node]int{} // last reader of each RoundBF16
	ok := map[*graph.Node]bool{}
	for _, n := range gr.Nodes {
		if n.Op == graph.OpRoundBF16 {
			ok[n] = true
		}
	}
	users := map[*graph.Node][]*graph.Node{}
	for _, n := range gr.Nodes {
		for _, x := range n.Inputs {
			if len(users[x]) == 0 || users[x][len(users[x])-1] != n {
				users[x] = append(users[x], n)
			}
		}
	}
	outputs := map[*graph.Node]bool{}
	for _, o := range gr.Outputs {
		outputs[o.Node] = true
		ok[o.Node] = false
	}
	groups := groupIndex(gr)
	for x := range ok {
		// The readers, looking through reshapes that view x's storage:
		// a reshape of an elided rounding is read as a reshape of its
		// input (bf16Operand).
		readers, views := viewReaders(x, users, p, groups, outputs)
		if !views {
			ok[x] = false
			continue
		}
		for _, n := range readers {
			if !g.bf16Product(n) && !(n.Op == graph.OpCast && n.Type.DType == graph.BF16) {
				ok[x] = false // a reader that needs the rounded copy
			}
			last[x] = max(last[x], pos[n])
		}
	}
	for n, grp := range groups {
		if grp.Kind != "attention" || n.Op != graph.OpRoundBF16 {
			ok[n] = false // computed inside a fused kernel
		}
	}
	// written lists, by position, the values a node's step writes: its own,
	// or for the last member of a fused group all the group's results.
	written := func(n *graph.Node) []*graph.Node {
		grp := groups[n]
		if grp == nil {
			if n.Op == graph.OpReshape && p.slots[n] == p.slots[n.Inputs[0]] {
				return nil // a view: writes nothing
			}
			return []*graph.Node{n}
		}
		if n != grp.Last() {
			return nil
		}
		out := append([]*graph.Node(nil), grp.Results...)
		if grp.Producer != nil {
			out = append(out, grp.Producer)
		}
		return out
	}
	for x, good := range ok {
		if !good || last[x] == 0 {
			continue
		}
		src := x.Inputs[0]
		s := p.slots[src]
		if s.region != inParams && s.region != inArena {
			continue
		}
		safe := true
		for _, y := range gr.Nodes[pos[x]+1 : last[x]+1] {
			if s.region == inParams && y.Type.DType == graph.Void {
				for _, in := range y.Inputs {
					safe = safe && in != src // an update of the parameter
				}
			}
			for _, w := range written(y) {
				if w == src || w == x {
					continue // src's own producer (a fused kernel's result), or x itself
				}
				t := p.slots[w]
				if s.region == inArena && t.region == inArena && overlapBytes(s, t) {
					safe = false
				}
			}
		}
		if safe {
			g.bf16Elided[x] = true
		}
	}
}

// overlapBytes reports whether two arena slots of a float32 package share
// memory: the same arena, or the float arena and its bf16 view m.harena
// (bf16 offsets count uint16s, float offsets float32s).
func overlapBytes(a, b slot) bool {
	span := func(s slot) (class, lo, hi int) {
		switch {
		case s.dtype == graph.BF16:
			return 0, 2 * s.off, 2 * (s.off + s.size)
		case arenaIndex(s.dtype) == 0:
			return 0, 4 * s.off, 4 * (s.off + s.size)
		}
		return arenaIndex(s.dtype), s.off, s.off + s.size
	}
	ca, alo, ahi := span(a)
	cb, blo, bhi := span(b)
	return ca == cb && alo < bhi && blo < ahi
}
