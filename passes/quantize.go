package passes

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime/lowp"
)

// QuantizeOptions say what Quantize stores and where the weights' values
// come from.
type QuantizeOptions struct {
	// To is the weights' storage dtype: graph.I8 or graph.BF16.
	To graph.DType
	// Values gives a weight's f32 values (trained, or its initial values);
	// they must be finite.
	Values func(w *graph.Node) ([]float32, error)
	// Stored, when set, may give a weight already converted (a file of
	// mlc quantize), by the converted parameter's name and its stored
	// shape [k, n]: the values (exact in To) and, for i8, the n scales. ok
	// false converts from Values instead.
	Stored func(name string, shape graph.Shape) (data, scales []float64, ok bool, err error)
}

// QuantScaleSuffix names an i8 weight's scales: "W.scale" for the weight W.
const QuantScaleSuffix = ".scale"

// QuantSharedSuffix names the low-precision copy of a weight that the
// inference graphs also read in f32 (a tied embedding, gathered as an f32
// table and multiplied as the output projection): "wte.q".
const QuantSharedSuffix = ".q"

// Quantize gives a program low-precision weights for inference: in Predict,
// PredictSmall, Prefill and Decode, every MatMul(x, W) or MatMul(x, Wᵀ)
// whose B operand W is an f32 parameter of rank 2 (A not transposed, x f32)
// becomes QMatMul(x, Wq [, scales]), and the training graph is dropped: the
// program is inference-only. The weights are converted once, here, with
// runtime/lowp: Wq is a parameter of dtype o.To holding them ("values"),
// always stored [k, n] (the weight of x·Wᵀ transposed), named like W, or
// W+QuantSharedSuffix when the graphs still read W in f32 elsewhere; an i8
// weight's per-output-channel f32 scales are the parameter
// Wq+QuantScaleSuffix. It returns the names of the weights converted, in
// the order first met.
//
// Assumes: the graphs have not been through the pipeline yet (Run), so
// that every product is still a MatMul node. Guarantees: the graphs
// validate; values of the weights not converted are untouched. After an
// error the program is not usable.
func Quantize(prog *graph.Program, o QuantizeOptions) ([]string, error) {
	if !o.To.IsStorage() {
		return nil, fmt.Errorf("quantize: weights as %s: want i8 or bf16", o.To)
	}
	if prog.Float != graph.F32 {
		return nil, fmt.Errorf("quantize: %s computes in %s; low-precision weights need -dtype f32", prog.Name, prog.Float)
	}
	graphs := []*graph.Graph{prog.Predict, prog.PredictSmall, prog.Prefill, prog.Decode}
	graphs = slices.DeleteFunc(graphs, func(g *graph.Graph) bool { return g == nil })

	eligible := func(n *graph.Node) bool {
		if n.Op != graph.OpMatMul {
			return false
		}
		w := n.Inputs[1]
		return !n.Attrs.TransA && n.Inputs[0].Type.DType == graph.F32 &&
			w.Op == graph.OpParam && w.Type.DType == graph.F32 && w.Type.Shape.Rank() == 2 && n.Inputs[0] != w
	}
	// A weight is shared when some graph reads it other than as an eligible B.
	shared := map[string]bool{}
	for _, g := range graphs {
		for _, n := range g.Nodes {
			for i, x := range n.Inputs {
				if x.Op == graph.OpParam && !(i == 1 && eligible(n)) {
					shared[x.Name] = true
				}
			}
		}
		for _, out := range g.Outputs {
			if out.Node.Op == graph.OpParam {
				shared[out.Node.Name] = true
			}
		}
	}

	type conv struct {
		name   string
		data   []float64   // the low-precision values, exact in float64
		scales []float64   // i8 only
		trans  bool        // the product was x·Wᵀ
		shape  graph.Shape // as stored: [k, n]
	}
	convs := map[string]*conv{} // by weight name and transposition
	var names []string
	convert := func(n *graph.Node) (*conv, error) {
		w := n.Inputs[1]
		key := fmt.Sprint(w.Name, n.Attrs.TransB)
		if c := convs[key]; c != nil {
			return c, nil
		}
		for _, c := range convs {
			if c.name == w.Name && c.trans != n.Attrs.TransB {
				return nil, fmt.Errorf("quantize: %s is multiplied both as stored and transposed; its channels differ", w.Name)
			}
		}
		c := &conv{name: w.Name, trans: n.Attrs.TransB}
		if shared[w.Name] {
			c.name += QuantSharedSuffix
		}
		if o.Stored != nil {
			k, nn := w.Type.Shape[0], w.Type.Shape[1]
			if c.trans {
				k, nn = nn, k
			}
			data, scales, ok, err := o.Stored(c.name, graph.Shape{k, nn})
			if err != nil {
				return nil, fmt.Errorf("quantize: %w", err)
			}
			if ok {
				c.shape, c.data, c.scales = graph.Shape{k, nn}, data, scales
				convs[key] = c
				names = append(names, w.Name)
				return c, nil
			}
		}
		vals, err := o.Values(w)
		if err != nil {
			return nil, fmt.Errorf("quantize: %s: %w", w.Name, err)
		}
		if len(vals) != w.Type.Shape.Size() {
			return nil, fmt.Errorf("quantize: %s has %d values for shape %s", w.Name, len(vals), w.Type.Shape)
		}
		for i, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("quantize: %s[%d] is %v; weights must be finite", w.Name, i, v)
			}
		}
		c.data = make([]float64, len(vals))
		// Stored [k, n] whatever the product's layout: x·Wᵀ's weight is
		// transposed here, once, so that every product runs the same kernels.
		k, nn := w.Type.Shape[0], w.Type.Shape[1]
		c.shape = graph.Shape{k, nn}
		if c.trans {
			nn, k = k, nn
			c.shape = graph.Shape{k, nn}
			t := make([]float32, len(vals))
			for j := range nn {
				for l := range k {
					t[l*nn+j] = vals[j*k+l]
				}
			}
			vals = t
		}
		if o.To == graph.BF16 {
			for i, v := range vals {
				c.data[i] = float64(lowp.BF16ToF32(lowp.F32ToBF16(v)))
			}
		} else {
			q := make([]int8, len(vals))
			s := make([]float32, nn)
			lowp.QuantizeI8(q, s, vals, k, nn, false)
			for i, v := range q {
				c.data[i] = float64(v)
			}
			for _, v := range s {
				c.scales = append(c.scales, float64(v))
			}
		}
		convs[key] = c
		names = append(names, w.Name)
		return c, nil
	}

	for _, g := range graphs {
		leaves := map[string]*graph.Node{} // this graph's new parameters
		param := func(name string, t graph.Type, data []float64) (*graph.Node, error) {
			if p := leaves[name]; p != nil {
				return p, nil
			}
			// A weight that keeps its name replaces the f32 one, which DCE drops.
			if x := g.Find(name); x != nil && !(x.Op == graph.OpParam && x.Type.DType == graph.F32 && !shared[x.Name]) {
				return nil, fmt.Errorf("quantize: %s already has a value named %q", g.Name, name)
			}
			p, err := g.Leaf(graph.OpParam, name, t, graph.Attrs{Init: "values", Data: data})
			if err != nil {
				return nil, fmt.Errorf("quantize: %w", err)
			}
			leaves[name] = p
			return p, nil
		}
		// Rebuild the node list in order: new parameters go right before the
		// product that first reads them, and every operand is remapped.
		old := g.Nodes
		g.Nodes = nil
		repl := map[*graph.Node]*graph.Node{}
		remap := func(n *graph.Node) {
			for i, x := range n.Inputs {
				if r := repl[x]; r != nil {
					n.Inputs[i] = r
				}
			}
		}
		fail := func(err error) ([]string, error) { return nil, err }
		for _, n := range old {
			remap(n)
			if !eligible(n) {
				g.Append(n)
				continue
			}
			c, err := convert(n)
			if err != nil {
				return fail(err)
			}
			wq, err := param(c.name, graph.Type{DType: o.To, Shape: c.shape.Clone()}, c.data)
			if err != nil {
				return fail(err)
			}
			ins := []*graph.Node{n.Inputs[0], wq}
			if o.To == graph.I8 {
				s, err := param(c.name+QuantScaleSuffix, graph.T(graph.F32, len(c.scales)), c.scales)
				if err != nil {
					return fail(err)
				}
				ins = append(ins, s)
			}
			q, err := graph.NewNode(graph.OpQMatMul, graph.Attrs{}, ins...)
			if err != nil {
				return fail(fmt.Errorf("quantize: %w", err))
			}
			q.Name, q.Pos, q.Role = n.Name, n.Pos, n.Role
			g.Append(q)
			repl[n] = q
		}
		for i := range g.Outputs {
			if r := repl[g.Outputs[i].Node]; r != nil {
				g.Outputs[i].Node = r
			}
		}
		g.Renumber()
		// Drop the f32 weights nothing reads any more.
		used := g.Read()
		g.Remove(func(n *graph.Node) bool {
			return n.Op == graph.OpParam && n.Type.DType == graph.F32 && !used[n] && (convs[fmt.Sprint(n.Name, false)] != nil || convs[fmt.Sprint(n.Name, true)] != nil)
		})
		if err := graph.Validate(g); err != nil {
			return nil, fmt.Errorf("quantize: %s: %w", g.Name, err)
		}
	}
	prog.Train = nil
	return names, nil
}
