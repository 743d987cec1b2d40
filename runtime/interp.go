package runtime

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mlc-dev/mlc/graph"
)

// Interpreter executes a graph node by node. It is the semantic oracle for
// generated code, so each kernel is the plainest correct loop; it is also the
// baseline generated code is measured against, so every value's buffer is
// allocated once in New and reused, and matrix products go through gonum's BLAS.
type Interpreter struct {
	G    *graph.Graph
	Seed uint64 // model seed: parameter initialisation and dropout streams

	vals []*Tensor          // one per node
	vars map[string]*Tensor // params and state by name; aliases of vals
	rng  RNG                // dropout masks: the model's own stream, as generated code draws it
	eval bool               // eval mode: dropout masks are all ones
	aux  []any              // per-node precomputed index maps, built on first use
	tmp  [][]float64        // per-node float64 scratch, allocated on first use
}

// scratch returns node n's zeroed float64 scratch of length size, kept across runs.
func (it *Interpreter) scratch(n *graph.Node, size int) []float64 {
	if len(it.tmp[n.ID]) != size {
		it.tmp[n.ID] = make([]float64, size)
	}
	s := it.tmp[n.ID]
	clear(s)
	return s
}

// Options configure an interpreter.
type Options struct {
	Seed uint64 // model seed for parameter initialisation
	// Vars, when set, supplies existing parameter and state tensors by name:
	// interpreters of several entry points then share one model's variables.
	Vars map[string]*Tensor
}

// NewInterpreter allocates every value of g and initialises its parameters
// and state as the graph says.
func NewInterpreter(g *graph.Graph, opts Options) (*Interpreter, error) {
	if err := graph.Validate(g); err != nil {
		return nil, err
	}
	it := &Interpreter{G: g, Seed: opts.Seed, rng: RNG{State: SeedFor(opts.Seed, "dropout")}, vals: make([]*Tensor, len(g.Nodes)), vars: map[string]*Tensor{}, aux: make([]any, len(g.Nodes)), tmp: make([][]float64, len(g.Nodes))}
	for _, n := range g.Nodes {
		if kernels[n.Op] == nil && !n.Op.Info().Has(graph.Leaf) {
			return nil, fmt.Errorf("interpreter: no kernel for op %s (%s @ %s)", n.Op, n.Ref(), n.Pos)
		}
		if n.Type.DType == graph.Void {
			continue
		}
		if v := opts.Vars[n.Name]; v != nil && n.IsVariable() {
			if !v.Type().Equal(n.Type) {
				return nil, fmt.Errorf("interpreter: variable %q is %s, graph wants %s", n.Name, v.Type(), n.Type)
			}
			it.vals[n.ID] = v
			it.vars[n.Name] = v
			continue
		}
		t := NewTensor(n.Type)
		it.vals[n.ID] = t
		switch n.Op {
		case graph.OpParam:
			InitParam(t, n.Attrs.Init, n.Attrs.Std, n.Attrs.Data, opts.Seed, n.Name)
			it.vars[n.Name] = t
		case graph.OpState:
			for i := range t.Len() {
				t.Set(i, n.Attrs.Value)
			}
			it.vars[n.Name] = t
		case graph.OpConst:
			for i := range t.Len() {
				if n.Attrs.Data != nil {
					t.Set(i, n.Attrs.Data[i])
				} else {
					t.Set(i, n.Attrs.Value)
				}
			}
		case graph.OpCausalMask:
			T, S := n.Type.Shape[0], n.Type.Shape[1]
			for i := range T {
				for j := range S {
					t.B[i*S+j] = j <= i+(S-T)
				}
			}
		}
	}
	return it, nil
}

// Var returns a parameter or state tensor by name (nil if none). Writing into
// it changes the model.
func (it *Interpreter) Var(name string) *Tensor { return it.vars[name] }

// VarNames lists parameter and state names in graph order.
func (it *Interpreter) VarNames() []string {
	var names []string
	for _, n := range it.G.Nodes {
		if n.IsVariable() {
			names = append(names, n.Name)
		}
	}
	return names
}

// SetVar copies values into a parameter or state, checking the shape.
func (it *Interpreter) SetVar(name string, v *Tensor) error {
	t := it.vars[name]
	if t == nil {
		return fmt.Errorf("no parameter or state named %q", name)
	}
	if !t.Shape.Equal(v.Shape) {
		return fmt.Errorf("%s: shape %s, want %s", name, v.Shape, t.Shape)
	}
	for i := range t.Len() {
		t.Set(i, v.At(i))
	}
	return nil
}

