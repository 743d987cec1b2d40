package passes

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlc-dev/mlc/graph"
)

// OptimizerConfig chooses the update rule appended after the backward pass.
// Zero fields take the kind's defaults (PyTorch's, except where noted).
type OptimizerConfig struct {
	Kind  string  // sgd (default), momentum, ema-momentum, rmsprop, adam, adamw
	LR    float64 // peak learning rate (default 0.1 for the SGD family, 0.001 for Adam)
	Beta1 float64 // momentum μ, EMA β, RMSProp α or Adam β₁ (0.9; RMSProp 0.99)
	Beta2 float64 // Adam β₂ (0.999)
	Eps   float64 // RMSProp and Adam ε (1e-8)
	WD    float64 // AdamW decoupled weight decay (0.01)

	Warmup int     // linear warmup updates (0: none)
	Steps  int     // total updates for the cosine decay (0: constant after warmup)
	LRMin  float64 // rate the cosine decay ends at
	Clip   float64 // global gradient-norm limit (0: no clipping)

	// Resolved says every field is final: a zero is a zero, not "the
	// kind's default". Callers that take explicit values (flags a user
	// set, where 0 means 0) fill the defaults with Defaults first, then
	// set what the user gave and Resolved.
	Resolved bool `json:",omitempty"`
}

// OptimizerKinds lists the accepted Kind values.
var OptimizerKinds = []string{"sgd", "momentum", "ema-momentum", "rmsprop", "adam", "adamw"}

// Defaults fills in the kind's defaults and checks the values.
func (c OptimizerConfig) Defaults() (OptimizerConfig, error) {
	if c.Kind == "" {
		c.Kind = "sgd"
	}
	def := func(v *float64, d float64) {
		if *v == 0 && !c.Resolved {
			*v = d
		}
	}
	switch c.Kind {
	case "sgd":
		def(&c.LR, 0.1)
	case "momentum", "ema-momentum":
		def(&c.LR, 0.1)
		def(&c.Beta1, 0.9)
	case "rmsprop":
		def(&c.LR, 0.01)
		def(&c.Beta1, 0.99)
		def(&c.Eps, 1e-8)
	case "adam", "adamw":
		def(&c.LR, 0.001)
		def(&c.Beta1, 0.9)
		def(&c.Beta2, 0.999)
		def(&c.Eps, 1e-8)
		if c.Kind == "adamw" {
			def(&c.WD, 0.01)
		}
	default:
		return c, fmt.Errorf("unknown optimizer %q (want %s)", c.Kind, strings.Join(OptimizerKinds, ", "))
	}
	for _, v := range []float64{c.LR, c.Beta1, c.Beta2, c.Eps, c.WD, c.LRMin, c.Clip} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return c, fmt.Errorf("optimizer settings must be finite numbers, got %v", v)
		}
	}
	switch {
	case c.LR <= 0:
		return c, fmt.Errorf("learning rate must be positive, got %v", c.LR)
	case c.Eps < 0 || c.LRMin < 0:
		return c, fmt.Errorf("eps and the final learning rate must not be negative")
	case c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1:
		return c, fmt.Errorf("betas must be in [0, 1), got %v and %v", c.Beta1, c.Beta2)
	case c.WD < 0 || c.Clip < 0 || c.Warmup < 0 || c.Steps < 0:
		return c, fmt.Errorf("weight decay, clip, warmup and steps must not be negative")
	case c.Steps > 0 && c.Steps <= c.Warmup:
		return c, fmt.Errorf("the schedule's steps (%d) must exceed its warmup (%d)", c.Steps, c.Warmup)
	case c.WD != 0 && c.Kind != "adamw":
		return c, fmt.Errorf("weight decay is AdamW's (-opt adamw); use L2 regularisation for the others")
	}
	return c, nil
}

