package train

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// Interpreted runs a compiled program on mlc's reference interpreter as a
// Model: the same loop, checkpoints and schedules as generated code, for
// checking one against the other or training where no Go toolchain runs.
// seed initialises the parameters and dropout as NewSeeded(seed) does.
func Interpreted(prog *graph.Program, seed uint64) (Model, error) {
	if prog.Train == nil {
		return nil, fmt.Errorf("%s has no loss to train", prog.Name)
	}
	pr, err := runtime.NewProgram(prog, runtime.Options{Seed: seed})
	if err != nil {
		return nil, err
	}
	return &interp{prog: prog, pr: pr}, nil
}

type interp struct {
	prog *graph.Program
	pr   *runtime.Program
}

func (m *interp) Train(batch data.Batch, n int) (Steps, error) {
	in, err := runtime.BindInputs(m.prog.Train, "batch", batch)
	if err != nil {
		return Steps{}, err
	}
	var s Steps
	for range n {
		loss, err := m.pr.TrainStep(in)
		if err != nil {
			return s, err
		}
		s.Losses = append(s.Losses, loss)
		sum := 0.0
		for _, p := range m.pr.Params() {
			g := m.pr.Grad(p.Name)
			for i := range g.Len() {
				sum += g.At(i) * g.At(i)
			}
		}
		s.GradNorm = math.Sqrt(sum)
		if !finite(loss) || !finite(s.GradNorm) {
			s.Diverged = true
			break
		}
	}
	return s, nil
}

func (m *interp) Loss(batch data.Batch) (float64, error) {
	in, err := runtime.BindInputs(m.prog.Train, "batch", batch)
	if err != nil {
		return 0, err
	}
	return m.pr.Train().EvalLoss(in)
}

func (m *interp) Predict(batch data.Batch) (map[string]runtime.JSONTensor, error) {
	in, err := runtime.BindInputs(m.prog.Predict, "batch", pick(m.prog.Predict, batch))
	if err != nil {
		return nil, err
	}
	outs, err := m.pr.Predict(in)
	if err != nil {
		return nil, err
	}
	res := map[string]runtime.JSONTensor{}
	for name, t := range outs {
		res[name] = runtime.ToJSON(t)
	}
	return res, nil
}

// pick keeps the batch's tensors that g takes as inputs.
func pick(g *graph.Graph, batch data.Batch) data.Batch {
	out := data.Batch{}
	for _, n := range g.Inputs() {
		if t, ok := batch[n.Name]; ok {
			out[n.Name] = t
		}
	}
	return out
}

func (m *interp) stateNames() []string {
	var names []string
	for _, s := range m.prog.Train.NodesWithOp(graph.OpState) {
		names = append(names, s.Name)
	}
	return names
}

func (m *interp) Snapshot() (*Snapshot, error) {
	s := &Snapshot{Params: map[string]runtime.JSONTensor{}, State: map[string]runtime.JSONTensor{},
		RNG: strconv.FormatUint(m.pr.Train().DropoutRNG().State, 10)}
	for _, p := range m.pr.Params() {
		s.Params[p.Name] = runtime.ToJSON(m.pr.Var(p.Name))
	}
	for _, name := range m.stateNames() {
		s.State[name] = runtime.ToJSON(m.pr.Var(name))
	}
	return s, nil
}

func (m *interp) Restore(s *Snapshot) error {
	for _, set := range []map[string]runtime.JSONTensor{s.Params, s.State} {
		for name, j := range set {
			v := m.pr.Var(name)
			if v == nil {
				return fmt.Errorf("the model has no variable %q", name)
			}
			t, err := j.Tensor(v.DType)
			if err != nil {
				return fmt.Errorf("%q: %v", name, err)
			}
			if t.Len() != v.Len() {
				return fmt.Errorf("%q has %d values, the model's %d", name, t.Len(), v.Len())
			}
			for i := range t.Len() {
				v.Set(i, t.At(i))
			}
		}
	}
	if s.RNG != "" {
		st, err := strconv.ParseUint(s.RNG, 10, 64)
		if err != nil {
			return fmt.Errorf("bad dropout generator state %q", s.RNG)
		}
		m.pr.Train().DropoutRNG().State = st
	}
	return nil
}

// SetLR sets the run-time learning rate (see Options.LR).
func (m *interp) SetLR(lr float64) error {
	v := m.pr.Var("hyper.lr")
	if v == nil {
		return fmt.Errorf("the model has no run-time learning rate (it was compiled with a schedule)")
	}
	v.Set(0, lr)
	return nil
}
