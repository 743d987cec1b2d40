package main

import (
	"fmt"
	"path/filepath"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/runtime/text"
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

// loadTrained reads DIR/checkpoint.safetensors and DIR/tokenizer.json (if
// any), compiles the model and starts its runner with the parameters set.
func loadTrained(dir string, o trainedOptions) (*trainedModel, error) {
	if dir == "" {
		return nil, fmt.Errorf("-ckpt DIR is required")
	}
	ckPath := filepath.Join(dir, ckptFile)
	ck, st, err := loadTrainCheckpoint(ckPath)
	if err != nil {
		return nil, err
	}
	if o.model != "" && o.model != st.Model {
		return nil, fmt.Errorf("%s: written for model %q, not %q", ckPath, st.Model, o.model)
	}
	mf := modelFlags{model: st.Model, config: st.Config, dtype: st.DType}
	if o.override != "" {
		if mf.config != "" {
			mf.config += ","
		}
		mf.config += o.override
	}
	m, err := mf.load()
	if err != nil {
		return nil, err
	}
	t := &trainedModel{dir: dir, ck: ck, m: m, vocab: configInt(m, "vocab"), ctx: configInt(m, "ctx")}
	if want, ok := ck.Metadata["train.tokenizer"]; ok {
		tokPath := filepath.Join(dir, tokenizerFile)
		if t.tok, err = loadTokenizer(tokPath, t.vocab); err != nil {
			return nil, err
		}
		if want != t.tok.Fingerprint() {
			return nil, fmt.Errorf("%s does not match the checkpoint %s: the model was trained with another tokenizer", tokPath, ckPath)
		}
	}
	res, err := compile.Zoo(m.entry.Name, mf.config, compile.Options{Float: m.opts.Float, Taps: o.taps})
	if err != nil {
		return nil, err
	}
	t.prog = res.Program
	bin, err := compile.BuildRunner(t.prog)
	if err != nil {
		return nil, err
	}
	if t.srv, err = compile.StartServer(bin, 0); err != nil {
		return nil, err
	}
	if _, err := t.srv.Do(compile.RunRequest{Cmd: "set", Params: fromSafetensors(ck.Params)}); err != nil {
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
