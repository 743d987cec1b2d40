package codegen

import (
	"fmt"
	"strconv"

	"github.com/mlc-dev/mlc/graph"
)

// region says which backing slice holds a value.
type region int

const (
	inArena   region = iota // m.arena (floats), m.iarena (i32), m.barena (bool) or m.harena (bf16: a view of m.arena) by dtype
	inParams                // m.params: trainable parameters
	inGrads                 // m.grads: d loss/d parameter, laid out like m.params
	inState                 // m.state: non-trainable variables
	inCache                 // m.cache: KV caches and the position counter of decoding
	inConst                 // a package-level array of constant data
	inline                  // no storage: a literal or an expression of loop indices
	inQParams               // m.qparams: i8 weights (low-precision, read-only)
	inHParams               // m.hparams: bf16 weights, as uint16 bit patterns
)

// lowRegion is the region of a low-precision parameter of dtype dt, or
// false for any other dtype.
func lowRegion(dt graph.DType) (region, bool) {
	switch dt {
	case graph.I8:
		return inQParams, true
	case graph.BF16:
		return inHParams, true
	}
	return 0, false
}

// slot is where one value lives.
type slot struct {
	region region
	off    int
	size   int
	dtype  graph.DType
}

// variable is a Param or State shared by all entry points.
type variable struct {
	name  string
	node  *graph.Node // first definition seen
	off   int         // in m.params, m.state or m.cache
	param bool
	cache bool // decoding state: only Prefill and DecodeStep use it; Reset empties it
}

// layout is the storage of a whole program.
type layout struct {
	vars       []*variable
	varByName  map[string]*variable
	paramSize  int
	qparamSize int // i8 weights
	hparamSize int // bf16 weights
	stateSize  int
	cacheSize  int
	arenaSize  [3]int // floats, i32, bool: the largest any entry point needs
	bf16Arena  bool   // some value lives in m.harena
	consts     []*graph.Node
	constNames map[*graph.Node]string
}

// arenaIndex is the arena field of a value of dtype dt: arenaNames.
func arenaIndex(dt graph.DType) int {
	if dt == graph.BF16 {
		return 3
	}
	return graph.ArenaClass(dt)
}

// arenaNames are the Model's arena fields, by arenaIndex. m.harena is
// m.arena's memory seen as uint16s (New makes the view): bf16 values are
// planned into the float arena, two to a float32 (graph.ArenaSlots).
var arenaNames = [4]string{"arena", "iarena", "barena", "harena"}

func newLayout(prog *graph.Program) (*layout, error) {
	l := &layout{varByName: map[string]*variable{}, constNames: map[*graph.Node]string{}}
	// Train first: its parameter order is the checkpoint and gradient order.
	// Then Prefill and Decode, whose new variables are the decoding caches.
	for _, g := range []*graph.Graph{prog.Train, prog.Predict, prog.Prefill, prog.Decode} {
		if g == nil {
			continue
		}
		decoding := g == prog.Prefill || g == prog.Decode
		for _, n := range g.Nodes {
			if !n.IsVariable() {
				continue
			}
			if v, ok := l.varByName[n.Name]; ok {
				if !v.node.Type.Equal(n.Type) || v.param != (n.Op == graph.OpParam) {
					return nil, fmt.Errorf("variable %q is %s %s in one entry point and %s %s in another", n.Name, v.node.Op, v.node.Type, n.Op, n.Type)
				}
				continue
			}
			v := &variable{name: n.Name, node: n, param: n.Op == graph.OpParam}
			v.cache = decoding && !v.param
			switch {
			case v.param && n.Type.DType == graph.I8:
				v.off = l.qparamSize
				l.qparamSize += n.Type.Shape.Size()
			case v.param && n.Type.DType == graph.BF16:
				v.off = l.hparamSize
				l.hparamSize += n.Type.Shape.Size()
			case v.param:
				v.off = l.paramSize
				l.paramSize += n.Type.Shape.Size()
			case v.cache:
				v.off = l.cacheSize
				l.cacheSize += n.Type.Shape.Size()
			default:
				v.off = l.stateSize
				l.stateSize += n.Type.Shape.Size()
			}
			l.vars = append(l.vars, v)
			l.varByName[n.Name] = v
		}
	}
	l.alignCaches()
	return l, nil
}

