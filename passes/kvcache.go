package passes

import (
	"fmt"
	"slices"

	"github.com/mlc-dev/mlc/graph"
)

// KVCache derives the two decoding entry points of a causal decoder from its
// full-sequence forward graph (the Predict graph, eval mode):
//
//   - Prefill runs the forward graph on a (padded) prompt and stores every
//     attention's keys and values in cache variables, and the prompt's
//     length in the position counter "pos";
//   - Decode runs one new position t = pos: it computes q, k and v of the new
//     token only, attends over the cached positions 0..t−1 and itself
//     (AttendCache), appends k and v to the caches and advances pos.
//
// It works on any graph built from the DSL's attention: it finds each
// causal attention by its pattern — MatMul(q, k, transB) [⊙ scale] →
// Where(CausalMask, ·, −inf) → Softmax(last axis) → MatMul(·, v) — and on
// attention the way PyTorch exports it and the ONNX importer lowers it:
// the scores MatMul(q, Transpose(k)) (a transpose that swaps the key's last
// two axes, possibly with a head split folded into its permutation),
// scaled by constants (Mul or Div, any number, on the scores), and masked
// by a constant causal mask, either added (Add of 0 on and below the
// diagonal and −inf, or at most −1e9, above) or selected (Where with a
// constant bool lower- or strictly-upper-triangular condition and a fill of
// at most −1e9). It
// follows the sequence axis from the token ids through every other op,
// which must treat positions independently (projections, elementwise ops,
// layer and RMS norms, head splits). Position-indexed parameters (learned
// positional embeddings) are read at row pos; rotary embeddings (RoPE)
// rotate the new row at position pos; a positional table looked up at
// 0..T−1 (Gather with constant ids, as exported) counts as the table. Under
// grouped-query attention (k and
// v [..., KVH, 1, T, d] shared by the query heads of q [..., KVH, G, T, d])
// the caches hold the KVH key heads only and AttendCache takes each key
// head's G queries as rows. Anything that mixes
// positions otherwise, or an attention whose mask is not causal, stops the
// rewrite with an error naming the node.
//
// An encoder-decoder has more token inputs: the decoder's ids are the one
// whose attentions are all causal, and the others (the source) are context
// that Prefill reads whole. Attentions that do not depend on the decoder's
// ids (the encoder's, cross-attention's scores against the encoder) are
// followed as ordinary ops, and the values computed from the context that
// the decoder reads per position (cross-attention's keys and values) are
// kept by Prefill in State variables "<node>.memo" that Decode reads, so
// DecodeStep never runs the encoder. A memo that is not a float (the
// source's key padding mask, bool) is kept as 0/1 in the model's float type
// and cast back by Decode.
//
// Assumes: g is valid, without gradients or updates, with i32 inputs only:
// token ids whose last axis is the sequence. Guarantees: both graphs are
// valid; the caches are State nodes named "<k or v node>.cache" shaped like
// the full-sequence keys and values [..., T, d]; Decode's only input is the
// decoder's token ids with the sequence axis 1; Prefill's inputs are
// Predict's plus the prompt length.
func KVCache(g *graph.Graph) (prefill, decode *graph.Graph, err error) {
	g = g.Clone() // keysOfTransposes may add nodes
	k := &kvRewrite{g: g, seq: map[*graph.Node]int{}}
	k.keysOfTransposes()
	if err := k.analyse(); err != nil {
		return nil, nil, fmt.Errorf("%s: cannot derive KV-cache decoding: %w", g.Name, err)
	}
	// A batch of sequences gets one position per sequence where the
	// graph allows it (see perRow); otherwise, or when that fails, the
	// sequences share one position.
	for _, rows := range slices.Compact([]int{k.perRow(), 1}) {
		k.B = rows
		if prefill, err = k.prefill(); err != nil {
			continue
		}
		if decode, err = k.decode(); err == nil {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return prefill, decode, nil
}

// perRow is the number of sequences with a position each: B when the ids
// are [B, T] and every cache is [B, ...] (the batch first), 1 otherwise.
// Each sequence then decodes at its own position (continuous batching);
// DecodeStep still advances them all.
func (k *kvRewrite) perRow() int {
	ids := k.ids.Type.Shape
	if ids.Rank() != 2 || ids[0] < 2 {
		return 1
	}
	for _, a := range k.attns {
		for _, x := range []*graph.Node{a.q, a.k, a.v} {
			if s := x.Type.Shape; s.Rank() < 3 || s[0] != ids[0] {
				return 1
			}
		}
	}
	return ids[0]
}

// posType is the type of the position counter: a scalar, or [B] with a
// position per sequence.
func (k *kvRewrite) posType(dt graph.DType) graph.Type {
	if k.B > 1 {
		return graph.T(dt, k.B)
	}
	return graph.T(dt)
}

// attention is one causal attention block found in the graph.
type attention struct {
	q, k, v *graph.Node
	scale   float64
	out     *graph.Node          // MatMul(weights, v)
	inner   map[*graph.Node]bool // scores, scale, mask, Where, Softmax: replaced in Decode
}

type kvRewrite struct {
	g       *graph.Graph
	ids     *graph.Node
	context []*graph.Node // other token inputs (an encoder's source), read whole by Prefill
	// fromContext: values without a sequence axis computed from a context
	// input; memo: those of them Decode reads, kept by Prefill.
	fromContext, memo map[*graph.Node]bool
	// live: what the outputs need (a value only a tap reads, such as
	// attention weights reshaped for the tap, has no place in Decode).
	live  map[*graph.Node]bool
	T     int
	seq   map[*graph.Node]int // the sequence (query) axis of each value, −1 for none
	attns []*attention
	attOf map[*graph.Node]*attention
	B     int // sequences with a position each (perRow)
}

func where(n *graph.Node) string {
	s := n.Ref() + " (" + n.Op.String()
	if n.Name != "" {
		s += " " + n.Name
	}
	if n.Pos.IsValid() {
		s += " at " + n.Pos.String()
	}
	return s + ")"
}

// findAttention recognises the causal pattern ending in out = MatMul(w, v).
func (k *kvRewrite) findAttention(out *graph.Node) (*attention, error) {
	w, v := out.Inputs[0], out.Inputs[1]
	if w.Op != graph.OpSoftmax || out.Attrs.TransA || out.Attrs.TransB {
		return nil, nil
	}
	a := &attention{out: out, v: v, inner: map[*graph.Node]bool{w: true}}
	last := w.Type.Shape.Rank() - 1
	if w.Attrs.Axis != last {
		return nil, nil
	}
	masked := w.Inputs[0]
	scores, err := k.causalMask(a, masked, out)
	if err != nil {
		return nil, err
	}
	a.scale = 1
	for {
		c, x, div := scaledBy(scores)
		if c == nil {
			break
		}
		v, _ := c.Uniform()
		if div {
			v = 1 / v
		}
		a.scale *= v
		a.inner[scores], a.inner[c] = true, true
		scores = x
	}
	if scores.Op != graph.OpMatMul || scores.Attrs.TransA || !scores.Attrs.TransB {
		return nil, fmt.Errorf("the attention scores %s are not q·kᵀ", where(scores))
	}
	a.inner[scores] = true
	a.q, a.k = scores.Inputs[0], scores.Inputs[1]
	return a, nil
}

// causalMask checks the mask of an attention's scores, masked = the
// Softmax's operand, and returns the scores it masks. The DSL's mask is
// Where(CausalMask, scores, −inf); an exported one is a constant: added
// (Add(scores, M) with M 0 on and below the diagonal and at most −1e9
// above) or selected (Where(C, scores, fill) with C true on and below the
// diagonal, or Where(C, fill, scores) with C true above it, fill at most
// −1e9). Broadcasts and reshapes of the mask are looked through.
func (k *kvRewrite) causalMask(a *attention, masked, out *graph.Node) (*graph.Node, error) {
	unwrap := func(m *graph.Node) *graph.Node {
		for m.Op == graph.OpBroadcastTo || m.Op == graph.OpReshape {
			a.inner[m] = true
			m = m.Inputs[0]
		}
		return m
	}
	switch masked.Op {
	case graph.OpWhere:
		a.inner[masked] = true
		cond, x, y := masked.Inputs[0], masked.Inputs[1], masked.Inputs[2]
		mask := unwrap(cond)
		if mask.Op == graph.OpCausalMask {
			if mask.Type.Shape[0] != mask.Type.Shape[1] {
				return nil, fmt.Errorf("the causal mask %s is not square", where(mask))
			}
			if fv, ok := y.Uniform(); !ok || fv > -1e300 {
				return nil, fmt.Errorf("the attention at %s fills masked scores with %s, not −inf", where(out), where(y))
			}
			a.inner[mask], a.inner[y] = true, true
			return x, nil
		}
		if mask.Op != graph.OpConst {
			return nil, fmt.Errorf("the attention at %s is not causal (its mask %s is neither a CausalMask nor a constant): KV-cache decoding needs a decoder", where(out), where(mask))
		}
		scores, fill, keep := x, y, "on and below"
		if lowerTriangular(mask, func(v float64, keep bool) bool { return (v != 0) == keep }) {
		} else if lowerTriangular(mask, func(v float64, keep bool) bool { return (v != 0) != keep }) {
			scores, fill, keep = y, x, "above"
		} else {
			return nil, fmt.Errorf("the attention at %s is not causal: its mask %s is not true exactly on and below the diagonal (or exactly above it)", where(out), where(mask))
		}
		if fv, ok := fill.Uniform(); !ok || fv > -1e9 {
			return nil, fmt.Errorf("the attention at %s keeps scores %s the diagonal but fills the others with %s, not a constant of at most −1e9", where(out), keep, where(fill))
		}
		a.inner[mask], a.inner[fill] = true, true
		return scores, nil
	case graph.OpAdd:
		a.inner[masked] = true
		for i, m := range masked.Inputs {
			c := unwrap(m)
			if c.Op != graph.OpConst {
				continue
			}
			if !lowerTriangular(c, func(v float64, keep bool) bool { return keep && v == 0 || !keep && v <= -1e9 }) {
				return nil, fmt.Errorf("the attention at %s adds %s to its scores, which is not a causal mask (0 on and below the diagonal, −inf or at most −1e9 above)", where(out), where(c))
			}
			a.inner[c] = true
			return masked.Inputs[1-i], nil
		}
		return nil, fmt.Errorf("the attention at %s adds %s to its scores, not a constant causal mask", where(out), where(masked))
	}
	return nil, fmt.Errorf("the attention at %s has no mask (its softmax reads %s): KV-cache decoding needs a causal decoder", where(out), where(masked))
}

// lowerTriangular reports whether every [T, T] slice of the constant c (in
// its last two axes) has ok(v, true) for the values v on and below the
// diagonal and ok(v, false) above it.
func lowerTriangular(c *graph.Node, ok func(v float64, keep bool) bool) bool {
	s := c.Type.Shape
	r := s.Rank()
	if r < 2 || s[r-1] != s[r-2] || s[r-1] < 2 {
		return false
	}
	T := s[r-1]
	for idx := range s.Size() {
		v := c.Attrs.Value
		if c.Attrs.Data != nil {
			v = c.Attrs.Data[idx]
		}
		i, j := idx/T%T, idx%T
		if !ok(v, j <= i) {
			return false
		}
	}
	return true
}

// scaledBy matches x ⊙ c, c ⊙ x or x ÷ c for a constant c of one value
// (any shape of one element), returning c, x and whether it divides.
func scaledBy(n *graph.Node) (c, x *graph.Node, div bool) {
	one := func(m *graph.Node) bool {
		_, ok := m.Uniform()
		return ok && m.Type.Shape.Size() == 1
	}
	switch n.Op {
	case graph.OpMul:
		if one(n.Inputs[1]) {
			return n.Inputs[1], n.Inputs[0], false
		}
		if one(n.Inputs[0]) {
			return n.Inputs[0], n.Inputs[1], false
		}
	case graph.OpDiv:
		if v, _ := n.Inputs[1].Uniform(); one(n.Inputs[1]) && v != 0 {
			return n.Inputs[1], n.Inputs[0], true
		}
	}
	return nil, nil, false
}

// keysOfTransposes rewrites attention scores MatMul(q, Transpose(x, perm))
// whose transpose puts the key's sequence last — how exported attention
// multiplies by kᵀ — into MatMul(q, k, transB) with k = Transpose(x, perm')
// (perm with its last two entries swapped; x itself when that is the
// identity), so that the keys exist as a value [..., T, d] the cache can
// hold. Only products that a last-axis Softmax reads (after a mask and
// scales) and whose result feeds MatMul(·, v) are touched. The old
// transpose stays for any other reader.
func (k *kvRewrite) keysOfTransposes() {
	g := k.g
	var rewrites []*graph.Node // score products to rewrite
	for _, out := range g.Nodes {
		if out.Op != graph.OpMatMul || out.Attrs.TransA || out.Attrs.TransB {
			continue
		}
		w := out.Inputs[0]
		if w.Op != graph.OpSoftmax || w.Attrs.Axis != w.Type.Shape.Rank()-1 {
			continue
		}
		// Walk back through the mask and the scales to the product.
		n := w.Inputs[0]
		for range 8 {
			switch {
			case n.Op == graph.OpAdd || n.Op == graph.OpWhere:
				next := (*graph.Node)(nil)
				for _, x := range n.Inputs {
					if x.Op != graph.OpConst && x.Op != graph.OpCausalMask && x.Op != graph.OpBroadcastTo && x.Op != graph.OpReshape && x.Type.DType.IsFloat() {
						next = x
					}
				}
				if next == nil {
					n = nil
				} else {
					n = next
				}
			default:
				if c, x, _ := scaledBy(n); c != nil {
					n = x
				}
			}
			if n == nil || n.Op == graph.OpMatMul {
				break
			}
		}
		if n == nil || n.Op != graph.OpMatMul || n.Attrs.TransA || n.Attrs.TransB {
			continue
		}
		kt := n.Inputs[1]
		r := kt.Type.Shape.Rank()
		if kt.Op != graph.OpTranspose || r < 2 {
			continue
		}
		rewrites = append(rewrites, n)
	}
	if len(rewrites) == 0 {
		return
	}
	after := map[*graph.Node][]*graph.Node{} // new nodes to place after a node
	for _, sc := range rewrites {
		kt := sc.Inputs[1]
		x := kt.Inputs[0]
		perm := slices.Clone(kt.Attrs.Perm)
		r := len(perm)
		perm[r-2], perm[r-1] = perm[r-1], perm[r-2]
		key := x
		identity := true
		for i, p := range perm {
			identity = identity && p == i
		}
		if !identity {
			t, err := graph.NewNode(graph.OpTranspose, graph.Attrs{Perm: perm}, x)
			if err != nil {
				continue
			}
			t.Name, t.Pos, t.Role = suffixed(kt.Name, "_keys"), kt.Pos, kt.Role
			key = t
			after[kt] = append(after[kt], t)
		}
		attrs := sc.Attrs.Clone()
		attrs.TransB = true
		m, err := graph.NewNode(graph.OpMatMul, attrs, sc.Inputs[0], key)
		if err != nil || !m.Type.Equal(sc.Type) {
			continue
		}
		m.Name, m.Pos, m.Role = sc.Name, sc.Pos, sc.Role
		after[sc] = append(after[sc], m)
		g.Replace(sc, m)
	}
	var nodes []*graph.Node
	for _, n := range g.Nodes {
		nodes = append(nodes, n)
		nodes = append(nodes, after[n]...)
	}
	g.Nodes = nodes
	DCE(g) // the replaced products, and transposes only they read
	g.Renumber()
}

// attentionsFrom finds the causal attentions over the sequence of the token
// input ids: those whose values depend on it. An attention that does not
// (an encoder's, or a cross-attention's, whose keys and values come from
// another input) is not one; the ops it is built from are then followed
// like any others.
func (k *kvRewrite) attentionsFrom(ids *graph.Node) ([]*attention, error) {
	reach := map[*graph.Node]bool{ids: true}
	for _, n := range k.g.Nodes {
		for _, x := range n.Inputs {
			if reach[x] {
				reach[n] = true
			}
		}
	}
	var attns []*attention
	for _, n := range k.g.Nodes {
		if n.Op != graph.OpMatMul || !reach[n.Inputs[1]] {
			continue
		}
		a, err := k.findAttention(n)
		if err != nil {
			return nil, err
		}
		if a != nil {
			attns = append(attns, a)
		}
	}
	return attns, nil
}

// analyse finds the ids, the attentions and every value's sequence axis.
func (k *kvRewrite) analyse() error {
	g := k.g
	if g.Loss != nil || len(g.Grads) > 0 {
		return fmt.Errorf("want the forward (Predict) graph, without loss or gradients")
	}
	for _, name := range []string{graph.KVPosName, graph.KVLengthName} {
		if n := g.Find(name); n != nil {
			return fmt.Errorf("%s uses the name %q, which the rewrite needs", where(n), name)
		}
	}
	var inputs []*graph.Node
	for _, n := range g.Inputs() {
		if n.Type.DType != graph.I32 {
			return fmt.Errorf("input %s: a decoder takes token ids only", where(n))
		}
		if n.Type.Shape.Rank() == 0 {
			return fmt.Errorf("input %s: token ids need a sequence axis", where(n))
		}
		inputs = append(inputs, n)
	}
	switch len(inputs) {
	case 0:
		return fmt.Errorf("no sequence of token ids among the inputs")
	case 1:
		k.ids = inputs[0]
		attns, err := k.attentionsFrom(k.ids)
		if err != nil {
			return err
		}
		k.attns = attns
	default:
		// An encoder-decoder: the decoder's ids are the one input whose
		// attentions are all causal; the others (the source) are context,
		// read whole by Prefill.
		var bad error
		for _, in := range inputs {
			attns, err := k.attentionsFrom(in)
			switch {
			case err != nil:
				bad = err
			case len(attns) == 0:
			case k.ids != nil:
				return fmt.Errorf("two token inputs, %s and %s, both feed causal attentions", where(k.ids), where(in))
			default:
				k.ids, k.attns = in, attns
			}
		}
		if k.ids == nil {
			if bad != nil {
				return bad
			}
			return fmt.Errorf("no causal attention found: KV-cache decoding needs a decoder built with the DSL's attention")
		}
		for _, in := range inputs {
			if in != k.ids {
				k.context = append(k.context, in)
			}
		}
	}
	r := k.ids.Type.Shape.Rank()
	k.T = k.ids.Type.Shape[r-1]
	k.seq[k.ids] = r - 1
	k.attOf = map[*graph.Node]*attention{}
	for _, a := range k.attns {
		for x := range a.inner {
			k.attOf[x] = a
		}
		k.attOf[a.out] = a
	}
	if len(k.attns) == 0 {
		return fmt.Errorf("no causal attention found: KV-cache decoding needs a decoder built with the DSL's attention")
	}
	for _, n := range g.Nodes {
		if n == k.ids {
			continue
		}
		if a := k.attOf[n]; a != nil {
			if n != a.out {
				continue // the attention core: its values live in Decode only as AttendCache
			}
			qa, ka, va := k.axis(a.q), k.axis(a.k), k.axis(a.v)
			rq := a.q.Type.Shape.Rank()
			if qa != rq-2 || ka != rq-2 || va != rq-2 {
				return fmt.Errorf("the attention at %s: q, k and v must carry the sequence in their second-last axis", where(n))
			}
			if _, ok := queryRows(a.q.Type.Shape, a.k.Type.Shape); !ok || !lead(a.k.Type.Shape).Equal(lead(a.v.Type.Shape)) {
				return fmt.Errorf("the attention at %s: k %s and v %s must have q's %s leading axes, or share each key head among the query heads of the last ones (grouped-query attention)", where(n), a.k.Type, a.v.Type, a.q.Type)
			}
			k.seq[n] = rq - 2
			continue
		}
		ax, err := k.propagate(n)
		if err != nil {
			return err
		}
		k.seq[n] = ax
	}
	for _, o := range g.Results() {
		if k.axis(o.Node) < 0 {
			return fmt.Errorf("output %q has no sequence axis", o.Name)
		}
	}
	k.live = map[*graph.Node]bool{}
	for _, o := range g.Results() {
		k.live[o.Node] = true
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		if n := g.Nodes[i]; k.live[n] {
			for _, x := range n.Inputs {
				k.live[x] = true
			}
		}
	}
	return k.findMemos()
}

// findMemos finds what Prefill computes from the context inputs for
// Decode: the values without a sequence axis that depend on a context input
// and are read by a per-position value (an encoder's output as
// cross-attention's keys and values). Prefill stores them in State
// variables; Decode reads those instead of the encoder.
func (k *kvRewrite) findMemos() error {
	k.fromContext, k.memo = map[*graph.Node]bool{}, map[*graph.Node]bool{}
	for _, in := range k.context {
		k.fromContext[in] = true
	}
	for _, n := range k.g.Nodes {
		for _, x := range n.Inputs {
			if k.fromContext[x] && k.axis(n) < 0 {
				k.fromContext[n] = true
			}
		}
	}
	for _, n := range k.g.Nodes {
		if !k.live[n] || k.axis(n) < 0 || k.attOf[n] != nil && n != k.attOf[n].out {
			continue
		}
		for _, x := range n.Inputs {
			if !k.fromContext[x] {
				continue
			}
			if x.Op == graph.OpInput {
				return fmt.Errorf("%s reads %s per position: only values computed from it can be kept for decoding", where(n), where(x))
			}
			k.memo[x] = true
		}
	}
	return nil
}

// memoType is the type of the State that keeps memo n: n's own, or the
// model's float type for a mask or ids (State variables are floats; a
// source's padding mask is kept as 0/1 and cast back by Decode).
func memoType(n *graph.Node, float graph.DType) graph.Type {
	if n.Type.DType.IsFloat() {
		return n.Type
	}
	return graph.T(float, n.Type.Shape...)
}

// memoName names the State that keeps a context value for Decode.
func memoName(n *graph.Node) string {
	if n.Name != "" {
		return n.Name + ".memo"
	}
	return "v" + fmt.Sprint(n.ID) + ".memo"
}

func (k *kvRewrite) axis(n *graph.Node) int {
	if a, ok := k.seq[n]; ok {
		return a
	}
	return -1
}

// positional reports whether x, an operand without a sequence axis of an
// elementwise op whose result has the sequence at axis ax (of rank r), is
// read per position: a learned positional embedding [T, …] aligned with it
// by broadcasting.
func (k *kvRewrite) positional(x *graph.Node, ax, r int) bool {
	xa := ax - (r - x.Type.Shape.Rank())
	return xa >= 0 && x.Type.Shape[xa] == k.T && k.T > 1
}

// propagate computes a node's sequence axis from its operands', refusing
// ops that mix positions.
func (k *kvRewrite) propagate(n *graph.Node) (int, error) {
	info := n.Op.Info()
	var withSeq []*graph.Node
	for _, x := range n.Inputs {
		if k.axis(x) >= 0 {
			withSeq = append(withSeq, x)
		}
	}
	if len(withSeq) == 0 {
		if n.Op == graph.OpCausalMask {
			return -1, fmt.Errorf("%s is used outside an attention", where(n))
		}
		return -1, nil // parameters and what is computed from them alone
	}
	r := n.Type.Shape.Rank()
	switch {
	case info.Has(graph.Elementwise) || n.Op == graph.OpBroadcastTo:
		ax := -1
		for _, x := range withSeq {
			a := k.axis(x) + r - x.Type.Shape.Rank()
			if ax >= 0 && a != ax {
				return -1, fmt.Errorf("%s combines values whose sequence axes differ", where(n))
			}
			ax = a
		}
		for _, x := range n.Inputs {
			if k.axis(x) < 0 && k.positional(x, ax, r) && positionalTable(x) == nil {
				return -1, fmt.Errorf("%s reads %s per position, but it is computed (only parameters and constants can be read at one position)", where(n), where(x))
			}
		}
		return ax, nil
	case n.Op == graph.OpMatMul:
		a, b := n.Inputs[0], n.Inputs[1]
		ra := a.Type.Shape.Rank()
		if k.axis(b) >= 0 {
			return -1, fmt.Errorf("%s multiplies two sequences outside a causal attention", where(n))
		}
		ax := k.axis(a)
		if ax < ra-2 {
			// The sequence is a batch axis of a (PyTorch's attention runs
			// sequence-first): b, without a sequence, must broadcast along it.
			rb := b.Type.Shape.Rank()
			if bx := ax - (ra - rb); bx >= 0 && bx < rb-2 && b.Type.Shape[bx] != 1 {
				return -1, fmt.Errorf("%s pairs each position with its own matrix of %s", where(n), where(b))
			}
			return ax + r - ra, nil
		}
		if n.Attrs.TransA || ax != ra-2 {
			return -1, fmt.Errorf("%s contracts over the sequence axis", where(n))
		}
		return r - 2, nil
	case n.Op == graph.OpSlice:
		ax := k.axis(n.Inputs[0])
		if n.Attrs.Starts[ax] != 0 || n.Attrs.Ends[ax] != k.T {
			return -1, fmt.Errorf("%s slices the sequence axis", where(n))
		}
		return ax, nil
	case n.Op == graph.OpGather:
		if k.axis(n.Inputs[0]) >= 0 {
			return -1, fmt.Errorf("%s looks up in a table that depends on the sequence", where(n))
		}
		return k.axis(n.Inputs[1]), nil
	case n.Op == graph.OpTranspose:
		return slices.Index(n.Attrs.Perm, k.axis(n.Inputs[0])), nil
	case n.Op == graph.OpReshape:
		in, out := n.Inputs[0].Type.Shape, n.Type.Shape
		ax := k.axis(n.Inputs[0])
		before := graph.Shape(in[:ax]).Size()
		for j := range out {
			if graph.Shape(out[:j]).Size() == before && out[j] == k.T {
				return j, nil
			}
		}
		return -1, fmt.Errorf("%s merges or splits the sequence axis", where(n))
	case n.Op == graph.OpLayerNorm || n.Op == graph.OpRMSNorm:
		if k.axis(n.Inputs[0]) == r-1 {
			return -1, fmt.Errorf("%s normalises over the sequence", where(n))
		}
		return k.axis(n.Inputs[0]), nil
	case n.Op == graph.OpRoPE:
		// Decode rotates the one new row at its absolute position pos.
		if k.axis(n.Inputs[0]) != r-2 || len(n.Inputs) != 1 {
			return -1, fmt.Errorf("%s rotates along an axis that is not the sequence, or already has a position operand", where(n))
		}
		return r - 2, nil
	case n.Op == graph.OpSoftmax || n.Op == graph.OpLogSoftmax || n.Op == graph.OpArgMax:
		if n.Attrs.Axis == k.axis(n.Inputs[0]) {
			return -1, fmt.Errorf("%s works across positions", where(n))
		}
		return k.axis(n.Inputs[0]), nil
	case n.Op == graph.OpSum || n.Op == graph.OpMean || n.Op == graph.OpMax:
		ax := k.axis(n.Inputs[0])
		if len(n.Attrs.Axes) == 0 || slices.Contains(n.Attrs.Axes, ax) {
			return -1, fmt.Errorf("%s reduces over the sequence", where(n))
		}
		if n.Attrs.KeepDims {
			return ax, nil
		}
		out := ax
		for _, a := range n.Attrs.Axes {
			if a < ax {
				out--
			}
		}
		return out, nil
	}
	return -1, fmt.Errorf("%s is not supported for decoding one position at a time", where(n))
}

// positionalTable is the table whose rows a value read per position
// holds: a parameter or constant [T, …] itself, or Gather(table, 0..T−1),
// how PyTorch exports a positional embedding looked up at arange(T)
// (nanoGPT's wpe(pos)). Nil for anything else (computed values).
func positionalTable(x *graph.Node) *graph.Node {
	if x.Op.Info().Has(graph.Leaf) {
		return x
	}
	if x.Op != graph.OpGather || !x.Inputs[0].Op.Info().Has(graph.Leaf) {
		return nil
	}
	ids := x.Inputs[1]
	if ids.Op != graph.OpConst || ids.Type.Shape.Rank() != 1 {
		return nil
	}
	for i := range ids.Type.Shape[0] {
		v := ids.Attrs.Value
		if ids.Attrs.Data != nil {
			v = ids.Attrs.Data[i]
		}
		if v != float64(i) {
			return nil
		}
	}
	return x.Inputs[0]
}

// suffixed is name+suffix, or "" for an unnamed value.
func suffixed(name, suffix string) string {
	if name == "" {
		return ""
	}
	return name + suffix
}

// lead is a shape without its last two axes.
func lead(s graph.Shape) graph.Shape { return s[:len(s)-2] }

// queryRows reports how many query rows of q [..., 1 or T, d] share each
// cache row of k [..., S, d] in decoding: graph.KVGroup of their leading
// axes (1 without grouped-query attention).
func queryRows(q, k graph.Shape) (int, bool) { return graph.KVGroup(lead(q), lead(k)) }

// cacheName names the cache of a key or value node.
func cacheName(n *graph.Node) string {
	if n.Name != "" {
		return n.Name + ".cache"
	}
	return "v" + fmt.Sprint(n.ID) + ".cache"
}

// prefill is the forward graph plus the writes that fill the caches.
func (k *kvRewrite) prefill() (*graph.Graph, error) {
	p := k.g.Clone()
	p.Name = k.g.Name
	old := map[int]*graph.Node{}
	for _, n := range p.Nodes {
		old[n.ID] = n
	}
	dt := floatType(p)
	pos, err := p.Leaf(graph.OpState, graph.KVPosName, k.posType(dt), graph.Attrs{})
	if err != nil {
		return nil, err
	}
	length, err := p.Leaf(graph.OpInput, graph.KVLengthName, graph.T(dt), graph.Attrs{})
	if err != nil {
		return nil, err
	}
	b := &graph.Builder{G: p, Role: graph.RoleUpdate}
	for _, a := range k.attns {
		for i, x := range []*graph.Node{a.k, a.v} {
			if i == 1 && a.v == a.k {
				break // keys are values: one cache
			}
			c, err := p.Leaf(graph.OpState, cacheName(x), x.Type, graph.Attrs{})
			if err != nil {
				return nil, err
			}
			b.Pos = x.Pos
			b.Apply(graph.OpAssign, graph.Attrs{}, c, old[x.ID])
		}
	}
	for _, n := range k.g.Nodes {
		if !k.memo[n] {
			continue
		}
		c, err := p.Leaf(graph.OpState, memoName(n), memoType(n, dt), graph.Attrs{})
		if err != nil {
			return nil, err
		}
		b.Pos = n.Pos
		val := old[n.ID]
		if !n.Type.DType.IsFloat() {
			val = b.Apply(graph.OpCast, graph.Attrs{To: dt}, val)
		}
		b.Apply(graph.OpAssign, graph.Attrs{}, c, val)
	}
	b.Pos = graph.Pos{}
	if k.B > 1 {
		length = b.Apply(graph.OpBroadcastTo, graph.Attrs{Shape: []int{k.B}}, length)
	}
	b.Apply(graph.OpAssign, graph.Attrs{}, pos, length)
	if b.Err != nil {
		return nil, b.Err
	}
	moveLeavesFirst(p)
	if err := graph.Validate(p); err != nil {
		return nil, fmt.Errorf("%s: prefill: %w", k.g.Name, err)
	}
	return p, nil
}

// decode is the one-position graph.
func (k *kvRewrite) decode() (*graph.Graph, error) {
	g := k.g
	d := graph.New(g.Name, g.Source)
	dt := floatType(g)
	fail := func(n *graph.Node, err error) (*graph.Graph, error) {
		return nil, fmt.Errorf("%s: decode: %s: %w", g.Name, where(n), err)
	}
	newOf := map[*graph.Node]*graph.Node{}
	add := func(n *graph.Node, like *graph.Node) *graph.Node {
		n.Name, n.Pos, n.Role = like.Name, like.Pos, graph.RoleForward
		return d.Append(n)
	}
	pos, err := d.Leaf(graph.OpState, graph.KVPosName, k.posType(dt), graph.Attrs{})
	if err != nil {
		return nil, err
	}
	// The position as an id list (one element, or one per sequence), for
	// reading positional rows.
	posIDs := func(like *graph.Node) *graph.Node {
		c, _ := graph.NewNode(graph.OpCast, graph.Attrs{To: graph.I32}, pos)
		if k.B > 1 {
			add(c, like).Name = "pos_ids"
			return c
		}
		add(c, like).Name = "pos_id"
		r, _ := graph.NewNode(graph.OpReshape, graph.Attrs{Shape: []int{1}}, c)
		r = add(r, like)
		r.Name = "pos_ids"
		return r
	}
	var posRow *graph.Node
	rowAt := map[*graph.Node]*graph.Node{} // positional leaves read at pos
	var effects []func() error
	for _, n := range g.Nodes {
		if a := k.attOf[n]; a != nil && n != a.out && !n.Op.Info().Has(graph.Leaf) {
			continue // the attention core: replaced by AttendCache
		}
		if !k.live[n] && !n.Op.Info().Has(graph.Leaf) {
			continue // read by a tap only
		}
		switch {
		case n == k.ids:
			shape := n.Type.Shape.Clone()
			shape[len(shape)-1] = 1
			in, err := d.Leaf(graph.OpInput, n.Name, graph.T(graph.I32, shape...), graph.Attrs{})
			if err != nil {
				return nil, err
			}
			in.Pos = n.Pos
			newOf[n] = in
			continue
		case k.memo[n]: // computed by Prefill from the context
			c, err := d.Leaf(graph.OpState, memoName(n), memoType(n, dt), graph.Attrs{})
			if err != nil {
				return nil, err
			}
			c.Pos = n.Pos
			if !n.Type.DType.IsFloat() { // kept as a float: cast back
				x, err := graph.NewNode(graph.OpCast, graph.Attrs{To: n.Type.DType}, c)
				if err != nil {
					return fail(n, err)
				}
				c = add(x, n)
			}
			newOf[n] = c
			continue
		case k.fromContext[n]:
			continue // the encoder: Prefill's work
		case n.Op.Info().Has(graph.Leaf):
			c := &graph.Node{Op: n.Op, Type: graph.Type{DType: n.Type.DType, Shape: n.Type.Shape.Clone()}, Attrs: n.Attrs.Clone(), Name: n.Name, Pos: n.Pos, Role: n.Role}
			newOf[n] = d.Append(c)
			continue
		}
		if a := k.attOf[n]; a != nil { // the attention, one position against the caches
			var caches [2]*graph.Node
			for i, x := range []*graph.Node{a.k, a.v} {
				if i == 1 && a.v == a.k {
					caches[1] = caches[0] // keys are values: one cache
					break
				}
				c, err := d.Leaf(graph.OpState, cacheName(x), x.Type, graph.Attrs{})
				if err != nil {
					return nil, err
				}
				c.Pos = x.Pos
				caches[i] = c
			}
			q, kn, vn := newOf[a.q], newOf[a.k], newOf[a.v]
			qShape := q.Type.Shape
			if rows, _ := queryRows(qShape, caches[0].Type.Shape); rows > 1 {
				// Grouped queries: the G query rows of each key head attend
				// together, as rows of one [..., G, d] block.
				rs := caches[0].Type.Shape.Clone()
				rs[len(rs)-2] = rows
				r, err := graph.NewNode(graph.OpReshape, graph.Attrs{Shape: rs}, q)
				if err != nil {
					return fail(n, err)
				}
				q = add(r, a.q)
				q.Name = suffixed(a.q.Name, "_rows")
			}
			m, err := graph.NewNode(graph.OpAttendCache, graph.Attrs{Value: a.scale}, q, caches[0], caches[1], kn, vn, pos)
			if err != nil {
				return fail(n, err)
			}
			newOf[n] = add(m, n)
			if !m.Type.Shape.Equal(qShape) {
				r, err := graph.NewNode(graph.OpReshape, graph.Attrs{Shape: qShape.Clone()}, m)
				if err != nil {
					return fail(n, err)
				}
				m.Name = suffixed(n.Name, "_rows")
				newOf[n] = add(r, n)
			}
			ck, cv := caches[0], caches[1]
			effects = append(effects, func() error {
				writes := [][2]*graph.Node{{ck, kn}, {cv, vn}}
				if cv == ck {
					writes = writes[:1]
				}
				for _, w := range writes {
					e, err := graph.NewNode(graph.OpCacheWrite, graph.Attrs{}, w[0], w[1], pos)
					if err != nil {
						return err
					}
					e.Role, e.Pos = graph.RoleUpdate, w[1].Pos
					d.Append(e)
				}
				return nil
			})
			continue
		}
		ax := k.axis(n)
		r := n.Type.Shape.Rank()
		// Only an elementwise op aligns an operand with the sequence axis by
		// broadcasting; a product's weight [d, d] with d = ctx is not positional.
		broadcasts := n.Op.Info().Has(graph.Elementwise)
		ins := make([]*graph.Node, len(n.Inputs))
		for i, x := range n.Inputs {
			ins[i] = newOf[x]
			if table := positionalTable(x); broadcasts && ax >= 0 && k.axis(x) < 0 && table != nil && k.positional(x, ax, r) {
				// A positional parameter [T, …] (or its rows 0..T−1): read its row pos.
				if x.Type.Shape.Rank()-(r-ax) != 0 || x.Op == graph.OpCausalMask {
					return fail(n, fmt.Errorf("reads %s per position along an axis other than its first", where(x)))
				}
				if rowAt[x] == nil {
					if posRow == nil {
						posRow = posIDs(x)
					}
					gth, err := graph.NewNode(graph.OpGather, graph.Attrs{}, newOf[table], posRow)
					if err != nil {
						return fail(n, err)
					}
					rowAt[x] = add(gth, x)
					rowAt[x].Name = suffixed(table.Name, "_at_pos")
					if k.B > 1 {
						// Row pos[b] for sequence b: [B, 1, …, 1, row] against the
						// value [B, …, 1 (the position), …].
						if ax == 0 || n.Type.Shape[0] != k.B {
							return fail(n, fmt.Errorf("reads %s per sequence of a batch that is not its first axis", where(x)))
						}
						shape := append(graph.Shape{k.B}, make(graph.Shape, ax)...)
						for i := 1; i < len(shape); i++ {
							shape[i] = 1
						}
						shape = append(shape, x.Type.Shape[1:]...)
						rs, err := graph.NewNode(graph.OpReshape, graph.Attrs{Shape: shape}, rowAt[x])
						if err != nil {
							return fail(n, err)
						}
						rowAt[x] = add(rs, x)
						rowAt[x].Name = suffixed(table.Name, "_at_pos_rows")
					}
				}
				ins[i] = rowAt[x]
			}
		}
		attrs := n.Attrs.Clone()
		switch n.Op {
		case graph.OpReshape, graph.OpBroadcastTo:
			if ax >= 0 {
				attrs.Shape[ax] = 1
			}
		case graph.OpSlice:
			if ax >= 0 {
				attrs.Ends[ax] = 1
			}
		}
		if n.Op == graph.OpRoPE {
			ins = append(ins, pos) // the new row is at the absolute position pos
		}
		m, err := graph.NewNode(n.Op, attrs, ins...)
		if err != nil {
			return fail(n, err)
		}
		newOf[n] = add(m, n)
	}
	for _, o := range g.Results() {
		d.Outputs = append(d.Outputs, graph.Output{Name: o.Name, Node: newOf[o.Node]})
	}
	for _, e := range effects {
		if err := e(); err != nil {
			return nil, err
		}
	}
	b := &graph.Builder{G: d, Role: graph.RoleUpdate}
	next := b.Add(pos, b.Const(dt, 1))
	b.Apply(graph.OpAssign, graph.Attrs{}, pos, next)
	if b.Err != nil {
		return nil, b.Err
	}
	moveLeavesFirst(d)
	if err := graph.Validate(d); err != nil {
		return nil, fmt.Errorf("%s: decode: %w", g.Name, err)
	}
	return d, nil
}