// Value is the tensor computed for node n by the last Run.
func (it *Interpreter) Value(n *graph.Node) *Tensor { return it.vals[n.ID] }

// Output is a named output's value after Run.
func (it *Interpreter) Output(name string) *Tensor {
	if n := it.G.Output(name); n != nil {
		return it.vals[n.ID]
	}
	return nil
}

// Loss is the loss value after Run.
func (it *Interpreter) Loss() float64 {
	if it.G.Loss == nil {
		return 0
	}
	return it.vals[it.G.Loss.ID].At(0)
}

// Grad is d loss/d param after Run, by parameter name.
func (it *Interpreter) Grad(param string) *Tensor {
	for _, gr := range it.G.Grads {
		if gr.Param.Name == param {
			return it.vals[gr.Grad.ID]
		}
	}
	return nil
}

// CheckInputs reports the first input that is missing, unknown or mis-shaped.
func CheckInputs(g *graph.Graph, inputs map[string]*Tensor) error {
	want := map[string]*graph.Node{}
	for _, n := range g.Inputs() {
		want[n.Name] = n
		v, ok := inputs[n.Name]
		if !ok || v == nil {
			return fmt.Errorf("input %q is missing (want %s)", n.Name, n.Type)
		}
		if v.DType != n.Type.DType {
			return fmt.Errorf("input %q: dtype %s, want %s", n.Name, v.DType, n.Type.DType)
		}
		if !v.Shape.Equal(n.Type.Shape) {
			return fmt.Errorf("input %q: shape %s, want %s", n.Name, v.Shape, n.Type.Shape)
		}
	}
	var unknown []string
	for name := range inputs {
		if want[name] == nil {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, 0, len(want))
		for _, n := range g.Inputs() {
			names = append(names, n.Name)
		}
		return fmt.Errorf("unknown input %q (the model's inputs are %s)", unknown[0], strings.Join(names, ", "))
	}
	return nil
}

// Run evaluates every node on the given inputs, optimizer updates included.
func (it *Interpreter) Run(inputs map[string]*Tensor) error { return it.Eval(inputs, true) }

// Eval evaluates the graph on the given inputs; with updates false it stops
// short of the optimizer's update nodes (forward and backward only).
func (it *Interpreter) Eval(inputs map[string]*Tensor, updates bool) error {
	if err := CheckInputs(it.G, inputs); err != nil {
		return err
	}
	ins := make([]*Tensor, 0, 4)
	for _, n := range it.G.Nodes {
		switch n.Op {
		case graph.OpInput:
			_ = it.vals[n.ID].CopyFrom(inputs[n.Name])
			continue
		case graph.OpParam, graph.OpState, graph.OpConst, graph.OpCausalMask:
			continue
		}
		if !updates && n.Role == graph.RoleUpdate {
			continue
		}
		if it.eval && n.Role != graph.RoleForward {
			continue
		}
		ins = ins[:0]
		for _, x := range n.Inputs {
			ins = append(ins, it.vals[x.ID])
		}
		if err := kernels[n.Op](it, n, it.vals[n.ID], ins); err != nil {
			return fmt.Errorf("%s: %s (%s): %w", n.Pos, n.Op, n.Ref(), err)
		}
	}
	return nil
}

// kernel computes node n into out from its operand values.
type kernel func(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error

// HasKernel reports whether the interpreter can execute op.
func HasKernel(op graph.Op) bool {
	return kernels[op] != nil || op.Info().Has(graph.Leaf)
}

// DropoutRNG is the generator dropout masks draw from; its State is saved
// in checkpoints so that a resumed run draws what an unbroken one would.
func (it *Interpreter) DropoutRNG() *RNG { return &it.rng }

// EvalLoss runs the forward pass in eval mode (dropout off) and returns the
// loss: the validation loss, as the generated Model's Loss computes it.
func (it *Interpreter) EvalLoss(inputs map[string]*Tensor) (float64, error) {
	it.eval = true
	err := it.Eval(inputs, false)
	it.eval = false
	if err != nil {
		return 0, err
	}
	return it.Loss(), nil
}
