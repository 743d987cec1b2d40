package passes

import (
	"slices"

	"github.com/mlc-dev/mlc/graph"
)

// Fuse groups nodes into kernels that codegen emits as single loop nests, so
// intermediate values live in registers instead of memory:
//
//   - elementwise: a chain (a DAG) of elementwise ops over one shape whose
//     inner values are used only inside the chain, forward or backward
//     (e.g. dz1 = (z1 > 0) ? da1 : 0, or the scalar arithmetic of a gradient);
//   - epilogue: such a chain that starts from a matrix product used only by
//     it: the bias add and activation run right after the product, in one
//     kernel (and the result may overwrite the product's buffer);
//   - layernorm: LayerNorm followed by its affine scale and shift (x̂·γ + β),
//     one pass per row;
//   - layernorm-grad: LayerNormGrad of dy ⊙ γ, with the product formed on the
//     fly, one pass per row;
//   - rmsnorm: RMSNorm followed by its gain (x̂·g), one pass per row;
//   - rmsnorm-grad: RMSNormGrad of dy ⊙ g, the product formed on the fly;
//   - softmax-xent-grad: (softmax(z) − onehot(y)) · c, the cross-entropy
//     gradient, one pass per row without materialising the one-hot rows;
//   - attention: causal attention, MatMul(q, kᵀ) [⊙ c] → Where(causal mask,
//     ·, −inf) → Softmax → MatMul(·, v), with k and v shared by groups of
//     query heads or not, computed a tile of query rows at a
//     time: the scores of a tile, only up to its last visible key, then the
//     softmax and the weighted sum of v, without storing the score matrices
//     (the weights are stored only when backward or a tap reads them);
//     under bf16 mixed precision the weights' rounding point (RoundBF16)
//     before the second product is a member too.
//
// Assumes: g is valid and final (no rewrites follow). Guarantees: g.Fusion
// lists the groups; members of a group share the role of its last member;
// every value a group does not return is read only inside it; a group's
// results are roots (outputs, loss, gradients) or are read after its last
// member, where codegen emits it.
func Fuse(g *graph.Graph, st *Stats) error {
	uses := g.Uses()
	roots := map[*graph.Node]bool{}
	for _, r := range g.Roots() {
		roots[r] = true
	}
	f := &fuser{g: g, uses: uses, roots: roots, groupOf: map[*graph.Node]*graph.FusionGroup{}}
	f.positions()
	f.rowKernels(st)
	f.elementwise(st)
	slices.SortFunc(f.groups, func(a, b *graph.FusionGroup) int { return a.Last().ID - b.Last().ID })
	g.Fusion = &graph.FusionPlan{Groups: f.groups}
	return nil
}

type fuser struct {
	g       *graph.Graph
	uses    map[*graph.Node][]*graph.Node
	roots   map[*graph.Node]bool
	groupOf map[*graph.Node]*graph.FusionGroup
	groups  []*graph.FusionGroup
	// pos is each node's place in the schedule (g.Nodes). IDs are not:
	// a pass that inserts nodes (bf16 storage's casts) gives them new,
	// larger IDs wherever it schedules them.
	pos map[*graph.Node]int
}

// positions records every node's place in the schedule.
func (f *fuser) positions() {
	f.pos = make(map[*graph.Node]int, len(f.g.Nodes))
	for i, n := range f.g.Nodes {
		f.pos[n] = i
	}
}

// readLater moves the readers of x outside members that the schedule runs
// before last to just after last, where the group that computes x runs,
// and reports whether it could: a reader can move when none of its own
// readers runs before last. Such readers are bf16 storage's casts, which it
// schedules right after the value they store.
func (f *fuser) readLater(x *graph.Node, members map[*graph.Node]bool, last *graph.Node) bool {
	var early []*graph.Node
	for _, u := range f.uses[x] {
		if !members[u] && f.pos[u] < f.pos[last] {
			for _, v := range f.uses[u] {
				if f.pos[v] <= f.pos[last] {
					return false
				}
			}
			early = append(early, u)
		}
	}
	if len(early) == 0 {
		return true
	}
	slices.SortFunc(early, func(a, b *graph.Node) int { return f.pos[a] - f.pos[b] })
	nodes := make([]*graph.Node, 0, len(f.g.Nodes))
	for _, n := range f.g.Nodes {
		if !slices.Contains(early, n) {
			nodes = append(nodes, n)
		}
		if n == last {
			nodes = append(nodes, early...)
		}
	}
	f.g.Nodes = nodes
	f.g.Renumber()
	f.positions()
	return true
}

