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
}

func (w *weightsFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&w.weights, "weights", "", "store the inference entry points' weight matrices as int8 (per-output-channel f32 scales) or bf16; the package is then inference-only (docs/low-precision.md)")
	fs.StringVar(&w.ckpt, "ckpt", "", "start from the trained parameters of DIR/"+train.CheckpointFile+" (its model and config unless -model is given; -config adds overrides such as batch=1)")
}

// parse checks -weights and, with -ckpt, points mf at the checkpoint's
// model and returns its parameters' values.
func (w *weightsFlags) parse(mf *modelFlags) (graph.DType, map[string][]float64, error) {
	dt, err := compile.ParseWeights(w.weights)
	if err != nil {
		return dt, nil, err
	}
	if dt != graph.Invalid && mf.dtype == "" {
		mf.dtype = "f32" // low-precision weights widen to f32
	}
	if w.ckpt == "" {
		return dt, nil, nil
	}
	path := filepath.Join(w.ckpt, train.CheckpointFile)
	ck, st, err := train.LoadCheckpoint(path)
	if err != nil {
		return dt, nil, err
	}
	if mf.model == "" {
		mf.model = st.Model
		if st.Source != "" {
			mf.model = st.Source
		}
		if mf.config != "" {
			mf.config = st.Config + "," + mf.config
		} else {
			mf.config = st.Config
		}
	}
	vals, err := compile.CheckpointValues(ck)
	return dt, vals, err
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
	dt, vals, err := wf.parse(&mf)
	if err != nil {
		return err
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	opts := m.compileOptions(passes.OptimizerConfig{}) // inference-only: no optimizer
	opts.Weights, opts.Values = dt, vals
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
