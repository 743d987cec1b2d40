package passes

import (
	"sort"

	"github.com/mlc-dev/mlc/graph"
)

// MemPlan gives every value that needs a buffer an offset in one arena per
// element type, reusing memory between values whose lifetimes do not
// overlap.
//
// Assumes: g is valid and its node order is the schedule: for a training
// graph, forward, backward and update run in that order, one entry point
// after another in the generated code. Fusion, if any, has run.
//
// Floats, i32 and bools have an arena each (graph.ArenaClass); the bf16
// values passes.BF16Storage stores share the float arena, two to an f32
// slot (graph.ArenaSlots), so one plan packs both and a bf16 buffer can
// reuse an f32 one's memory and the other way round.
//
// Guarantees: g.Plan holds the offsets; two values share memory only when
// one is dead before the other is written, or when an elementwise op writes
// its result over an operand of the same type that dies at that op (in
// place: each element is read before it is written). Inputs are written at
// the start of the entry point; outputs and the loss stay live to its end.
// Offsets are packed greedily by size (largest first, lowest free offset),
// which lands close to the liveness lower bound in practice; the plan
// records naive, planned and lower-bound bytes for mlc stats.
func MemPlan(g *graph.Graph, st *Stats) error {
	storage, _ := graph.StorageOf(g)
	ft := floatType(g)
	pos := make(map[*graph.Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		pos[n] = i
	}
	// A fused group runs where its last member stands: its members and its
	// producer are written, and its operands read, at that position.
	groupOf := map[*graph.Node]*graph.FusionGroup{}
	if g.Fusion != nil {
		for _, grp := range g.Fusion.Groups {
			at := pos[grp.Last()]
			for _, n := range grp.Nodes {
				groupOf[n] = grp
				pos[n] = at
			}
			if grp.Producer != nil {
				groupOf[grp.Producer] = grp
				pos[grp.Producer] = at
			}
		}
	}
	// root resolves aliases (reshapes) to the value that owns the buffer.
	var root func(n *graph.Node) *graph.Node
	root = func(n *graph.Node) *graph.Node {
		if storage[n] == graph.StoreAlias {
			return root(n.Inputs[0])
		}
		return n
	}
	type buffer struct {
		owner      *graph.Node
		size       int // elements, rounded up for alignment
		class      int
		start, end int // schedule positions: written at start, last read at end
	}
	bufs := map[*graph.Node]*buffer{}
	end := len(g.Nodes)
	for _, n := range g.Nodes {
		if storage[n] != graph.StoreArena {
			continue
		}
		b := &buffer{owner: n, size: align(graph.ArenaSlots(n.Type, ft)), class: graph.ArenaClass(n.Type.DType), start: pos[n], end: pos[n]}
		if n.Op == graph.OpInput {
			b.start = -1 // copied in before the first node runs
		}
		bufs[n] = b
	}
	use := func(x *graph.Node, at int) {
		if b := bufs[root(x)]; b != nil && at > b.end {
			b.end = at
		}
	}
	for _, n := range g.Nodes {
		for _, x := range n.Inputs {
			use(x, pos[n])
		}
	}
	for _, r := range g.Roots() {
		use(r, end) // outputs, loss: read by the caller after the last node
	}

	// Naive: every value its own (aligned) buffer, fused ones included.
	naive := [3]int{}
	for _, n := range g.Nodes {
		if storage[n] == graph.StoreArena || storage[n] == graph.StoreFused {
			naive[graph.ArenaClass(n.Type.DType)] += align(graph.ArenaSlots(n.Type, ft))
		}
	}

	// In place: an elementwise result takes over an operand's buffer when the
	// operand has the same type and everything in that buffer dies there. A
	// fused loop reads all its operands at an index before it writes any
	// result there, so its results may take over its operands too.
	alias := map[*graph.Node]*buffer{}
	bufOf := func(v *graph.Node) *buffer {
		if b := alias[v]; b != nil {
			return b
		}
		return bufs[v]
	}
	inPlace := 0
	for _, n := range g.Nodes {
		b := bufs[n]
		if b == nil {
			continue
		}
		var operands []*graph.Node
		switch grp := groupOf[n]; {
		case grp != nil && (grp.Kind == "elementwise" || grp.Kind == "epilogue") && n != grp.Producer:
			operands = groupOperands(grp)
		case grp == nil && n.Op.Info().Has(graph.Elementwise):
			operands = n.Inputs
		}
		for _, x := range operands {
			xb := bufOf(root(x))
			if xb == nil || !x.Type.Equal(n.Type) || xb.end != pos[n] || xb.class != b.class {
				continue
			}
			xb.end = b.end // one buffer for both, living as long as n does
			alias[n] = xb
			delete(bufs, n)
			inPlace++
			break
		}
	}

	// Greedy by size: place the largest first at the lowest offset that is
	// free for its whole lifetime.
	list := make([]*buffer, 0, len(bufs))
	for _, b := range bufs {
		list = append(list, b)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].size != list[j].size {
			return list[i].size > list[j].size
		}
		return list[i].owner.ID < list[j].owner.ID // a total order: the plan is deterministic
	})
	offset := map[*buffer]int{}
	var placed [3][]*buffer
	var size [3]int
	for _, b := range list {
		var busy [][2]int
		for _, p := range placed[b.class] {
			if p.start <= b.end && b.start <= p.end {
				busy = append(busy, [2]int{offset[p], offset[p] + p.size})
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i][0] < busy[j][0] })
		at := 0
		for _, r := range busy {
			if at+b.size <= r[0] {
				break
			}
			at = max(at, r[1])
		}
		offset[b] = at
		placed[b.class] = append(placed[b.class], b)
		size[b.class] = max(size[b.class], at+b.size)
	}

	plan := &graph.MemPlan{Offset: map[*graph.Node]int{}, Size: size, InPlace: inPlace}
	for _, n := range g.Nodes {
		if storage[n] != graph.StoreArena {
			continue
		}
		b := bufs[n]
		if b == nil {
			b = alias[n]
		}
		plan.Offset[n] = offset[b]
	}
	// Lower bound: the largest total live at any schedule position.
	var live [3][]int
	for c := range live {
		live[c] = make([]int, end+2)
	}
	for _, b := range list {
		for t := b.start + 1; t <= b.end+1; t++ {
			live[b.class][t] += b.size
		}
	}
	for c, dt := range []graph.DType{ft, graph.I32, graph.Bool} {
		peak := 0
		for _, v := range live[c] {
			peak = max(peak, v)
		}
		plan.LowerBoundBytes += peak * dt.Size()
		plan.PlannedBytes += size[c] * dt.Size()
		plan.NaiveBytes += naive[c] * dt.Size()
	}
	g.Plan = plan
	st.Count("memplan/in-place", inPlace)
	return nil
}

// align rounds a buffer up to 8 elements, so every buffer starts on a
// 32-byte (f32) or 64-byte (f64) boundary relative to the arena.
func align(n int) int { return (n + 7) &^ 7 }

// floatType is the graph's float dtype (f64 when it has no floats).
func floatType(g *graph.Graph) graph.DType {
	for _, n := range g.Nodes {
		if n.Type.DType.IsFloat() {
			return n.Type.DType
		}
	}
	return graph.F64
}

// groupOperands lists what a fused group reads from outside its members:
// operands of members that are not members, and the epilogue's product.
func groupOperands(grp *graph.FusionGroup) []*graph.Node {
	in := map[*graph.Node]bool{}
	for _, n := range grp.Nodes {
		in[n] = true
	}
	var out []*graph.Node
	seen := map[*graph.Node]bool{}
	for _, n := range grp.Nodes {
		for _, x := range n.Inputs {
			if !in[x] && !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	return out
}
