package compile

import (
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
