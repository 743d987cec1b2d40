package passes

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// bf16MinElements is the smallest value BF16Storage stores in bf16: below
// it (LayerNorm's row statistics, scalars) the bytes saved are not worth a
// conversion.
const bf16MinElements = 256

// bf16FarNodes is how far (in nodes of the schedule) a reader of a rounded
// backward value must be for BF16Storage to keep the value in bf16 until
// then.
const bf16FarNodes = 16

// bf16ShareNodes is how far (in nodes of the schedule) after the reader it
// was written for a widening of a stored value is shared with later
// readers. Far enough for LayerNorm's x̂, read by the Q/K/V weight
// gradients and, past the attention's backward pass, by γ's gradient; not
// so far that the f32 copies raise the memory plan's peak (mlc stats: the
// planned activation bytes are as with 16).
const bf16ShareNodes = 64

// bf16MaxRecompute bounds the elementwise chain BF16Storage computes again
// in the backward pass instead of storing its value.
const bf16MaxRecompute = 4

// cheapToRecompute are the elementwise ops a recomputed chain may hold:
// arithmetic that costs less than reading the value back, and GELU, whose
// float32 form codegen runs on a vector kernel (geluRow) even alone. Other
// transcendentals (exp, tanh, erf) are stored: computed again they would
// run as scalar loops.
var cheapToRecompute = map[graph.Op]bool{
	graph.OpAdd: true, graph.OpSub: true, graph.OpMul: true, graph.OpNeg: true,
	graph.OpReLU: true, graph.OpMaximum: true, graph.OpMinimum: true,
	graph.OpBroadcastTo: true, graph.OpRoundBF16: true, graph.OpGELU: true,
}

