package main

import (
	"fmt"
	"path/filepath"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/runtime/text"
	"github.com/mlc-dev/mlc/train"
)

// trainedModel is a checkpoint written by mlc train, loaded for use: the
// model compiled with the checkpoint's config (and the given overrides),
// its tokenizer when it has one, and a running generated model holding the
// trained parameters. generate, attn, probe and sae start from it.
type trainedModel struct {
	dir   string
	ck    *safetensors.Checkpoint
	m     *loaded
	tok   text.Tokenizer // nil for a model trained on non-text data
	prog  *graph.Program
	srv   *compile.Server
	vocab int
	ctx   int
}

// trainedOptions say how to compile the checkpoint's model.
type trainedOptions struct {
	model    string   // the model the caller expects ("" accepts the checkpoint's)
	override string   // config overrides appended to the checkpoint's, e.g. "batch=1"
	taps     []string // compile.Options.Taps
}

// openedCheckpoint is a checkpoint written by mlc train with its settings
// and its model loaded (with the caller's config overrides), not compiled.
type openedCheckpoint struct {
	dir, path string
	ck        *safetensors.Checkpoint
	st        train.Settings
	mf        modelFlags // the model and config it was loaded with
	m         *loaded
}

// openCheckpoint reads DIR/checkpoint.safetensors, checks that it is of
// model (when not "") and loads the model with the checkpoint's config and
// override appended.
func openCheckpoint(dir, model, override string) (*openedCheckpoint, error) {
	if dir == "" {
		return nil, fmt.Errorf("-ckpt DIR is required")
	}
	o := &openedCheckpoint{dir: dir, path: filepath.Join(dir, ckptFile)}
	var err error
	if o.ck, o.st, err = train.LoadCheckpoint(o.path); err != nil {
		return nil, err
	}
	if model != "" && model != o.st.Model {
		return nil, fmt.Errorf("%s: written for model %q, not %q", o.path, o.st.Model, model)
	}
	o.mf = modelFlags{model: o.st.Model, config: o.st.Config, dtype: o.st.DType, fn: "Build", timeout: compile.DefaultTimeout}
	if o.st.Source != "" {
		o.mf.model = o.st.Source
	}
	if override != "" {
		if o.mf.config != "" {
			o.mf.config += ","
		}
		o.mf.config += override
	}
	if o.m, err = o.mf.load(); err != nil {
		return nil, err
	}
	return o, nil
}

// tokenizer loads DIR/tokenizer.json and checks it is the one the model
// was trained with; nil when the model was not trained on text.
func (o *openedCheckpoint) tokenizer() (text.Tokenizer, error) {
	want, ok := o.ck.Metadata["train.tokenizer"]
	if !ok {
		return nil, nil
	}
	tokPath := filepath.Join(o.dir, data.TokenizerFile)
	tok, err := data.LoadTokenizer(tokPath, configInt(o.m, "vocab"))
	if err != nil {
		return nil, err
	}
	if want != tok.Fingerprint() {
		return nil, fmt.Errorf("%s does not match the checkpoint %s: the model was trained with another tokenizer", tokPath, o.path)
	}
	return tok, nil
}

// loadTrained reads DIR/checkpoint.safetensors and DIR/tokenizer.json (if
// any), compiles the model and starts its runner with the parameters set.
func loadTrained(dir string, o trainedOptions) (*trainedModel, error) {
	oc, err := openCheckpoint(dir, o.model, o.override)
	if err != nil {
		return nil, err
	}
	m, ck := oc.m, oc.ck
	t := &trainedModel{dir: dir, ck: ck, m: m, vocab: configInt(m, "vocab"), ctx: configInt(m, "ctx")}
	if t.tok, err = oc.tokenizer(); err != nil {
		return nil, err
	}
	res, err := m.Compile(compile.Options{Taps: o.taps})
	if err != nil {
		return nil, err
	}
	t.prog = res.Program
	if err := compile.CheckMemory(t.prog, false); err != nil {
		return nil, err
	}
	bin, err := compile.BuildRunner(t.prog)
	if err != nil {
		return nil, err
	}
	if t.srv, err = compile.StartServer(bin, 0); err != nil {
		return nil, err
	}
	if _, err := t.srv.Do(compile.RunRequest{Cmd: "set", Params: train.FromSafetensors(ck.Params)}); err != nil {
		t.srv.Close()
		return nil, err
	}
	return t, nil
}

// Close stops the runner.
func (t *trainedModel) Close() { t.srv.Close() }

// predict runs Predict on the named inputs and returns outputs and taps.
func (t *trainedModel) predict(inputs map[string]runtime.JSONTensor) (*compile.ServerResult, error) {
	return t.srv.Do(compile.RunRequest{Cmd: "predict", Inputs: inputs})
}
