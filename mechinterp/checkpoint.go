package mechinterp

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/runtime/text"
	"github.com/mlc-dev/mlc/train"
)

// Checkpoint is a checkpoint written by mlc train (or train.Run), read
// with its settings and its model loaded from the source it was trained
// from, not yet compiled.
type Checkpoint struct {
	Dir, Path string // the directory and its checkpoint file
	File      *safetensors.Checkpoint
	Settings  train.Settings
	Model     *compile.Model // loaded with the checkpoint's config and the override
}

// OpenCheckpoint reads DIR/checkpoint.safetensors, checks that it is of
// model (when not "") and loads the model from its source with the
// checkpoint's config, override appended (e.g. "batch=1").
func OpenCheckpoint(dir, model, override string) (*Checkpoint, error) {
	if dir == "" {
		return nil, fmt.Errorf("-ckpt DIR is required")
	}
	c := &Checkpoint{Dir: dir, Path: filepath.Join(dir, train.CheckpointFile)}
	var err error
	if c.File, c.Settings, err = train.LoadCheckpoint(c.Path); err != nil {
		return nil, err
	}
	st := c.Settings
	if model != "" && model != st.Model {
		return nil, fmt.Errorf("%s: written for model %q, not %q", c.Path, st.Model, model)
	}
	source, config := st.Model, st.Config
	if st.Source != "" {
		source = st.Source
	}
	if override != "" {
		if config != "" {
			config += ","
		}
		config += override
	}
	if c.Model, err = LoadModel(source, config, st.DType); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadModel loads a model from any source compile.Resolve knows (a zoo
// name, a Go package path with func Build, an ONNX file) with a config
// spec and a float dtype ("": the model's own).
func LoadModel(source, config, dtype string) (*compile.Model, error) {
	src, err := compile.Resolve(source, compile.ResolveOptions{Func: "Build", Timeout: compile.DefaultTimeout})
	if err != nil {
		return nil, err
	}
	dt := graph.Invalid
	if dtype != "" {
		if dt, err = graph.ParseDType(dtype); err != nil || !dt.IsFloat() {
			return nil, fmt.Errorf("dtype must be f32 or f64, got %q", dtype)
		}
	}
	return src.Load(config, dt)
}

// Tokenizer loads DIR/tokenizer.json and checks it is the one the model
// was trained with; nil when the model was not trained on text.
func (c *Checkpoint) Tokenizer() (text.Tokenizer, error) {
	want, ok := c.File.Metadata["train.tokenizer"]
	if !ok {
		return nil, nil
	}
	tokPath := filepath.Join(c.Dir, data.TokenizerFile)
	tok, err := data.LoadTokenizer(tokPath, c.Model.ConfigInt("vocab"))
	if err != nil {
		return nil, err
	}
	if want != tok.Fingerprint() {
		return nil, fmt.Errorf("%s does not match the checkpoint %s: the model was trained with another tokenizer", tokPath, c.Path)
	}
	return tok, nil
}

// Trained is a checkpoint's model compiled and running with the trained
// parameters.
type Trained struct {
	*Checkpoint
	Program *graph.Program
	Predictor
	// Server is the runner of EngineGen (nil on EngineInterp), for callers
	// that drive more of the runner than Predict (mlc generate).
	Server *compile.Server
}

// Start compiles the checkpoint's model, keeping the given taps readable
// after Predict, and starts it on the engine with the checkpoint's
// parameters.
func (c *Checkpoint) Start(taps []string, engine Engine) (*Trained, error) {
	res, err := c.Model.Compile(compileTaps(taps...))
	if err != nil {
		return nil, err
	}
	p, err := NewPredictor(res.Program, trainedParams(c), engine)
	if err != nil {
		return nil, err
	}
	t := &Trained{Checkpoint: c, Program: res.Program, Predictor: p}
	if s, ok := p.(serverPredictor); ok {
		t.Server = s.srv
	}
	return t, nil
}

// LM is a language model's checkpoint with what the analyses of its
// activations need to know before compiling it.
type LM struct {
	*Checkpoint
	Taps      []string // the residual-stream taps, in layer order
	Ctx       int      // the context length
	Tokenizer text.Tokenizer
	Pieces    [][]byte // the bytes of each token id
}

// OpenLM opens the checkpoint of a language model (see OpenCheckpoint)
// and finds its residual-stream taps (ResidualTaps).
func OpenLM(dir, model string) (*LM, error) {
	c, err := OpenCheckpoint(dir, model, "")
	if err != nil {
		return nil, err
	}
	taps, err := ResidualTaps(c.Model.Forward())
	if err != nil {
		return nil, fmt.Errorf("%s %w", c.Settings.Model, err)
	}
	lm := &LM{Checkpoint: c, Taps: taps, Ctx: c.Model.ConfigInt("ctx")}
	if lm.Tokenizer, err = c.Tokenizer(); err != nil {
		return nil, err
	}
	if lm.Tokenizer == nil || lm.Ctx <= 0 {
		return nil, fmt.Errorf("%s: %s was not trained on text; probes and SAEs read a language model's activations", c.Path, c.Settings.Model)
	}
	if lm.Pieces, err = TokenBytes(lm.Tokenizer); err != nil {
		return nil, err
	}
	return lm, nil
}

// layerTap matches the taps that hold the residual stream: the embedding
// (h_in, before the first block) and the output of block l (h{l}.out).
var layerTap = regexp.MustCompile(`^h(_in|[0-9]+\.out)$`)

// ResidualTaps lists the taps of a forward graph that hold the residual
// stream, h_in and h{l}.out, in layer order.
func ResidualTaps(g *graph.Graph) ([]string, error) {
	var taps []string
	for _, o := range g.Taps() {
		if layerTap.MatchString(o.Name) {
			taps = append(taps, o.Name)
		}
	}
	if len(taps) == 0 {
		return nil, fmt.Errorf("taps no residual stream (h_in, h0.out, …): nothing to read activations from")
	}
	return taps, nil
}

// compileTaps are compile options that keep the given taps readable.
func compileTaps(taps ...string) compile.Options { return compile.Options{Taps: taps} }

// trainedParams are the checkpoint's parameters, by name.
func trainedParams(c *Checkpoint) map[string]runtime.JSONTensor {
	return train.FromSafetensors(c.File.Params)
}
