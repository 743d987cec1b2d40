package passes

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// OptimizerConfig chooses the update rule appended after the backward pass.
type OptimizerConfig struct {
	Kind string  // "sgd" (default)
	LR   float64 // learning rate (default 0.1)
}

// Optimizer appends the update nodes that apply each gradient to its
// parameter, one fused update node per parameter.
//
// Assumes: g holds gradients (Autodiff has run). Guarantees: the new nodes
// have role update and come after every forward and backward node, so each
// variable is read before it is overwritten.
func Optimizer(g *graph.Graph, cfg OptimizerConfig) error {
	if len(g.Grads) == 0 {
		return fmt.Errorf("%s: optimizer: the graph has no gradients (run autodiff first)", g.Name)
	}
	if cfg.Kind == "" {
		cfg.Kind = "sgd"
	}
	if cfg.LR == 0 {
		cfg.LR = 0.1
	}
	if cfg.Kind != "sgd" {
		return fmt.Errorf("optimizer: unknown kind %q (want sgd)", cfg.Kind)
	}
	dt := g.Grads[0].Param.Type.DType
	b := &graph.Builder{G: g, Role: graph.RoleUpdate}
	lr := b.Const(dt, cfg.LR)
	if lr != nil {
		lr.Name = "lr"
	}
	for _, gr := range g.Grads {
		b.Pos = gr.Param.Pos
		b.Apply(graph.OpApplySGD, graph.Attrs{}, gr.Param, gr.Grad, lr)
	}
	if b.Err != nil {
		return fmt.Errorf("%s: optimizer: %w", g.Name, b.Err)
	}
	return graph.Validate(g)
}
