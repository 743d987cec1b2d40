package main

import (
	"fmt"
	"path/filepath"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

func init() {
	register(verb{
		name:  "quantize",
		usage: "mlc quantize -ckpt DIR -weights int8|bf16 -o FILE.safetensors [-config k=v,...]",
		doc:   "convert a trained checkpoint's weight matrices to int8 (with per-channel scales) or bf16, as a safetensors file (docs/low-precision.md)",
		run:   cmdQuantize,
	})
}

// weightsFlags are -weights and -ckpt: low-precision weight matrices,
// converted from a trained checkpoint's values.
type weightsFlags struct {
	weights string
	ckpt    string
	file    string
}

func (w *weightsFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&w.weights, "weights", "", "store the inference entry points' weight matrices as int8 (per-output-channel f32 scales) or bf16; the package is then inference-only (docs/low-precision.md)")
	fs.StringVar(&w.ckpt, "ckpt", "", "start from the trained parameters of DIR/"+train.CheckpointFile+" (its model and config unless -model is given; -config adds overrides such as batch=1)")
	fs.StringVar(&w.file, "weights-file", "", "use the converted weights of a file of mlc quantize as they are (its model, config and format unless given)")
}

// apply sets the compile options -weights, -ckpt and -weights-file give.
func (w *weightsFlags) apply(o *compile.Options, p weightsParsed) {
	o.Weights, o.Values, o.Converted = p.dt, p.values, p.file
}

// weightsParsed is what parse read.
type weightsParsed struct {
	dt     graph.DType
	values map[string][]float64
	file   *safetensors.File
}

// parse checks -weights and, with -ckpt or -weights-file, points mf at
// the model they were written for and reads their values.
func (w *weightsFlags) parse(mf *modelFlags) (weightsParsed, error) {
	var p weightsParsed
	if w.ckpt != "" && w.file != "" {
		return p, fmt.Errorf("give -ckpt or -weights-file, not both")
	}
	useModel := func(model, config string) {
		if mf.model != "" {
			return
		}
		mf.model = model
		if mf.config != "" {
			mf.config = config + "," + mf.config
		} else {
			mf.config = config
		}
	}
	if w.file != "" {
		f, err := safetensors.ReadFile(w.file)
		if err != nil {
			return p, err
		}
		if w.weights == "" {
			w.weights = f.Metadata[compile.KeyWeights]
			if w.weights == "" {
				return p, fmt.Errorf("%s: not a file of mlc quantize (no %s metadata)", w.file, compile.KeyWeights)
			}
		}
		useModel(f.Metadata[safetensors.KeyModel], f.Metadata[safetensors.KeyConfig])
		p.file = f
	}
	var err error
	if p.dt, err = compile.ParseWeights(w.weights); err != nil {
		return p, err
	}
	if p.file != nil && p.dt == graph.Invalid {
		return p, fmt.Errorf("-weights-file needs -weights int8 or bf16")
	}
	if p.dt != graph.Invalid && mf.dtype == "" {
		mf.dtype = "f32" // low-precision weights widen to f32
	}
	if w.ckpt == "" {
		return p, nil
	}
	path := filepath.Join(w.ckpt, train.CheckpointFile)
	ck, st, err := train.LoadCheckpoint(path)
	if err != nil {
		return p, err
	}
	model := st.Model
	if st.Source != "" {
		model = st.Source
	}
	useModel(model, st.Config)
	p.values, err = compile.CheckpointValues(ck)
	return p, err
}

func cmdQuantize(c *cli, args []string) error {
	fs := c.flags("quantize")
	var mf modelFlags
	fs.StringVar(&mf.config, "config", "", "config overrides added to the checkpoint's, e.g. batch=1")
	var wf weightsFlags
	wf.register(fs)
	out := fs.String("o", "", "the safetensors file to write (required)")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case wf.ckpt == "":
		return fmt.Errorf("-ckpt DIR is required: the trained checkpoint to convert")
	case wf.weights == "" || wf.weights == "f32":
		return fmt.Errorf("-weights int8 or -weights bf16 is required")
	case *out == "":
		return fmt.Errorf("-o FILE is required")
	}
	mf.timeout = compile.DefaultTimeout
	parsed, err := wf.parse(&mf)
	if err != nil {
		return err
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	opts := m.compileOptions(passes.OptimizerConfig{}) // inference-only: no optimizer
	wf.apply(&opts, parsed)
	res, err := m.Compile(opts)
	if err != nil {
		return err
	}
	f, err := compile.WeightsFile(res.Program, wf.weights)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFileAtomic(*out, f); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "wrote %s: %d tensors, %s weights\n", *out, len(f.Tensors), wf.weights)
	return nil
}
