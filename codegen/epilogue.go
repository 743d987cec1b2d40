package codegen

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// biasEpilogueMinElems is the smallest output biasEpilogue takes: below
// it, the loop is as fast as the call and easier to read.
const biasEpilogueMinElems = 64

// biasEpilogue returns the statements of an epilogue group that is a
// Linear layer's tail, the product plus a bias row, optionally through a
// ReLU, with only its last value stored (or, for training, the value before
// the ReLU too): the product, then one call of the vector kernel biasRows
// or biasReLURows (codegen/kernels/epilogue.go) instead of a scalar loop
// nest. ok is false for any other group.
func (f *fnGen) biasEpilogue(grp *graph.FusionGroup) (code []jen.Code, ok bool) {
	p := grp.Producer
	if grp.Kind != "epilogue" || p == nil || p.Op != graph.OpMatMul || len(grp.Nodes) > 2 ||
		!slices.Contains(grp.Results, grp.Last()) {
		return nil, false
	}
	add := grp.Nodes[0]
	if add.Op != graph.OpAdd || len(add.Inputs) != 2 {
		return nil, false
	}
	relu := len(grp.Nodes) == 2
	if relu && (grp.Nodes[1].Op != graph.OpReLU || grp.Nodes[1].Inputs[0] != add) {
		return nil, false
	}
	// keepPre: the value before the ReLU is stored too (training keeps it
	// for backward).
	keepPre := relu && slices.Contains(grp.Results, add)
	if stored := len(grp.Results); stored > 2 || stored == 2 && !keepPre {
		return nil, false
	}
	bias := other(add, p)
	if bias == p || (add.Inputs[0] != p && add.Inputs[1] != p) {
		return nil, false
	}
	dt := graph.F64
	if f.f32() {
		dt = graph.F32
	}
	ps, bs := p.Type.Shape, bias.Type.Shape
	if ps.Rank() < 1 || bs.Rank() < 1 || bias.Op == graph.OpConst {
		return nil, false
	}
	n := ps[ps.Rank()-1]
	if bs.Rank() > ps.Rank() || bs.Size() != n || bs[bs.Rank()-1] != n || !add.Type.Shape.Equal(ps) {
		return nil, false
	}
	for _, x := range []*graph.Node{p, bias, add, grp.Last()} {
		if x.Type.DType != dt {
			return nil, false
		}
	}
	if _, _, m, nn, k := matmulDims(p); m*nn*k <= inlineMaxWork || ps.Size() < biasEpilogueMinElems {
		return nil, false // the product's loops are inline: so are the bias's
	}
	kf := f.kernelGen()
	out := grp.Last()
	rows := jen.Lit(ps.Size() / max(n, 1))
	call := jen.Id("biasRows").Call(kf.ref(out), kf.ref(p), kf.ref(bias), rows, jen.Lit(relu))
	if keepPre {
		call = jen.Id("biasReLURows").Call(kf.ref(add), kf.ref(out), kf.ref(p), kf.ref(bias), rows)
	}
	body := append(emitMatMul(kf, p), call)
	name := f.g.kernelNames.take("fused" + exported(f.nm.name(out)))
	doc := fmt.Sprintf("%s is one fused %s kernel over %s, the product and then its bias%s\nrow by row in vector registers (biasRows):\n\n\t%s",
		name, grp.Kind, out.Type, map[bool]string{true: " and ReLU", false: ""}[relu], strings.Join(f.fusedComment(grp), "\n\t"))
	return f.kernelMethod(kf, name, body, doc), true
}
