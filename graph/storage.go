package graph

// Storage says where a value lives in generated code and which values the
// memory planner packs into the arena. Codegen and the planner both follow
// it, so they agree on what needs a buffer.
type Storage uint8

const (
	StoreNone   Storage = iota // effects: no value
	StoreArena                 // intermediate values and inputs: planned into the arena
	StoreParam                 // parameters: the model's params slice
	StoreState                 // state variables: the model's state slice
	StoreGrad                  // the gradient of exactly one parameter: the grads slice
	StoreConst                 // constant data: a package-level array
	StoreInline                // no storage: a literal (uniform constant) or an expression of loop indices (causal mask)
	StoreAlias                 // the same storage as its operand (a reshape: same data, new shape)
	StoreFused                 // computed inside a fused kernel and never stored
)

// StorageOf classifies every node of g. gradOf maps a gradient node to the
// parameter it is the gradient of, when it is the gradient of exactly one.
func StorageOf(g *Graph) (map[*Node]Storage, map[*Node]*Node) {
	gradOf := map[*Node]*Node{}
	count := map[*Node]int{}
	for _, gr := range g.Grads {
		count[gr.Grad]++
	}
	for _, gr := range g.Grads {
		d := gr.Grad
		if count[d] == 1 && !d.IsVariable() && d.Op != OpConst && d.Op != OpInput {
			gradOf[d] = gr.Param
		}
	}
	// A uniform constant or a causal mask is written inline (a literal, or a
	// comparison of loop indices) where every reader is an elementwise loop or
	// takes it as a scalar; other readers need it stored.
	inlineOK := map[*Node]bool{}
	for _, n := range g.Nodes {
		if n.Op == OpConst || n.Op == OpCausalMask {
			inlineOK[n] = true
		}
	}
	for _, u := range g.Nodes {
		takesInline := u.Op.Info().Has(Elementwise) || u.Op == OpBroadcastTo || u.Op == OpReshape ||
			u.Op == OpLRSchedule || (u.Op.Info().Has(Effect) && u.Op != OpAssign)
		for k, x := range u.Inputs {
			switch {
			case !takesInline, u.Op.Info().Has(Effect) && k < 2: // an update's parameter and gradient are slices
				inlineOK[x] = false
			case u.Op == OpReshape && x.Op == OpCausalMask: // a reshaped mask loses its (i, j) layout
				inlineOK[x] = false
			}
		}
	}
	for _, o := range g.Outputs {
		inlineOK[o.Node] = false
	}
	fused := map[*Node]bool{}
	if g.Fusion != nil {
		for _, grp := range g.Fusion.Groups {
			for _, n := range grp.Inner() {
				fused[n] = true
			}
			// The layernorm and rmsnorm kernels are library calls: x, γ and β are slices.
			if grp.Kind == "layernorm" || grp.Kind == "layernorm-grad" || grp.Kind == "rmsnorm" || grp.Kind == "rmsnorm-grad" {
				member := map[*Node]bool{}
				for _, n := range grp.Nodes {
					member[n] = true
				}
				for _, n := range grp.Nodes {
					for _, x := range n.Inputs {
						if !member[x] {
							inlineOK[x] = false
						}
					}
				}
			}
		}
	}
	for _, u := range g.Nodes {
		// An op whose operands would all be literals would be a Go constant
		// expression, which the Go compiler evaluates with constant rules:
		// 1 / 2 is the integer 0, where(c, 0, 1) is an int, 1 / 0 does not
		// compile. One operand is stored instead, so the op runs on floats as
		// the interpreter runs it. (Where's mask does not type the result.)
		if !u.Op.Info().Has(Elementwise) {
			continue
		}
		vals := u.Inputs
		if u.Op == OpWhere {
			vals = vals[1:]
		}
		literal := len(vals) > 0
		for _, x := range vals {
			literal = literal && x.Op == OpConst && x.Attrs.Data == nil && inlineOK[x] && x.Type.DType.IsFloat()
		}
		if literal {
			inlineOK[vals[0]] = false
		}
	}
	// The caller reads outputs through slices of the model's memory, and may
	// write to them: an output that is constant data, or a reshape of it, is
	// copied into the arena rather than handed out as the package's array.
	constOut := map[*Node]bool{}
	for _, o := range g.Outputs {
		n := o.Node
		for n.Op == OpReshape {
			n = n.Inputs[0]
		}
		if n.Op == OpConst || n.Op == OpCausalMask {
			constOut[o.Node] = true
		}
	}
	st := make(map[*Node]Storage, len(g.Nodes))
	for _, n := range g.Nodes {
		switch {
		case n.Type.DType == Void:
			st[n] = StoreNone
		case n.Op == OpParam:
			st[n] = StoreParam
		case n.Op == OpState:
			st[n] = StoreState
		case gradOf[n] != nil:
			st[n] = StoreGrad
		case constOut[n]:
			st[n] = StoreArena
		case n.Op == OpConst || n.Op == OpCausalMask:
			if inlineOK[n] && n.Attrs.Data == nil {
				st[n] = StoreInline
			} else {
				st[n] = StoreConst
			}
		case fused[n]:
			st[n] = StoreFused
		case n.Op == OpReshape && st[n.Inputs[0]] != StoreInline && st[n.Inputs[0]] != StoreFused:
			st[n] = StoreAlias
		default:
			st[n] = StoreArena
		}
	}
	return st, gradOf
}