// fusible are the ops an elementwise kernel can compute per element. The
// casts of bf16 storage are not: they run as slice conversions (SIMD), so
// that the loops around them keep only float operands, which the parallel
// kernels need. Nor is a bf16 rounding point (RoundBF16): only matrix
// products read it, and codegen's bf16 products round their operands while
// packing, so it usually needs no loop at all (codegen/bf16.go).
func fusible(n *graph.Node) bool {
	if n.Op == graph.OpCast && (n.Type.DType == graph.BF16 || n.Inputs[0].Type.DType == graph.BF16) {
		return false
	}
	return (n.Op.Info().Has(graph.Elementwise) || n.Op == graph.OpBroadcastTo) && n.Type.DType != graph.Void && n.Op != graph.OpRoundBF16
}

// onlyUsedBy reports whether every use of x is by a node in set.
func (f *fuser) onlyUsedBy(x *graph.Node, set map[*graph.Node]bool) bool {
	if f.roots[x] {
		return false
	}
	for _, u := range f.uses[x] {
		if !set[u] {
			return false
		}
	}
	return len(f.uses[x]) > 0
}

// readAfter reports whether every reader of x outside the group comes after
// its sink, where the group runs: x can then be computed in the group and
// stored for them (a result) or, with no such readers, kept in a register.
func (f *fuser) readAfter(x *graph.Node, members map[*graph.Node]bool, sink *graph.Node) bool {
	for _, u := range f.uses[x] {
		if !members[u] && f.pos[u] <= f.pos[sink] {
			return false
		}
	}
	return len(f.uses[x]) > 0
}

// add records a group: members in graph order, results computed.
func (f *fuser) add(kind string, members map[*graph.Node]bool, producer *graph.Node) *graph.FusionGroup {
	grp := &graph.FusionGroup{Kind: kind, Producer: producer}
	for _, n := range f.g.Nodes {
		if members[n] {
			grp.Nodes = append(grp.Nodes, n)
			f.groupOf[n] = grp
		}
	}
	for _, n := range grp.Nodes {
		if f.roots[n] || !f.onlyUsedBy(n, members) {
			grp.Results = append(grp.Results, n)
		}
	}
	if producer != nil {
		f.groupOf[producer] = grp
	}
	f.groups = append(f.groups, grp)
	return grp
}

// elementwise grows groups backwards from each sink over operands of the
// same shape and role that nothing outside the group reads.
func (f *fuser) elementwise(st *Stats) {
	nodes := f.g.Nodes
	for i := len(nodes) - 1; i >= 0; i-- {
		sink := nodes[i]
		if !fusible(sink) || f.groupOf[sink] != nil {
			continue
		}
		members := map[*graph.Node]bool{sink: true}
		for grew := true; grew; {
			grew = false
			for m := range members {
				for _, x := range m.Inputs {
					// A bf16 value is storage (passes.BF16Storage): its
					// readers read the stored copy, never recompute it.
					if members[x] || f.groupOf[x] != nil || !fusible(x) || x.Role != sink.Role || x.Type.DType == graph.BF16 ||
						!x.Type.Shape.Equal(sink.Type.Shape) || !f.readAfter(x, members, sink) {
						continue
					}
					members[x] = true
					grew = true
				}
			}
		}
		// An epilogue: a matrix product of the group's shape read only here.
		var producer *graph.Node
		for m := range members {
			for _, x := range m.Inputs {
				if x.Op == graph.OpMatMul && x.Role == sink.Role && f.groupOf[x] == nil && x.Type.Equal(m.Type) &&
					len(f.uses[x]) == 1 && !f.roots[x] && (producer == nil || x.ID > producer.ID) {
					producer = x
				}
			}
		}
		if len(members) < 2 && producer == nil {
			continue
		}
		kind := "elementwise"
		if producer != nil {
			kind = "epilogue"
		}
		f.add(kind, members, producer)
		st.Count("fuse/"+kind, 1)
	}
}

// rowVector reports whether v broadcasts along the last axis of x only:
// shape [d] or [1, …, 1, d] (not a scalar: the row kernels take γ and β as
// slices of d elements).
func rowVector(v, x *graph.Node) bool {
	vr, xr := v.Type.Shape.Rank(), x.Type.Shape.Rank()
	if vr == 0 || xr == 0 {
		return false
	}
	d := x.Type.Shape[xr-1]
	return v.Type.Shape.Size() == d && v.Type.Shape[vr-1] == d && vr <= xr
}

