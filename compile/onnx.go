package compile

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx"
)

// ONNXOptions say how to import and compile an ONNX model.
type ONNXOptions struct {
	Import onnx.Options // symbolic dimensions and the float dtype
	// Loss attaches a training loss to LossOutput (default: the first
	// output): "cross_entropy", "mse" or "bce_with_logits"; "" compiles
	// Predict only. The target is a new input "<output>_target".
	Loss       string
	LossOutput string
	Compile    Options // Float is taken from the import
}

// ONNX imports the ONNX model in path and compiles it: Predict always,
// TrainStep when a loss is asked for (the file's weights are the
// parameters' initial values).
func ONNX(path string, opts ONNXOptions) (*Result, error) {
	m, err := onnx.Load(path, opts.Import)
	if err != nil {
		return nil, err
	}
	var train *graph.Graph
	if opts.Loss != "" {
		if train, err = m.WithLoss(opts.Loss, opts.LossOutput); err != nil {
			return nil, err
		}
	}
	co := opts.Compile
	co.Float = m.Float
	return FromGraphs(m.Graph, train, co)
}

// IsONNXPath reports whether a -model value names an ONNX file.
func IsONNXPath(s string) bool { return strings.HasSuffix(strings.ToLower(s), ".onnx") }

// ONNXSource is the Source of an ONNX file. Its config spec binds the
// model's symbolic dimensions (batch=1,seq=16) and may ask for a training
// loss: loss=cross_entropy|mse|bce_with_logits, on output=NAME (default:
// the first output), whose target is the input "<output>_target".
func ONNXSource(path string) Source { return onnxSource{path: path} }

type onnxSource struct{ path string }

func (s onnxSource) Name() string {
	return strings.TrimSuffix(filepath.Base(s.path), filepath.Ext(s.path))
}

func (s onnxSource) Load(spec string, float graph.DType) (*Model, error) {
	dims, err := onnx.SymbolicDims(s.path)
	if err != nil {
		return nil, err
	}
	opts := onnx.Options{Dims: map[string]int{}, Float: float}
	loss, output := "", ""
	var keys []string
	for kv := range strings.SplitSeq(spec, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%s: config %q: want key=value", s.path, kv)
		}
		switch {
		case k == "loss":
			loss = v
		case k == "output":
			output = v
		case slices.Contains(dims, k):
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%s: config %s=%s: want a positive size", s.path, k, v)
			}
			opts.Dims[k] = n
		default:
			return nil, fmt.Errorf("%s: unknown config key %q (the model's symbolic dimensions: %s; and loss, output)", s.path, k, strings.Join(dims, ", "))
		}
		keys = append(keys, k+"="+v)
	}
	m, err := onnx.Load(s.path, opts)
	if err != nil {
		return nil, err
	}
	// The model is called after its file, as every verb names it (a
	// PyTorch export's graph is always "main_graph").
	m.Graph.Name = s.Name()
	slices.Sort(keys)
	cm := &Model{Name: s.Name(), Source: m.Graph.Source, Float: m.Float, Config: strings.Join(keys, ","), pred: m.Graph}
	for _, d := range m.Dims {
		cm.Keys = append(cm.Keys, dsl.ConfigKey{Name: d.Name, Type: "int", Default: strconv.Itoa(d.Value), Help: "symbolic dimension"})
	}
	if loss != "" {
		if cm.train, err = m.WithLoss(loss, output); err != nil {
			return nil, err
		}
	} else if output != "" {
		return nil, fmt.Errorf("%s: config output=%s needs loss=…", s.path, output)
	}
	return cm, nil
}