// ArenaClass is which arena a value of dtype dt lives in: 0 floats, 1 i32,
// 2 bool. bf16 values (the activations mixed-precision training stores in
// bf16) share the float arena, several to a float: ArenaSlots.
func ArenaClass(dt DType) int {
	switch dt {
	case I32:
		return 1
	case Bool:
		return 2
	}
	return 0
}

// ArenaSlots is the number of elements of its arena a value of type t takes
// in a graph whose floats are float: its own count, or for bf16 the floats
// its bytes fill (half as many as f32 values).
func ArenaSlots(t Type, float DType) int {
	n := t.Shape.Size()
	if t.DType == BF16 {
		fs := float.Size()
		return (n*BF16.Size() + fs - 1) / fs
	}
	return n
}

// MemPlan is the memory plan of one graph: an offset in its arena for every
// value stored there, and the figures mlc stats reports.
type MemPlan struct {
	Offset map[*Node]int // elements from the start of the node's arena (for bf16: floats, ArenaSlots)
	Size   [3]int        // elements of each arena (floats, i32, bool)

	NaiveBytes      int // one buffer per value, no reuse
	PlannedBytes    int // the arenas as planned
	LowerBoundBytes int // the most bytes live at any point of the schedule
	InPlace         int // values written over an operand that dies there
}

// FusionPlan lists the kernels the fusion pass formed.
type FusionPlan struct {
	Groups []*FusionGroup
}

// FusionGroup is a set of nodes that codegen emits as one kernel function.
// Nodes are in graph order; the last ones the group's results (those used
// outside it or observed by the caller).
type FusionGroup struct {
	Kind    string  // elementwise, epilogue, layernorm, layernorm-grad, softmax-xent-grad
	Nodes   []*Node // members in graph order
	Results []*Node // members whose values leave the group (stored)
	// Producer, for an epilogue, is the matrix product the loop reads: it is
	// not a member (its result is stored), but it runs in the same kernel.
	Producer *Node
}

// Last is the member the group is emitted at: all its operands are ready
// there, and nothing outside reads a result before it.
func (f *FusionGroup) Last() *Node { return f.Nodes[len(f.Nodes)-1] }

// Inner lists the members whose values never leave the group.
func (f *FusionGroup) Inner() []*Node {
	out := map[*Node]bool{}
	for _, r := range f.Results {
		out[r] = true
	}
	var in []*Node
	for _, n := range f.Nodes {
		if !out[n] {
			in = append(in, n)
		}
	}
	return in
}