// rowKernels finds the layernorm and softmax cross-entropy patterns.
func (f *fuser) rowKernels(st *Stats) {
	single := func(x *graph.Node) *graph.Node {
		if len(f.uses[x]) == 1 && !f.roots[x] {
			return f.uses[x][0]
		}
		return nil
	}
	for _, n := range f.g.Nodes {
		if f.groupOf[n] != nil {
			continue
		}
		switch n.Op {
		case graph.OpSoftmax:
			if members := f.attention(n); members != nil {
				f.add("attention", members, nil)
				st.Count("fuse/attention", 1)
			}
		case graph.OpLayerNorm, graph.OpRMSNorm:
			// y = LayerNorm(x) ⊙ γ + β, or y = RMSNorm(x) ⊙ g
			mul := single(n)
			if mul == nil {
				// x̂ is also read elsewhere (backward needs it): keep it as a result.
				for _, u := range f.uses[n] {
					if u.Op == graph.OpMul && u.Role == n.Role && (mul == nil || u.ID < mul.ID) {
						mul = u
					}
				}
			}
			if mul == nil || mul.Op != graph.OpMul || mul.Role != n.Role || f.groupOf[mul] != nil {
				continue
			}
			gamma := mul.Inputs[1]
			if mul.Inputs[1] == n {
				gamma = mul.Inputs[0]
			}
			if n.Op == graph.OpRMSNorm {
				// g is read as a stored row: it may not be x̂ itself.
				if !mul.Type.Equal(n.Type) || !rowVector(gamma, n) || gamma == n {
					continue
				}
				f.add("rmsnorm", map[*graph.Node]bool{n: true, mul: true}, nil)
				st.Count("fuse/rmsnorm", 1)
				continue
			}
			add := single(mul)
			if add == nil || add.Op != graph.OpAdd || add.Role != n.Role || !mul.Type.Equal(n.Type) || !add.Type.Equal(n.Type) || !rowVector(gamma, n) {
				continue
			}
			beta := add.Inputs[1]
			if add.Inputs[1] == mul {
				beta = add.Inputs[0]
			}
			// γ and β are read as stored rows: neither may be a member (x̂ ⊙ x̂, y + y).
			if !rowVector(beta, n) || gamma == n || beta == mul || beta == n {
				continue
			}
			// The kernel writes x̂ when it runs, at add: its other readers
			// must come after.
			if !f.readAfter(n, map[*graph.Node]bool{mul: true}, add) {
				continue
			}
			f.add("layernorm", map[*graph.Node]bool{n: true, mul: true, add: true}, nil)
			st.Count("fuse/layernorm", 1)
		case graph.OpLayerNormGrad, graph.OpRMSNormGrad:
			// dx = LayerNormGrad(x, dy ⊙ γ), or RMSNormGrad(x, dy ⊙ g)
			// The product is formed on the fly, so it must not also be x
			// (LayerNormGrad(v, v)): x is read as a stored slice.
			mul := n.Inputs[1]
			if mul.Op != graph.OpMul || single(mul) != n || mul.Role != n.Role || f.groupOf[mul] != nil || n.Inputs[0] == mul {
				continue
			}
			if !(rowVector(mul.Inputs[1], n) && mul.Inputs[0].Type.Equal(n.Type)) && !(rowVector(mul.Inputs[0], n) && mul.Inputs[1].Type.Equal(n.Type)) {
				continue
			}
			kind := "layernorm-grad"
			if n.Op == graph.OpRMSNormGrad {
				kind = "rmsnorm-grad"
			}
			f.add(kind, map[*graph.Node]bool{mul: true, n: true}, nil)
			st.Count("fuse/"+kind, 1)
		case graph.OpOneHot:
			// (softmax(z) − onehot(y)) · c₁ · c₂ …
			sub := single(n)
			if sub == nil || sub.Op != graph.OpSub || sub.Inputs[1] != n || sub.Role != n.Role || f.groupOf[sub] != nil {
				continue
			}
			p := sub.Inputs[0]
			last := p.Type.Shape.Rank() - 1
			if p.Op != graph.OpSoftmax || p.Attrs.Axis != last || !p.Type.Equal(sub.Type) {
				continue
			}
			members := map[*graph.Node]bool{n: true, sub: true}
			if single(p) == sub && p.Role == n.Role && f.groupOf[p] == nil {
				members[p] = true
			}
			tail := sub
			for {
				u := single(tail)
				if u == nil || u.Op != graph.OpMul || u.Role != n.Role || !u.Type.Equal(tail.Type) {
					break
				}
				c := u.Inputs[1]
				if c == tail {
					c = u.Inputs[0]
				}
				if _, ok := c.Uniform(); !ok || c.Type.Shape.Rank() != 0 {
					break
				}
				members[u] = true
				tail = u
			}
			f.add("softmax-xent-grad", members, nil)
			st.Count("fuse/softmax-xent-grad", 1)
		}
	}
}

