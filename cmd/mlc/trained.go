package main

import (
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/mechinterp"
	"github.com/mlc-dev/mlc/runtime/text"
)

// trainedModel is a checkpoint written by mlc train, running on generated
// code with its trained parameters (mechinterp.Checkpoint.Start), in the
// fields mlc generate drives it by.
type trainedModel struct {
	m    *compile.Model
	tok  text.Tokenizer // nil for a model trained on non-text data
	prog *graph.Program
	srv  *compile.Server
	ctx  int
}

// trainedOptions say how to compile the checkpoint's model.
type trainedOptions struct {
	model    string // the model the caller expects ("" accepts the checkpoint's)
	override string // config overrides appended to the checkpoint's, e.g. "batch=1"
}

// loadTrained reads DIR/checkpoint.safetensors and DIR/tokenizer.json (if
// any), compiles the model and starts its runner with the parameters set.
func loadTrained(dir string, o trainedOptions) (*trainedModel, error) {
	c, err := mechinterp.OpenCheckpoint(dir, o.model, o.override)
	if err != nil {
		return nil, err
	}
	tok, err := c.Tokenizer()
	if err != nil {
		return nil, err
	}
	r, err := c.Start(nil, mechinterp.EngineGen)
	if err != nil {
		return nil, err
	}
	return &trainedModel{m: c.Model, tok: tok, prog: r.Program, srv: r.Server, ctx: c.Model.ConfigInt("ctx")}, nil
}

// Close stops the runner.
func (t *trainedModel) Close() { t.srv.Close() }
