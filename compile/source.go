package compile

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
)

// A Source is a model to compile, whatever it comes from: the zoo, a Go
// package of the user's with a Build function, (an ONNX file). Every CLI
// verb takes its -model through Resolve, so config, dtype, taps and the
// pass flags mean the same for every source.
type Source interface {
	// Name is the model's name (the zoo name, the package's name).
	Name() string
	// Load builds the model's graphs for a config spec ("k=v,k=v") and a
	// float dtype (graph.Invalid: the source's default).
	Load(spec string, float graph.DType) (*Model, error)
}

// Model is a loaded model: its graphs before compilation, its config, and
// what the zoo knows about it when it comes from there.
type Model struct {
	Name   string
	Source string // the file of its Build function, module-relative
	Float  graph.DType
	Config string          // canonical config, "k=v,..." ("" without one)
	Keys   []dsl.ConfigKey // the config's keys with their values
	// Entry is the zoo entry (nil for other sources) and Cfg its config.
	Entry *models.Entry
	Cfg   any

	pred, train *graph.Graph // as built; Compile works on copies
	small       *graph.Graph // pred at a smaller batch (WithPredictBatch), or nil
}

// Compile compiles the model with opts (its Float and Config are the
// model's).
func (m *Model) Compile(opts Options) (*Result, error) {
	opts.Float, opts.Config = m.Float, m.Config
	var train *graph.Graph
	if m.train != nil {
		train = m.train.Clone()
	}
	var small *graph.Graph
	if m.small != nil {
		small = m.small.Clone()
	}
	res, err := fromGraphs(m.pred.Clone(), small, train, opts)
	if err != nil {
		return nil, err
	}
	res.Program.Name = m.Name // what every verb, checkpoint and package calls it
	if small == nil {
		return res, nil
	}
	return res, CheckRowIndependent(res.Program, m.Example())
}

// Forward is the model's forward graph in eval mode, before compilation.
func (m *Model) Forward() *graph.Graph { return m.pred.Clone() }

// ConfigInt reads an integer config key (0 when the model has no such key).
func (m *Model) ConfigInt(key string) int {
	for _, k := range m.Keys {
		if k.Name == key {
			var n int
			fmt.Sscan(k.Default, &n)
			return n
		}
	}
	return 0
}

// Example is the model's example batch by input name, or nil (callers then
// draw a seeded random batch).
func (m *Model) Example() map[string][]float64 {
	if m.Entry == nil {
		return nil
	}
	return m.Entry.Example(m.Cfg)
}

// ResolveOptions say how to load sources that run code.
type ResolveOptions struct {
	Func     string        // a package's Build function (default "Build")
	Timeout  time.Duration // how long a package's Build may run (default DefaultTimeout)
	MemLimit int64         // heap bytes a package's Build may use (default: half the available memory)
}

// DefaultTimeout bounds a user package's build and Build run.
const DefaultTimeout = 5 * time.Minute

// IsPackagePath reports whether a -model value names a Go package rather
// than a zoo model: a path starting with ./, ../ or /, or an import path
// (a dot in its first element, as in example.com/m/model).
func IsPackagePath(s string) bool {
	if strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || filepath.IsAbs(s) || s == "." || s == ".." {
		return true
	}
	first, _, _ := strings.Cut(s, "/")
	return strings.Contains(s, "/") && strings.Contains(first, ".")
}

// Resolve finds the source a -model value names: a zoo model, an ONNX
// file (a path ending in .onnx), or a Go package (see IsPackagePath).
func Resolve(model string, opts ResolveOptions) (Source, error) {
	switch {
	case model == "":
		return nil, fmt.Errorf("-model is required: a zoo model (%s), an ONNX file or a Go package path such as ./model", strings.Join(models.Names(), ", "))
	case IsONNXPath(model):
		return ONNXSource(model), nil
	case IsPackagePath(model):
		return &packageSource{path: model, opts: opts}, nil
	}
	e, err := models.Lookup(model)
	if err != nil {
		return nil, fmt.Errorf("%v; or give a Go package path such as ./%s", err, model)
	}
	return zooSource{e}, nil
}

// zooSource is a model of the zoo.
type zooSource struct{ e *models.Entry }

func (z zooSource) Name() string { return z.e.Name }

func (z zooSource) Load(spec string, float graph.DType) (*Model, error) {
	cfg, err := z.e.Config(spec)
	if err != nil {
		return nil, err
	}
	if float == graph.Invalid {
		float = z.e.Float
	}
	m := &Model{Name: z.e.Name, Source: z.e.Source, Float: float, Config: dsl.FormatConfig(cfg), Keys: dsl.ConfigKeys(cfg), Entry: z.e, Cfg: cfg}
	build := func(b *dsl.Builder) { z.e.BuildInto(b, cfg) }
	if m.pred, err = dsl.Build(z.e.Name, z.e.Source, dsl.Options{Float: float}, build); err != nil {
		return nil, err
	}
	if m.pred.Loss != nil {
		if m.train, err = dsl.Build(z.e.Name, z.e.Source, dsl.Options{Float: float, Train: true}, build); err != nil {
			return nil, err
		}
	}
	return m, nil
}