// attention matches causal attention around the softmax w and returns its
// members: the scores product, the scale, the mask fill, w and the product
// with v. Every inner value must be read only by the next member; w may be
// read elsewhere too (backward, a tap), later, so it is then stored.
func (f *fuser) attention(w *graph.Node) map[*graph.Node]bool {
	single := func(x *graph.Node) bool {
		return len(f.uses[x]) == 1 && !f.roots[x] && f.groupOf[x] == nil && x.Role == w.Role
	}
	last := w.Type.Shape.Rank() - 1
	if w.Attrs.Axis != last || last < 1 || f.groupOf[w] != nil {
		return nil
	}
	var out, round *graph.Node
	for _, u := range f.uses[w] {
		if u.Op == graph.OpMatMul && u.Inputs[0] == w && !u.Attrs.TransA && !u.Attrs.TransB && u.Role == w.Role && f.groupOf[u] == nil {
			out = u
		}
	}
	// Under bf16 mixed precision the weights reach the product rounded:
	// the rounding point joins the group (codegen rounds while packing).
	for _, r := range f.uses[w] {
		if out != nil || r.Op != graph.OpRoundBF16 || r.Role != w.Role || f.groupOf[r] != nil {
			continue
		}
		for _, u := range f.uses[r] {
			if u.Op == graph.OpMatMul && u.Inputs[0] == r && !u.Attrs.TransA && !u.Attrs.TransB && u.Role == w.Role && f.groupOf[u] == nil {
				out, round = u, r
			}
		}
	}
	masked := w.Inputs[0]
	if out == nil || masked.Op != graph.OpWhere || !single(masked) {
		return nil
	}
	mask, scores, fill := masked.Inputs[0], masked.Inputs[1], masked.Inputs[2]
	for mask.Op == graph.OpBroadcastTo || mask.Op == graph.OpReshape {
		mask = mask.Inputs[0]
	}
	if fv, ok := fill.Uniform(); mask.Op != graph.OpCausalMask || !ok || fv > -1e300 || !single(scores) {
		return nil
	}
	members := map[*graph.Node]bool{masked: true, w: true, out: true}
	if round != nil {
		members[round] = true
	}
	if scores.Op == graph.OpMul {
		if c, ok := scores.Inputs[1].Uniform(); !ok || scores.Inputs[1].Type.Shape.Rank() != 0 || c != c {
			return nil
		}
		members[scores] = true
		scores = scores.Inputs[0]
		if !single(scores) {
			return nil
		}
	}
	if scores.Op != graph.OpMatMul || scores.Attrs.TransA || !scores.Attrs.TransB {
		return nil
	}
	q, k, v := scores.Inputs[0], scores.Inputs[1], out.Inputs[1]
	// One batch of matrices for q, the weights and the result, and the
	// mask's [T, S] at the end of the scores' shape. k and v have the same
	// batch or, under grouped-query attention, one whose trailing axes are 1:
	// each of their matrices serves a run of consecutive query matrices.
	batch := w.Type.Shape[:last-1]
	for _, x := range []*graph.Node{q, out} {
		if !graph.Shape(x.Type.Shape[:x.Type.Shape.Rank()-2]).Equal(batch) {
			return nil
		}
	}
	kb := graph.Shape(k.Type.Shape[:k.Type.Shape.Rank()-2])
	if _, ok := graph.KVGroup(batch, kb); !ok || !graph.Shape(v.Type.Shape[:v.Type.Shape.Rank()-2]).Equal(kb) {
		return nil
	}
	ms := mask.Type.Shape // [T, S]: every query sees at least key 0 when S ≥ T
	if ms[0] != w.Type.Shape[last-1] || ms[1] != w.Type.Shape[last] || ms[1] < ms[0] {
		return nil
	}
	members[scores] = true
	// The weights (and their rounding) may be read outside the group, by
	// backward or a tap, which must run after the group: bf16 storage
	// schedules its casts right after the value they store, inside the
	// span the group replaces, so they move after it.
	for _, x := range []*graph.Node{w, round} {
		if x != nil && !f.readLater(x, members, out) {
			return nil
		}
	}
	return members
}
