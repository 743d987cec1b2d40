// Package compile is mlc's front door: it builds a model's entry-point graphs
// from its DSL Build function (autodiff, optimizer, passes) and hands them to
// the code generator. The CLI, go:generate and the drivers that compile users'
// own packages all go through it.
package compile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// Options control compilation.
type Options struct {
	Float     graph.DType            // float dtype (default: the model's, else f64)
	Optimizer passes.OptimizerConfig // update rule of TrainStep
	Config    string                 // canonical config string, recorded in the program
	L2        float64                // strength λ of the λ/2·‖w‖² loss term (0: none)
	L2Params  []string               // parameters it applies to (default: every weight matrix)
	Passes    passes.Options         // optimization pipeline switches (-O0, -disable, dumps)
	// Decode asks for the KV-cache entry points (Prefill, DecodeStep): "auto"
	// (the default, "") derives them when the model is a causal decoder,
	// "on" fails with the reason when it is not, "off" skips them.
	Decode string
	// Taps are the tapped values (dsl Tensor.Tap) Predict keeps for the
	// caller to read; "all" keeps every one. The rest are dropped before
	// the passes run, so they cost nothing.
	Taps  []string
	Stats *passes.Stats // filled with rewrite counts and pass times when set
	// DropoutInputs makes the training graph's dropout masks inputs the
	// caller gives (passes.DropoutInputs), so that a step can be checked
	// against another framework's.
	DropoutInputs bool
	// Weights, graph.I8 or graph.BF16, stores the inference entry points'
	// weight matrices in that format and drops training (passes.Quantize);
	// graph.Invalid keeps them in Float.
	Weights graph.DType
	// Values, when set, replaces the initial values of the parameters it
	// names (a trained checkpoint's): the package starts from them, and
	// Weights converts them.
	Values map[string][]float64
	// Precision graph.BF16 gives the training graph bf16 mixed precision's
	// rounding points (passes.MixedPrecision); graph.Invalid: none.
	Precision graph.DType
	// Converted, with Weights, is a file of WeightsFile (mlc quantize): its
	// converted weights are used as they are, and its F32 tensors are the
	// other parameters' values.
	Converted *safetensors.File
}

// Result is a compiled program with the warnings found on the way.
type Result struct {
	Program  *graph.Program
	Warnings []string
	// StageStats are the pass statistics of each entry point's graph,
	// when Options.Stats asked for statistics (which then holds their sum).
	StageStats map[*graph.Graph]*passes.Stats
}

// Build compiles a model given by its Build function.
func Build(name, source string, build func(b *dsl.Builder), opts Options) (*Result, error) {
	if opts.Float == graph.Invalid {
		opts.Float = graph.F64
	}
	pred, err := dsl.Build(name, source, dsl.Options{Float: opts.Float}, build)
	if err != nil {
		return nil, err
	}
	var train *graph.Graph
	if pred.Loss != nil {
		if train, err = dsl.Build(name, source, dsl.Options{Float: opts.Float, Train: true}, build); err != nil {
			return nil, err
		}
	}
	return FromGraphs(pred, train, opts)
}

// FromGraphs compiles a model from the graphs its Build function gives in
// eval mode (pred) and training mode (train; nil when it has no loss).
func FromGraphs(pred, train *graph.Graph, opts Options) (*Result, error) {
	return fromGraphs(pred, nil, train, opts)
}

