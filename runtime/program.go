package runtime

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// Program runs a compiled program's entry points on the interpreter, the
// same API the generated Model offers: one set of variables shared by
// Predict, Backward and TrainStep.
type Program struct {
	P       *graph.Program
	predict *Interpreter
	small   *Interpreter // Predict at the smaller batch (nil without)
	train   *Interpreter
	prefill *Interpreter // KV-cache entry points (nil for other models)
	decode  *Interpreter
	vars    map[string]*Tensor
}

// NewProgram makes interpreters for every entry point of p, sharing one set
// of variables.
func NewProgram(p *graph.Program, opts Options) (*Program, error) {
	pr := &Program{P: p, vars: map[string]*Tensor{}}
	opts.Vars = pr.vars
	for _, e := range []struct {
		g  *graph.Graph
		it **Interpreter
	}{{p.Train, &pr.train}, {p.Predict, &pr.predict}, {p.PredictSmall, &pr.small}, {p.Prefill, &pr.prefill}, {p.Decode, &pr.decode}} {
		if e.g == nil {
			continue
		}
		it, err := NewInterpreter(e.g, opts)
		if err != nil {
			return nil, err
		}
		for k, v := range it.vars {
			pr.vars[k] = v
		}
		*e.it = it
	}
	return pr, nil
}

// Var is a parameter or state tensor by name.
func (pr *Program) Var(name string) *Tensor { return pr.vars[name] }

// Params lists the parameters in the training graph's order (else Predict's).
func (pr *Program) Params() []*graph.Node {
	if pr.P.Train != nil {
		return pr.P.Train.Params()
	}
	return pr.P.Predict.Params()
}

// Predict runs the eval-mode forward pass and returns the named outputs.
// With a PredictSmall graph, inputs of its (smaller) batch run that one.
func (pr *Program) Predict(inputs map[string]*Tensor) (map[string]*Tensor, error) {
	g, it := pr.P.Predict, pr.predict
	if pr.small != nil && SmallBatch(pr.P, inputs) {
		g, it = pr.P.PredictSmall, pr.small
	}
	if err := it.Run(pick(g, inputs)); err != nil {
		return nil, err
	}
	out := map[string]*Tensor{}
	for _, o := range g.Results() {
		out[o.Name] = it.Value(o.Node)
	}
	return out, nil
}

// SmallBatch reports whether inputs have p's smaller Predict batch
// (PredictSmall): its first input's shape decides.
func SmallBatch(p *graph.Program, inputs map[string]*Tensor) bool {
	if p.PredictSmall == nil {
		return false
	}
	ins := p.PredictSmall.Inputs()
	if len(ins) == 0 {
		return false
	}
	x, ok := inputs[ins[0].Name]
	return ok && x.Shape.Equal(ins[0].Type.Shape)
}

// Tap is the value tapped as name by the last Predict (nil if none).
func (pr *Program) Tap(name string) *Tensor {
	if n := pr.P.Predict.Tap(name); n != nil {
		return pr.predict.Value(n)
	}
	return nil
}

// Backward runs forward and backward without updating and returns the loss.
func (pr *Program) Backward(inputs map[string]*Tensor) (float64, error) {
	if pr.train == nil {
		return 0, fmt.Errorf("%s has no loss to differentiate", pr.P.Name)
	}
	if err := pr.train.Eval(inputs, false); err != nil {
		return 0, err
	}
	return pr.train.Loss(), nil
}

// TrainStep runs forward, backward and the optimizer update; it returns the loss.
func (pr *Program) TrainStep(inputs map[string]*Tensor) (float64, error) {
	if pr.train == nil {
		return 0, fmt.Errorf("%s has no loss to train", pr.P.Name)
	}
	if err := pr.train.Run(inputs); err != nil {
		return 0, err
	}
	return pr.train.Loss(), nil
}

// Grad is d loss/d param after Backward or TrainStep.
func (pr *Program) Grad(param string) *Tensor {
	if pr.train == nil {
		return nil
	}
	return pr.train.Grad(param)
}

// Train is the training interpreter (nil without a loss).
func (pr *Program) Train() *Interpreter { return pr.train }

// pick keeps the inputs g declares, so a caller may pass the training batch
// (with targets) to Predict.
func pick(g *graph.Graph, inputs map[string]*Tensor) map[string]*Tensor {
	out := map[string]*Tensor{}
	for _, n := range g.Inputs() {
		if v, ok := inputs[n.Name]; ok {
			out[n.Name] = v
		}
	}
	return out
}