// Optimizer appends the update nodes: per parameter one fused update node
// that writes the parameter and its optimizer state; around them the scalar
// computations they share (step count, learning-rate schedule, clipping).
//
// Assumes: g holds gradients (Autodiff has run). Guarantees: the new nodes
// have role update and come after every forward and backward node, so each
// variable is read before it is overwritten; optimizer state variables are
// named "<param>.m", "<param>.v" (or ".v" alone) and the update counter
// "updates", starting at zero; without a schedule the learning rate is the
// variable "hyper.lr", starting at the configured rate, and the kind's other
// hyperparameters are always variables: "hyper.beta1" (momentum μ, RMSProp α
// or Adam β₁), "hyper.beta2", "hyper.eps" and "hyper.wd" (AdamW).
func Optimizer(g *graph.Graph, cfg OptimizerConfig) error {
	if len(g.Grads) == 0 {
		return fmt.Errorf("%s: optimizer: the graph has no gradients (run autodiff first)", g.Name)
	}
	c, err := cfg.Defaults()
	if err != nil {
		return fmt.Errorf("%s: optimizer: %w", g.Name, err)
	}
	dt := g.Grads[0].Param.Type.DType
	b := &graph.Builder{G: g, Role: graph.RoleUpdate}
	state := func(name string, t graph.Type, value ...float64) *graph.Node {
		var a graph.Attrs
		if len(value) > 0 {
			a.Value = value[0]
		}
		n, err := g.Leaf(graph.OpState, name, t, a)
		if err != nil && b.Err == nil {
			b.Err = err
		}
		return n
	}

	// t: the 1-based number of this update; the State "updates" counts them.
	var t *graph.Node
	needStep := c.Kind == "adam" || c.Kind == "adamw" || c.Warmup > 0 || c.Steps > 0
	var step *graph.Node
	if needStep {
		step = state("updates", graph.T(dt))
		t = b.Add(step, b.Const(dt, 1))
		if t != nil {
			t.Name = "t"
		}
	}
	// Without a compiled schedule the rate is a variable, "hyper.lr", that starts
	// at c.LR: the generated Model's SetLR changes it between steps (a
	// schedule run by the caller), and checkpoints keep it.
	var lr *graph.Node
	if c.Warmup > 0 || c.Steps > 0 {
		lr = b.Apply(graph.OpLRSchedule, graph.Attrs{LR: c.LR, Warmup: c.Warmup, Steps: c.Steps, LRMin: c.LRMin}, t)
	} else {
		lr = state("hyper.lr", graph.T(dt), c.LR)
	}
	if lr != nil && lr.Op == graph.OpLRSchedule {
		lr.Name = "lr"
	}
	scale := b.Const(dt, 1)
	if c.Clip > 0 {
		grads := make([]*graph.Node, len(g.Grads))
		for i, gr := range g.Grads {
			grads[i] = gr.Grad
		}
		norm := b.Apply(graph.OpGlobalNorm, graph.Attrs{}, grads...)
		if norm != nil {
			norm.Name = "grad_norm"
		}
		// PyTorch's clip_grad_norm_: scale by max/(‖g‖ + 1e-6) when that is below 1.
		scale = b.Apply(graph.OpMinimum, graph.Attrs{}, b.Const(dt, 1), b.Div(b.Const(dt, c.Clip), b.Add(norm, b.Const(dt, 1e-6))))
		if scale != nil {
			scale.Name = "clip_scale"
		}
	}
	// The other hyperparameters are run-time variables too, "hyper.<name>",
	// starting at the configured values: the generated Model's setters
	// (SetBeta1, SetEps, ...) change them between steps.
	hyper := func(name string, v float64) *graph.Node { return state("hyper."+name, graph.T(dt), v) }
	var hyp []*graph.Node
	switch c.Kind {
	case "momentum", "ema-momentum":
		hyp = []*graph.Node{hyper("beta1", c.Beta1)}
	case "rmsprop":
		hyp = []*graph.Node{hyper("beta1", c.Beta1), hyper("eps", c.Eps)}
	case "adam", "adamw":
		hyp = []*graph.Node{hyper("beta1", c.Beta1), hyper("beta2", c.Beta2), hyper("eps", c.Eps)}
		if c.Kind == "adamw" {
			hyp = append(hyp, hyper("wd", c.WD))
		}
	}
	for _, gr := range g.Grads {
		p := gr.Param
		b.Pos = p.Pos
		switch c.Kind {
		case "sgd":
			b.Apply(graph.OpApplySGD, graph.Attrs{}, p, gr.Grad, lr, scale)
		case "momentum", "ema-momentum":
			op := graph.OpApplyMomentum
			if c.Kind == "ema-momentum" {
				op = graph.OpApplyEMAMomentum
			}
			v := state(p.Name+".v", p.Type)
			b.Apply(op, graph.Attrs{}, append([]*graph.Node{p, gr.Grad, v, lr, scale}, hyp...)...)
		case "rmsprop":
			v := state(p.Name+".v", p.Type)
			b.Apply(graph.OpApplyRMSProp, graph.Attrs{}, append([]*graph.Node{p, gr.Grad, v, lr, scale}, hyp...)...)
		case "adam", "adamw":
			m := state(p.Name+".m", p.Type)
			v := state(p.Name+".v", p.Type)
			b.Apply(graph.OpApplyAdam, graph.Attrs{}, append([]*graph.Node{p, gr.Grad, m, v, lr, t, scale}, hyp...)...)
		}
	}
	if needStep {
		b.Pos = graph.Pos{}
		b.Apply(graph.OpAssign, graph.Attrs{}, step, t)
	}
	if b.Err != nil {
		return fmt.Errorf("%s: optimizer: %w", g.Name, b.Err)
	}
	// State leaves were appended after the nodes that use them: move every
	// State to the front so operands precede their users.
	moveLeavesFirst(g)
	return graph.Validate(g)
}

// moveLeavesFirst puts State nodes before everything else, keeping order.
func moveLeavesFirst(g *graph.Graph) {
	var leaves, rest []*graph.Node
	for _, n := range g.Nodes {
		if n.Op == graph.OpState {
			leaves = append(leaves, n)
		} else {
			rest = append(rest, n)
		}
	}
	g.Nodes = append(leaves, rest...)
	g.Renumber()
}