// BF16Storage stores the activations a bf16 mixed-precision training step
// saves for its backward pass in bf16 (docs/low-precision.md, "bf16
// storage"). Each f32 value the forward pass computes and the backward pass
// reads is either
//
//   - stored: written, rounded to bf16, into a buffer of half the bytes (a
//     Cast to bf16 after the value: right after an elementwise one, after
//     its last forward reader's kernel otherwise), and read by the backward
//     readers through widening Casts to f32, each written just before a
//     reader and shared by the readers up to bf16ShareNodes after it; or
//   - computed again, when a chain of at most bf16MaxRecompute cheap
//     elementwise ops (cheapToRecompute) computes it from parameters,
//     constants and stored values (LayerNorm's γ·x̂+β, GELU's output, a
//     rounded weight):
//     each backward reader gets its own copy of the chain, reading the
//     stored values.
//
// The forward readers keep the f32 value, which now dies with the forward
// pass instead of living through most of the backward pass, where the
// memory plan peaks. Values MixedPrecision already rounds convert exactly;
// the others (LayerNorm's input and x̂, softmax's output, GELU's input) are
// rounded for the backward pass only, as the "activations in bf16"
// asks, and both engines run the same Casts, so they round alike. A value
// and its rounding share one copy. A rounded backward value read more than
// bf16FarNodes nodes later is stored too (exactly); so that this applies to
// the tied embedding's dW, which the fusion pass would run at the end of
// the backward pass, such products are first moved next to their reader
// (deferProducts), and a product's twice-rounded operand is rounded once
// (shareRounding).
//
// It runs only on a graph with MixedPrecision's rounding points, before
// fusion. Not stored: parameters, state, inputs, constants, outputs and the
// loss, values under bf16MinElements, gradients flowing through the
// backward pass (except far-read rounded ones) and the parameters'
// gradients (f32, for the f32 update).
//
// Assumes: autodiff has run, nodes are in schedule order, the graph is f32.
// Guarantees: no backward node reads an f32 forward value of
// bf16MinElements or more other than a constant or an output; every bf16
// value is a Cast's, read only by Casts to f32; the graph validates.
func BF16Storage(g *graph.Graph, st *Stats) error {
	if len(g.NodesWithOp(graph.OpRoundBF16)) == 0 {
		return nil // not a mixed-precision graph
	}
	roots := map[*graph.Node]bool{}
	for _, r := range g.Roots() {
		roots[r] = true
	}
	st.Count("bf16storage/shared-rounding", shareRounding(g))
	st.Count("bf16storage/deferred", deferProducts(g, roots))
	readers := map[*graph.Node][]*graph.Node{}
	at := map[*graph.Node]int{}
	for i, n := range g.Nodes {
		at[n] = i
		for _, x := range n.Inputs {
			if r := readers[x]; len(r) == 0 || r[len(r)-1] != n {
				readers[x] = append(readers[x], n)
			}
		}
	}
	// The forward values the backward pass reads, with those readers.
	crossing := map[*graph.Node][]*graph.Node{}
	for _, n := range g.Nodes {
		if !savesBF16(n, roots) {
			continue
		}
		for _, u := range readers[n] {
			if u.Role == graph.RoleBackward {
				crossing[n] = append(crossing[n], u)
			}
		}
	}
	// A crossing value that a short elementwise chain computes from
	// parameters, constants and stored values is computed again where the
	// backward pass reads it (fused into the reader's loop where it is
	// elementwise) instead of being stored: LayerNorm's γ·n+β, GELU's
	// output, a rounded weight.
	cost := map[*graph.Node]int{} // nodes to compute again; 0: not recomputable
	var recomputeCost func(v *graph.Node) int
	recomputeCost = func(v *graph.Node) int {
		if c, ok := cost[v]; ok {
			return c
		}
		c := 0
		if v.Role == graph.RoleForward && v.Op.Info().Has(graph.Elementwise) && cheapToRecompute[v.Op] && !roots[v] {
			c = 1
			for _, x := range v.Inputs {
				switch {
				case x.Op == graph.OpParam || x.Op == graph.OpConst:
				case crossing[x] != nil && recomputeCost(x) == 0: // stored
				case crossing[x] == nil && recomputeCost(x) > 0:
					c += recomputeCost(x)
				default:
					c = 0
				}
				if c == 0 || c > bf16MaxRecompute {
					c = 0
					break
				}
			}
		}
		cost[v] = c
		return c
	}
	// via[x] are the readers of x that read its bf16 copy.
	via := map[*graph.Node]map[*graph.Node]bool{}
	recompute := map[*graph.Node]bool{}
	for _, n := range g.Nodes {
		if us := crossing[n]; us != nil {
			if recomputeCost(n) > 0 {
				recompute[n] = true
				continue
			}
			via[n] = map[*graph.Node]bool{}
			for _, u := range us {
				via[n][u] = true
			}
			continue
		}
		if n.Op == graph.OpRoundBF16 && n.Role == graph.RoleBackward && !roots[n] && n.Type.Shape.Size() >= bf16MinElements {
			// Already rounded: a bf16 copy is exact. Worth it for the
			// readers far away, past the value's neighbours.
			for _, u := range readers[n] {
				if at[u]-at[n] > bf16FarNodes {
					if via[n] == nil {
						via[n] = map[*graph.Node]bool{}
					}
					via[n][u] = true
				}
			}
		}
	}
	if len(via)+len(recompute) == 0 {
		return nil
	}
	// A rounded value and the value it rounds have the same bf16 copy
	// (Cast to bf16 rounds as RoundBF16 does): store it once.
	sameCopy := map[*graph.Node]*graph.Node{}
	for n, us := range via {
		if x := n.Inputs[0]; n.Op == graph.OpRoundBF16 && via[x] != nil && n.Role == x.Role {
			sameCopy[n] = x
			for u := range us {
				via[x][u] = true
			}
		}
	}
	for n := range sameCopy {
		delete(via, n)
	}
	cast := func(x *graph.Node, to graph.DType, like *graph.Node) (*graph.Node, error) {
		c, err := graph.NewNode(graph.OpCast, graph.Attrs{To: to}, x)
		if err != nil {
			return nil, fmt.Errorf("%s: bf16 storage of %s: %w", g.Name, x.Label(), err)
		}
		c.Role, c.Of, c.Pos = like.Role, like.Of, like.Pos
		return c, nil
	}
	// Where each copy is written: right after an elementwise value (the
	// fusion pass then writes it in the loop that computes the value), and
	// after the last forward reader of any other (a kernel's intermediate,
	// such as LayerNorm's x̂, is written only when the whole kernel runs).
	anchor := map[*graph.Node][]*graph.Node{}
	for _, n := range g.Nodes {
		if via[n] == nil {
			continue
		}
		after := n
		if !n.Op.Info().Has(graph.Elementwise) {
			// After its forward readers, and the elementwise chains they
			// start (LayerNorm's x̂ ⊙ γ + β is one kernel).
			for next := readers[n]; len(next) > 0; {
				var more []*graph.Node
				for _, u := range next {
					if u.Role != n.Role {
						continue
					}
					if at[u] > at[after] {
						after = u
					}
					if r := readers[u]; u.Op.Info().Has(graph.Elementwise) && len(r) == 1 {
						more = append(more, r[0])
					}
				}
				next = more
			}
		}
		anchor[after] = append(anchor[after], n)
	}
	old := g.Nodes
	g.Nodes = nil
	copies := map[*graph.Node]*graph.Node{} // stored value → its bf16 copy
	// The latest widening of each stored value, and the position (in old)
	// of the reader it was written for.
	type widening struct {
		w     *graph.Node
		first int
	}
	shared := map[*graph.Node]widening{}
	widened, recomputed := 0, 0
	for _, n := range old {
		// A reader of a stored value reads it through a widening Cast,
		// written just before it and shared with the readers up to
		// bf16ShareNodes nodes after it (GELU's input, read by GELU computed
		// again and by its gradient; softmax's output, by two products and
		// its gradient): widening is exact, so each reader reads the same
		// values as through its own Cast, and the f32 copy still dies
		// nearby. A recomputed value is read through the reader's own copy
		// of the chain, which reads the stored values so.
		mine := map[*graph.Node]*graph.Node{}
		var read func(x *graph.Node) (*graph.Node, error)
		read = func(x *graph.Node) (*graph.Node, error) {
			y := x
			if z := sameCopy[x]; z != nil {
				y = z
			}
			if w := mine[y]; w != nil {
				return w, nil
			}
			var w *graph.Node
			var err error
			switch {
			case copies[y] != nil:
				if s, ok := shared[y]; ok && at[n]-s.first <= bf16ShareNodes {
					mine[y] = s.w
					return s.w, nil
				}
				w, err = cast(copies[y], graph.F32, n)
				widened++
				shared[y] = widening{w, at[n]}
			case x.Op == graph.OpParam || x.Op == graph.OpConst:
				return x, nil
			default: // a node of a recomputed chain
				ins := make([]*graph.Node, len(x.Inputs))
				for i, v := range x.Inputs {
					if ins[i], err = read(v); err != nil {
						return nil, err
					}
				}
				if w, err = graph.NewNode(x.Op, x.Attrs, ins...); err == nil {
					w.Role, w.Of, w.Pos = n.Role, n.Of, n.Pos
					recomputed++
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s: bf16 storage of %s: %w", g.Name, x.Label(), err)
			}
			g.Append(w)
			mine[y] = w
			return w, nil
		}
		for i, x := range n.Inputs {
			y := x
			if z := sameCopy[x]; z != nil && via[z][n] {
				y = z
			}
			if !via[y][n] && !(recompute[x] && n.Role == graph.RoleBackward) {
				continue
			}
			w, err := read(x)
			if err != nil {
				g.Nodes = old
				return err
			}
			n.Inputs[i] = w
		}
		g.Append(n)
		for _, v := range anchor[n] {
			h, err := cast(v, graph.BF16, v)
			if err != nil {
				g.Nodes = old
				return err
			}
			g.Append(h)
			copies[v] = h
		}
	}
	// Rounding a widened bf16 value (through reshapes) changes nothing: the
	// products read the widened copy itself.
	same := map[*graph.Node]*graph.Node{}
	for _, n := range g.Nodes {
		if n.Op == graph.OpRoundBF16 && widenedBF16(n.Inputs[0]) {
			same[n] = n.Inputs[0]
		}
	}
	if len(same) > 0 {
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			if same[n] != nil {
				continue
			}
			for i, x := range n.Inputs {
				if y := same[x]; y != nil {
					n.Inputs[i] = y
				}
			}
			kept = append(kept, n)
		}
		g.Nodes = kept
	}
	g.Renumber()
	st.Count("bf16storage/recomputed", recomputed)
	st.Count("bf16storage/unrounded", len(same))
	st.Count("bf16storage/stored", len(copies))
	st.Count("bf16storage/widened", widened)
	return graph.Validate(g)
}

