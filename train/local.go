package train

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/runtime"
)

// Compiled is what every generated package's Model has (of float type T,
// with a loss): the methods by which a library drives it by names. Any
// generated *Model satisfies it; Local makes it a Model for Run.
type Compiled[T float32 | float64] interface {
	ParamNames() []string
	Param(name string) []T
	Grad(name string) []T
	StateNames() []string
	StateVar(name string) []T
	VarShape(name string) []int
	RNGState() uint64
	SetRNGState(uint64)
	TrainInputs() []string
	TrainInput(name string) (floats []T, ids []int32, masks []bool)
	StepInPlace() (float64, error)
	LossInPlace() (float64, error)
}

// Local adapts a generated Model in this process to Model: a Go program
// trains its own compiled model with Run through it.
func Local[T float32 | float64](m Compiled[T]) Model {
	return &local[T]{m: m, params: m.ParamNames(), state: m.StateNames(), inputs: m.TrainInputs()}
}

type local[T float32 | float64] struct {
	m                     Compiled[T]
	params, state, inputs []string
}

// feed copies a batch into the Model's input buffers.
func (l *local[T]) feed(batch data.Batch) error {
	for _, name := range l.inputs {
		t, ok := batch[name]
		if !ok {
			return fmt.Errorf("the batch lacks input %q", name)
		}
		fs, ids, masks := l.m.TrainInput(name)
		n := len(fs) + len(ids) + len(masks)
		if len(t.Data) != n {
			return fmt.Errorf("input %q has %d values, want %d", name, len(t.Data), n)
		}
		for i, v := range t.Data {
			switch x := float64(v); {
			case fs != nil:
				fs[i] = T(x)
			case ids != nil:
				if x != math.Trunc(x) || x < math.MinInt32 || x > math.MaxInt32 {
					return fmt.Errorf("input %q: value %s at %d is not a 32-bit integer id", name, strconv.FormatFloat(x, 'f', -1, 64), i)
				}
				ids[i] = int32(x)
			default:
				masks[i] = x != 0
			}
		}
	}
	return nil
}

func (l *local[T]) Train(batch data.Batch, n int) (Steps, error) {
	var s Steps
	for range n {
		if err := l.feed(batch); err != nil {
			return s, err
		}
		loss, err := l.m.StepInPlace()
		if err != nil {
			return s, err
		}
		s.Losses = append(s.Losses, loss)
		sum := 0.0
		for _, p := range l.params {
			for _, g := range l.m.Grad(p) {
				sum += float64(g) * float64(g)
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

func (l *local[T]) Loss(batch data.Batch) (float64, error) {
	if err := l.feed(batch); err != nil {
		return 0, err
	}
	return l.m.LossInPlace()
}

func (l *local[T]) Predict(data.Batch) (map[string]runtime.JSONTensor, error) {
	return nil, fmt.Errorf("train.Local does not run Predict: call the Model's own Predict")
}

func tensorOf[T float32 | float64](d []T, shape []int) runtime.JSONTensor {
	j := runtime.JSONTensor{Shape: append([]int{}, shape...), Data: make([]runtime.JSONFloat, len(d))}
	for i, v := range d {
		j.Data[i] = runtime.JSONFloat(v)
	}
	return j
}

// Snapshot copies the parameters and the optimizer state.
func (l *local[T]) Snapshot() (*Snapshot, error) {
	s := &Snapshot{Params: map[string]runtime.JSONTensor{}, State: map[string]runtime.JSONTensor{}, RNG: strconv.FormatUint(l.m.RNGState(), 10)}
	for _, p := range l.params {
		s.Params[p] = tensorOf(l.m.Param(p), l.m.VarShape(p))
	}
	for _, v := range l.state {
		s.State[v] = tensorOf(l.m.StateVar(v), l.m.VarShape(v))
	}
	return s, nil
}

func (l *local[T]) Restore(s *Snapshot) error {
	set := func(kind, name string, dst []T, src runtime.JSONTensor) error {
		if len(src.Data) != len(dst) {
			return fmt.Errorf("%s %q has %d values, the model's %d", kind, name, len(src.Data), len(dst))
		}
		for i, v := range src.Data {
			dst[i] = T(v)
		}
		return nil
	}
	for name, t := range s.Params {
		dst := l.m.Param(name)
		if dst == nil {
			return fmt.Errorf("the model has no parameter %q", name)
		}
		if err := set("parameter", name, dst, t); err != nil {
			return err
		}
	}
	for name, t := range s.State {
		dst := l.m.StateVar(name)
		if dst == nil {
			return fmt.Errorf("the model has no optimizer state %q", name)
		}
		if err := set("optimizer state", name, dst, t); err != nil {
			return err
		}
	}
	if s.RNG != "" {
		v, err := strconv.ParseUint(s.RNG, 10, 64)
		if err != nil {
			return fmt.Errorf("bad dropout generator state %q", s.RNG)
		}
		l.m.SetRNGState(v)
	}
	return nil
}

// SetLR sets the model's run-time learning rate (see Options.LR).
func (l *local[T]) SetLR(lr float64) error {
	s, ok := l.m.(interface{ SetLR(float64) })
	if !ok {
		return fmt.Errorf("the model has no run-time learning rate (it was compiled with a schedule)")
	}
	s.SetLR(lr)
	return nil
}
