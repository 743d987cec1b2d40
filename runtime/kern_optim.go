package runtime

import "github.com/mlc-dev/mlc/graph"

// Optimizer updates write their first operand (a variable) in place.

func kernApplySGD(_ *Interpreter, _ *graph.Node, _ *Tensor, in []*Tensor) error {
	p, g, lr := in[0], in[1], in[2].At(0)
	for i := range p.Len() {
		p.Set(i, p.At(i)-lr*g.At(i))
	}
	return nil
}