// fromGraphs is FromGraphs with Predict at a smaller batch too (nil: none).
func fromGraphs(pred, small, train *graph.Graph, opts Options) (*Result, error) {
	name := pred.Name
	prog := &graph.Program{Name: name, Source: pred.Source, Config: opts.Config, Float: opts.Float}
	if prog.Float == graph.Invalid {
		prog.Float = graph.F64
	}
	pred.Loss = nil // Predict computes outputs only
	if err := keepTaps(pred, opts.Taps); err != nil {
		return nil, err
	}
	passes.DCE(pred)
	passes.PruneInputs(pred) // Predict takes only the inputs its outputs need
	if len(pred.Results()) == 0 {
		return nil, fmt.Errorf("%s: the model declares no outputs (call b.Output in its Build function)", name)
	}
	prog.Predict = pred
	if small != nil {
		small.Loss = nil
		if err := keepTaps(small, nil); err != nil {
			return nil, err
		}
		passes.DCE(small)
		passes.PruneInputs(small)
		if err := checkSmallBatch(pred, small); err != nil {
			return nil, err
		}
		prog.PredictSmall = small
	}
	if opts.Decode != "off" {
		plain := pred.Clone()
		plain.Outputs = plain.Results() // taps are read after Predict; decoding has none
		prefill, decode, err := passes.KVCache(plain)
		switch {
		case err == nil:
			prog.Prefill, prog.Decode = prefill, decode
		case opts.Decode == "on":
			return nil, err
		}
	}

	res := &Result{Program: prog}
	qo := passes.QuantizeOptions{To: opts.Weights, Values: initialValues}
	if opts.Converted != nil {
		vals, stored, err := fromWeightsFile(opts.Converted, opts.Weights)
		if err != nil {
			return nil, err
		}
		if opts.Values == nil {
			opts.Values = vals
		}
		qo.Stored = stored
	}
	if err := setValues(prog, train, opts.Values); err != nil {
		return nil, err
	}
	if opts.Weights != graph.Invalid {
		if _, err := passes.Quantize(prog, qo); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		train = nil // an inference-only package
	}
	if train != nil {
		train.Outputs = train.Results() // taps are Predict's
		if opts.DropoutInputs {
			if _, err := passes.DropoutInputs(train); err != nil {
				return nil, err
			}
		}
		if err := passes.L2(train, opts.L2, opts.L2Params); err != nil {
			return nil, err
		}
		warns, err := passes.Autodiff(train, passes.AutodiffOptions{})
		if err != nil {
			return nil, err
		}
		res.Warnings = append(res.Warnings, warns...)
		if err := passes.Optimizer(train, opts.Optimizer); err != nil {
			return nil, err
		}
		passes.DCE(train)
		switch opts.Precision {
		case graph.Invalid:
		case graph.BF16:
			if err := passes.MixedPrecision(train); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: precision %s: want bf16", name, opts.Precision)
		}
		prog.Train = train
	}
	popts := opts.Passes
	popts.Validate = true // cheap, and a broken invariant names the pass
	for _, g := range prog.Graphs() {
		st := opts.Stats
		if st != nil {
			// Each entry point's own counts, and the sum in opts.Stats.
			st = passes.NewStats()
			if res.StageStats == nil {
				res.StageStats = map[*graph.Graph]*passes.Stats{}
			}
			res.StageStats[g] = st
		}
		if err := passes.Run(g, popts, st); err != nil {
			return nil, err
		}
		opts.Stats.Add(st)
		if err := graph.Validate(g); err != nil {
			return nil, fmt.Errorf("%s: internal error after compiling: %w", name, err)
		}
	}
	if opts.Stats != nil {
		res.Warnings = append(res.Warnings, opts.Stats.Warnings...)
	}
	return res, nil
}

// Zoo compiles a zoo model with a config spec ("k=v,k=v").
func Zoo(name, config string, opts Options) (*Result, error) {
	e, err := models.Lookup(name)
	if err != nil {
		return nil, err
	}
	cfg, err := e.Config(config)
	if err != nil {
		return nil, err
	}
	if opts.Float == graph.Invalid {
		opts.Float = e.Float
	}
	opts.Config = dsl.FormatConfig(cfg)
	return Build(e.Name, e.Source, func(b *dsl.Builder) { e.BuildInto(b, cfg) }, opts)
}

// keepTaps drops the taps of g not named in want ("all": keep every one),
// failing on a name g does not tap.
func keepTaps(g *graph.Graph, want []string) error {
	all := slices.Contains(want, "all")
	var names []string
	for _, t := range g.Taps() {
		names = append(names, t.Name)
	}
	for _, w := range want {
		if w != "all" && !slices.Contains(names, w) {
			if len(names) == 0 {
				return fmt.Errorf("%s taps no values, so there is no tap %q", g.Name, w)
			}
			return fmt.Errorf("%s has no tap %q (its taps: %s)", g.Name, w, strings.Join(names, ", "))
		}
	}
	g.Outputs = slices.DeleteFunc(g.Outputs, func(o graph.Output) bool { return o.Tap && !all && !slices.Contains(want, o.Name) })
	return nil
}
