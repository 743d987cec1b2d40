package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
)

// modelFlags are the flags every model-taking verb shares.
type modelFlags struct {
	model  string
	config string
	dtype  string
	taps   string
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.model, "model", "", "zoo model name (see mlc list)")
	fs.StringVar(&m.config, "config", "", "config overrides as key=value,key=value")
	fs.StringVar(&m.dtype, "dtype", "", "float dtype: f32 or f64 (default: the model's)")
}

// registerTaps adds -taps, for the verbs that compile Predict for a caller.
func (m *modelFlags) registerTaps(fs *flag.FlagSet) {
	fs.StringVar(&m.taps, "taps", "", "comma-separated values tapped in the DSL to keep readable after Predict (all: every one)")
}

// loaded is a model resolved from flags.
type loaded struct {
	entry   *models.Entry
	cfg     any
	cfgSpec string // the -config the user gave
	opts    dsl.Options
	taps    string // -taps
}

func (m *modelFlags) load() (*loaded, error) {
	if m.model == "" {
		return nil, fmt.Errorf("-model is required (models: %s)", joinNames())
	}
	e, err := models.Lookup(m.model)
	if err != nil {
		return nil, err
	}
	cfg, err := e.Config(m.config)
	if err != nil {
		return nil, err
	}
	opts := dsl.Options{Float: e.Float}
	if m.dtype != "" {
		dt, err := graph.ParseDType(m.dtype)
		if err != nil || !dt.IsFloat() {
			return nil, fmt.Errorf("-dtype must be f32 or f64, got %q", m.dtype)
		}
		opts.Float = dt
	}
	return &loaded{entry: e, cfg: cfg, cfgSpec: m.config, opts: opts, taps: m.taps}, nil
}

// forward builds the model's forward graph.
func (l *loaded) forward(train bool) (*graph.Graph, error) {
	opts := l.opts
	opts.Train = train
	return l.entry.Build(l.cfg, opts)
}

func joinNames() string {
	s := ""
	for i, n := range models.Names() {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// compileOptions are the compile options the model flags give, with the
// optimizer of TrainStep.
func (l *loaded) compileOptions(opt passes.OptimizerConfig) compile.Options {
	o := compile.Options{Float: l.opts.Float}
	if l.taps != "" {
		o.Taps = strings.Split(l.taps, ",")
	}
	o.Optimizer = opt
	return o
}

// configInt reads an integer config key of the loaded model (0 when it has
// no such key).
func configInt(m *loaded, key string) int {
	for _, k := range dsl.ConfigKeys(m.cfg) {
		if k.Name == key {
			n, _ := strconv.Atoi(k.Default)
			return n
		}
	}
	return 0
}