// shareRounding makes RoundBF16(Reshape(x)) read Reshape(RoundBF16(x)) when
// x is rounded already, earlier: the same values, stored once. (The matrix
// products of a backward pass read an output gradient as it is, for dx,
// and reshaped, for dW; MixedPrecision rounds each.)
func shareRounding(g *graph.Graph) int {
	rounded := map[*graph.Node]*graph.Node{}
	readers := map[*graph.Node]int{}
	at := map[*graph.Node]int{}
	for i, n := range g.Nodes {
		at[n] = i
		for _, x := range n.Inputs {
			readers[x]++
		}
	}
	same := map[*graph.Node]*graph.Node{}
	for _, n := range g.Nodes {
		for i, x := range n.Inputs {
			if y := same[x]; y != nil {
				n.Inputs[i] = y
			}
		}
		if n.Op != graph.OpRoundBF16 {
			continue
		}
		x := n.Inputs[0]
		if rounded[x] == nil {
			rounded[x] = n
		}
		// Only a reshape that this rounding alone reads, so it can read
		// the rounded value instead and take the rounding's place.
		if x.Op != graph.OpReshape || readers[x] != 1 {
			continue
		}
		if r := rounded[x.Inputs[0]]; r != nil && at[r] < at[x] {
			x.Inputs[0] = rounded[x.Inputs[0]]
			same[n] = x
		}
	}
	if len(same) == 0 {
		return 0
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if same[n] == nil {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	g.Renumber()
	return len(same)
}

// deferProducts moves each backward matrix product that one elementwise
// node of its type reads, later, to just before that reader: where the
// fusion pass will run it anyway, as the reader's epilogue producer (the
// tied embedding's gradient: the output projection's dW, added to the
// lookup's gradient at the end of the backward pass). Its operands then
// visibly live until there, and BF16Storage stores them in bf16.
func deferProducts(g *graph.Graph, roots map[*graph.Node]bool) int {
	readers := map[*graph.Node][]*graph.Node{}
	for _, n := range g.Nodes {
		for _, x := range n.Inputs {
			readers[x] = append(readers[x], n)
		}
	}
	before := map[*graph.Node]*graph.Node{} // reader → the product moved in front of it
	for _, n := range g.Nodes {
		r := readers[n]
		if n.Op != graph.OpMatMul || n.Role != graph.RoleBackward || roots[n] || len(r) != 1 {
			continue
		}
		if u := r[0]; u.Op.Info().Has(graph.Elementwise) && u.Role == n.Role && u.Type.Equal(n.Type) && before[u] == nil {
			before[u] = n
		}
	}
	if len(before) == 0 {
		return 0
	}
	// A product moves with the reshapes only it reads (its operands as the
	// product sees them).
	moved := map[*graph.Node]bool{}
	var along func(m *graph.Node) []*graph.Node
	along = func(m *graph.Node) []*graph.Node {
		moved[m] = true
		var list []*graph.Node
		for _, x := range m.Inputs {
			if x.Op == graph.OpReshape && len(readers[x]) == 1 && !roots[x] && !moved[x] {
				list = append(list, along(x)...)
			}
		}
		return append(list, m)
	}
	group := map[*graph.Node][]*graph.Node{}
	for u, m := range before {
		group[u] = along(m)
	}
	old := g.Nodes
	g.Nodes = make([]*graph.Node, 0, len(old))
	for _, n := range old {
		if moved[n] {
			continue
		}
		g.Nodes = append(g.Nodes, group[n]...)
		g.Nodes = append(g.Nodes, n)
	}
	g.Renumber()
	return len(before)
}

// savesBF16 reports whether n is a value BF16Storage may store in bf16, if
// the backward pass reads it.
func savesBF16(n *graph.Node, roots map[*graph.Node]bool) bool {
	if n.Role != graph.RoleForward || n.Type.DType != graph.F32 || roots[n] || n.Type.Shape.Size() < bf16MinElements {
		return false
	}
	switch n.Op {
	case graph.OpConst, graph.OpCausalMask, graph.OpInput, graph.OpParam, graph.OpState:
		return false
	}
	return true
}

// widenedBF16 reports whether x is a bf16 value widened to f32, or a reshape
// of one: a value that bf16 rounding leaves as it is.
func widenedBF16(x *graph.Node) bool {
	for x.Op == graph.OpReshape {
		x = x.Inputs[0]
	}
	return x.Op == graph.OpCast && x.Inputs[0].Type.DType == graph.BF16
}
