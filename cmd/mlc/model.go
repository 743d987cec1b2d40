package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
)

// modelFlags are the flags every model-taking verb shares: one model source
// for all of them (compile.Resolve).
type modelFlags struct {
	model    string
	config   string
	dtype    string
	taps     string
	fn       string
	timeout  time.Duration
	buildMem int // MiB
	loss     string
	lossOut  string
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.model, "model", "", "the model: a zoo name (see mlc list), or a Go package path (./model, example.com/m/model) holding func Build(b *dsl.Builder[, c Config])")
	fs.StringVar(&m.config, "config", "", "config overrides as key=value,key=value")
	fs.StringVar(&m.dtype, "dtype", "", "float dtype: f32 or f64 (default: the model's)")
	fs.StringVar(&m.fn, "func", "Build", "with a package: the Build function to compile")
	fs.DurationVar(&m.timeout, "timeout", compile.DefaultTimeout, "with a package: how long building and running its Build may take")
	fs.IntVar(&m.buildMem, "build-mem", 0, "with a package: MiB of memory its Build may use (default: half the memory available)")
	fs.StringVar(&m.loss, "loss", "", "with an ONNX file: attach a training loss, cross_entropy, mse or bce_with_logits, whose targets are the input <output>_target")
	fs.StringVar(&m.lossOut, "loss-output", "", "with -loss: the output it applies to (default: the model's first)")
}

// registerTaps adds -taps, for the verbs that compile Predict for a caller.
func (m *modelFlags) registerTaps(fs *flag.FlagSet) {
	fs.StringVar(&m.taps, "taps", "", "comma-separated values tapped in the DSL to keep readable after Predict (all: every one)")
}

// loaded is a model resolved from flags.
type loaded struct {
	*compile.Model
	src  compile.Source
	taps string // -taps
}

func (m *modelFlags) load() (*loaded, error) {
	if m.timeout <= 0 {
		return nil, fmt.Errorf("-timeout must be positive, got %s", m.timeout)
	}
	if m.buildMem < 0 {
		return nil, fmt.Errorf("-build-mem must not be negative, got %d", m.buildMem)
	}
	src, err := compile.Resolve(m.model, compile.ResolveOptions{Func: m.fn, Timeout: m.timeout, MemLimit: int64(m.buildMem) << 20})
	if err != nil {
		return nil, err
	}
	spec := m.config
	if m.loss != "" || m.lossOut != "" {
		if !compile.IsONNXPath(m.model) {
			return nil, fmt.Errorf("-loss attaches a loss to an ONNX model; %s declares its own in its Build function", src.Name())
		}
		if m.loss == "" {
			return nil, fmt.Errorf("-loss-output needs -loss KIND")
		}
		spec = strings.TrimPrefix(spec+",loss="+m.loss, ",")
		if m.lossOut != "" {
			spec += ",output=" + m.lossOut
		}
	}
	dt := graph.Invalid
	if m.dtype != "" {
		if dt, err = graph.ParseDType(m.dtype); err != nil || !dt.IsFloat() {
			return nil, fmt.Errorf("-dtype must be f32 or f64, got %q", m.dtype)
		}
	}
	mod, err := src.Load(spec, dt)
	if err != nil {
		return nil, err
	}
	return &loaded{Model: mod, src: src, taps: m.taps}, nil
}

// forward is the model's forward graph in eval mode, uncompiled.
func (l *loaded) forward() *graph.Graph { return l.Model.Forward() }

// trainDefaults are the settings mlc train uses for the model.
func (l *loaded) trainDefaults() models.TrainDefaults {
	if l.Entry == nil {
		return models.TrainDefaultsFor("")
	}
	return models.TrainDefaultsFor(l.Entry.Name)
}

// zooName is the model's zoo name, or "" for another source.
func (l *loaded) zooName() string {
	if l.Entry == nil {
		return ""
	}
	return l.Entry.Name
}

// compileOptions are the compile options the model flags give, with the
// optimizer of TrainStep.
func (l *loaded) compileOptions(opt passes.OptimizerConfig) compile.Options {
	o := compile.Options{}
	if l.taps != "" {
		o.Taps = strings.Split(l.taps, ",")
	}
	o.Optimizer = opt
	return o
}

// configInt reads an integer config key of the loaded model (0 when it has
// no such key).
func configInt(m *loaded, key string) int { return m.ConfigInt(key) }

// predictBatch applies -predict-batch: "N" sets the config key batch to N
// for a second Predict, "KEY=N" another key (an ONNX model's symbolic
// batch dimension).
func (l *loaded) predictBatch(flag string) error {
	if flag == "" {
		return nil
	}
	key, val, ok := strings.Cut(flag, "=")
	if !ok {
		key, val = "batch", flag
	}
	n, err := strconv.Atoi(val)
	if err != nil {
		return fmt.Errorf("-predict-batch wants N or KEY=N, got %q", flag)
	}
	return l.WithPredictBatch(l.src, key, n)
}