// cacheAlign is the element count a KV cache whose size is a multiple of it
// starts at a multiple of in m.cache: 64 bytes of float32, one cache line.
const cacheAlign = 16

// alignCaches lays out m.cache with the caches whose size is a multiple of
// cacheAlign first, each in the order it came, and the rest (the position
// counter) after them. m.cache is one allocation of over 32 KB once a cache
// is long enough to matter, which Go aligns to a page, so every row of
// those caches then starts on a cache line: the attention kernels' vector
// loads do not straddle two lines. The total is unchanged.
func (l *layout) alignCaches() {
	off := 0
	for _, whole := range []bool{true, false} {
		for _, v := range l.vars {
			if size := v.node.Type.Shape.Size(); v.cache && (size%cacheAlign == 0) == whole {
				v.off = off
				off += size
			}
		}
	}
}

// plan is the storage of one entry point's graph.
type plan struct {
	slots     map[*graph.Node]slot
	gradCopy  []gradCopy // gradients computed elsewhere and copied into m.grads
	arenaSize [3]int
}

type gradCopy struct {
	from *graph.Node
	to   *variable
}

// planGraph gives every value of g a slot, following graph.StorageOf; arena
// offsets come from the memory plan (g.Plan) when the memplan pass ran, else
// each value gets its own region.
func (l *layout) planGraph(g *graph.Graph) *plan {
	p := &plan{slots: map[*graph.Node]slot{}}
	storage, gradOf := graph.StorageOf(g)
	for _, gr := range g.Grads {
		if gradOf[gr.Grad] != gr.Param {
			p.gradCopy = append(p.gradCopy, gradCopy{from: gr.Grad, to: l.varByName[gr.Param.Name]})
		}
	}
	for _, n := range g.Nodes {
		size := n.Type.Shape.Size()
		switch storage[n] {
		case graph.StoreParam, graph.StoreState:
			v := l.varByName[n.Name]
			r := inState
			if lr, ok := lowRegion(n.Type.DType); ok && v.param {
				r = lr
			} else if v.param {
				r = inParams
			} else if v.cache {
				r = inCache
			}
			p.slots[n] = slot{region: r, off: v.off, size: size, dtype: n.Type.DType}
		case graph.StoreGrad:
			p.slots[n] = slot{region: inGrads, off: l.varByName[gradOf[n].Name].off, size: size, dtype: n.Type.DType}
		case graph.StoreConst:
			p.slots[n] = slot{region: inConst, size: size, dtype: n.Type.DType}
			l.nameConst(n)
		case graph.StoreInline, graph.StoreFused:
			p.slots[n] = slot{region: inline, size: size, dtype: n.Type.DType}
		case graph.StoreAlias:
			s := p.slots[n.Inputs[0]]
			s.size = size
			p.slots[n] = s
			if s.region == inConst { // a reshaped constant reads the same array
				l.constNames[n] = l.constNames[n.Inputs[0]]
			}
		case graph.StoreArena:
			a := graph.ArenaClass(n.Type.DType)
			s := slot{region: inArena, size: size, dtype: n.Type.DType}
			if n.Op == graph.OpConst && n.Attrs.Data != nil { // a constant output: copied from its array
				l.nameConst(n)
			}
			if g.Plan != nil {
				s.off = g.Plan.Offset[n]
			} else {
				s.off = p.arenaSize[a]
				p.arenaSize[a] += graph.ArenaSlots(n.Type, graph.F32)
			}
			if n.Type.DType == graph.BF16 {
				s.off *= 2 // uint16s in m.harena, the float32 arena's view (float32 packages only)
				l.bf16Arena = true
			}
			p.slots[n] = s
		}
	}
	if g.Plan != nil {
		p.arenaSize = g.Plan.Size
	}
	for a := range l.arenaSize {
		l.arenaSize[a] = max(l.arenaSize[a], p.arenaSize[a])
	}
	return p
}

// nameConst gives the constant n its package-level array, once.
func (l *layout) nameConst(n *graph.Node) {
	if _, ok := l.constNames[n]; !ok {
		l.consts = append(l.consts, n)
		l.constNames[n] = "const" + strconv.Itoa(len(l.consts))
	}
}
