package mechinterp

import (
	"fmt"
	"maps"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/train"
)

// Engine says which engine runs a model.
type Engine string

const (
	// EngineGen runs the generated Go code in a runner process (the
	// default: what the mlc commands use).
	EngineGen Engine = "gen"
	// EngineInterp runs mlc's reference interpreter in this process.
	EngineInterp Engine = "interp"
)

// ParseEngine reads an engine name ("" is EngineGen).
func ParseEngine(s string) (Engine, error) {
	switch Engine(s) {
	case "", EngineGen:
		return EngineGen, nil
	case EngineInterp:
		return EngineInterp, nil
	}
	return "", fmt.Errorf("engine must be gen or interp, got %q", s)
}

// Prediction is what one call of Predict returns: the named outputs and the
// values tapped in the compiled program (compile.Options.Taps).
type Prediction struct {
	Outputs map[string]runtime.JSONTensor
	Taps    map[string]runtime.JSONTensor
}

// Predictor runs a compiled program's Predict entry point with fixed
// parameters, on either engine.
type Predictor interface {
	Predict(inputs data.Batch) (*Prediction, error)
	// Close releases the engine (stops a runner process).
	Close()
}

// NewPredictor starts prog on the engine with the given parameters (any
// left out keep the program's initial values; nil keeps them all).
func NewPredictor(prog *graph.Program, params map[string]runtime.JSONTensor, engine Engine) (Predictor, error) {
	if err := compile.CheckMemory(prog, engine == EngineInterp); err != nil {
		return nil, err
	}
	switch engine {
	case "", EngineGen:
		srv, err := startRunner(prog, 0)
		if err != nil {
			return nil, err
		}
		if len(params) > 0 {
			if _, err := srv.Do(compile.RunRequest{Cmd: "set", Params: params}); err != nil {
				srv.Close()
				return nil, err
			}
		}
		return ServerPredictor(srv), nil
	case EngineInterp:
		pr, err := runtime.NewProgram(prog, runtime.Options{})
		if err != nil {
			return nil, err
		}
		for name, j := range params {
			v := pr.Var(name)
			if v == nil {
				return nil, fmt.Errorf("%s has no parameter %q", prog.Name, name)
			}
			t, err := j.Tensor(v.DType)
			if err != nil {
				return nil, fmt.Errorf("parameter %q: %v", name, err)
			}
			if !t.Shape.Equal(v.Shape) {
				return nil, fmt.Errorf("parameter %q: shape %s, want %s", name, t.Shape, v.Shape)
			}
			if err := v.CopyFrom(t); err != nil {
				return nil, fmt.Errorf("parameter %q: %v", name, err)
			}
		}
		return &interpPredictor{prog: prog, pr: pr}, nil
	}
	return nil, fmt.Errorf("engine must be gen or interp, got %q", engine)
}

// PredictorFunc makes a function a Predictor (Close does nothing): the way
// to analyse a generated package running in one's own process, whose typed
// Predict and Tap(name) the function calls.
type PredictorFunc func(inputs data.Batch) (*Prediction, error)

// Predict calls f.
func (f PredictorFunc) Predict(inputs data.Batch) (*Prediction, error) { return f(inputs) }

// Close does nothing.
func (f PredictorFunc) Close() {}

// ServerPredictor adapts a running generated model (compile.StartServer)
// to Predictor; Close stops it.
func ServerPredictor(srv *compile.Server) Predictor { return serverPredictor{srv} }

type serverPredictor struct{ srv *compile.Server }

func (s serverPredictor) Predict(inputs data.Batch) (*Prediction, error) {
	res, err := s.srv.Do(compile.RunRequest{Cmd: "predict", Inputs: inputs})
	if err != nil {
		return nil, err
	}
	return &Prediction{Outputs: res.Outputs, Taps: res.Taps}, nil
}

func (s serverPredictor) Close() { s.srv.Close() }

type interpPredictor struct {
	prog *graph.Program
	pr   *runtime.Program
}

func (p *interpPredictor) Predict(inputs data.Batch) (*Prediction, error) {
	// Predict takes a part of what a caller may give (a training batch
	// with its targets): the generated runner ignores the rest, and so
	// does this.
	inputs = maps.Clone(inputs)
	maps.DeleteFunc(inputs, func(name string, _ runtime.JSONTensor) bool {
		n := p.prog.Predict.Find(name)
		return n == nil || n.Op != graph.OpInput
	})
	in, err := runtime.BindInputs(p.prog.Predict, "inputs", inputs)
	if err != nil {
		return nil, err
	}
	outs, err := p.pr.Predict(in)
	if err != nil {
		return nil, err
	}
	res := &Prediction{Outputs: map[string]runtime.JSONTensor{}, Taps: map[string]runtime.JSONTensor{}}
	for name, t := range outs {
		res.Outputs[name] = runtime.ToJSON(t)
	}
	for _, tp := range p.prog.Predict.Taps() {
		res.Taps[tp.Name] = runtime.ToJSON(p.pr.Tap(tp.Name))
	}
	return res, nil
}

func (p *interpPredictor) Close() {}

// startRunner builds prog's generated runner and starts it.
func startRunner(prog *graph.Program, seed uint64) (*compile.Server, error) {
	bin, err := compile.BuildRunner(prog)
	if err != nil {
		return nil, err
	}
	return compile.StartServer(bin, seed)
}

// trainer is a model the package trains itself (a probe, an SAE) on one
// engine; close releases it.
type trainer struct {
	train.Model
	close func()
}

// builtTrainer starts prog for training: from bin (its built runner, ""
// to build it) on EngineGen, in the interpreter on EngineInterp.
func newTrainer(prog *graph.Program, bin string, engine Engine, seed uint64) (*trainer, error) {
	switch engine {
	case "", EngineGen:
		var err error
		if bin == "" {
			if bin, err = compile.BuildRunner(prog); err != nil {
				return nil, err
			}
		}
		srv, err := compile.StartServer(bin, seed)
		if err != nil {
			return nil, err
		}
		return &trainer{Model: train.Remote(srv), close: func() { srv.Close() }}, nil
	case EngineInterp:
		m, err := train.Interpreted(prog, seed)
		if err != nil {
			return nil, err
		}
		return &trainer{Model: m, close: func() {}}, nil
	}
	return nil, fmt.Errorf("engine must be gen or interp, got %q", engine)
}

// orNop is log, or a function that prints nothing when log is nil.
func orNop(log func(format string, args ...any)) func(format string, args ...any) {
	if log == nil {
		return func(string, ...any) {}
	}
	return log
}
