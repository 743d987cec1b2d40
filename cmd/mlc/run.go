package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

func cmdRun(c *cli, args []string) error {
	fs := c.flags("run")
	var mf modelFlags
	mf.register(fs)
	mf.registerTaps(fs)
	paramsFile := fs.String("params", "", "parameter values: a JSON object of {shape, data} tensors, or a .safetensors file")
	inputsFile := fs.String("inputs", "", "input values: a JSON object of {shape, data} tensors (default: the model's example batch)")
	engine := fs.String("engine", "interp", "interp (the reference interpreter) or gen (compile and run the generated package)")
	grads := fs.Bool("grads", false, "also print every gradient")
	asJSON := fs.Bool("json", false, "print JSON")
	phase := fs.String("phase", "full", "full (the forward pass over the whole sequence) or decode (KV-cache decoding: Prefill, then DecodeStep at every later position; the same outputs)")
	prefill := fs.Int("prefill", 1, "with -phase decode: positions Prefill runs before the first DecodeStep")
	seed := fs.Uint64("seed", 0, "seed of the parameters' random initialisers and of dropout (the same numbers in both engines)")
	l2 := fs.Float64("l2", 0, "L2 regularisation λ of a λ/2·‖w‖² term on the weight matrices, added to the loss and its gradients")
	predictBatch := fs.String("predict-batch", "", "also compile Predict for a smaller batch N (the config key batch; KEY=N names another), and run -inputs of that batch on it")
	masksFile := fs.String("masks", "", "dropout keep masks for the training step: a JSON object of 0/1 {shape, data} tensors named dropout.0, dropout.1, ... in the order the model applies dropout (mlc graph -stage train lists them), used instead of drawing")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *engine != "interp" && *engine != "gen" {
		return fmt.Errorf("-engine must be interp or gen, got %q", *engine)
	}
	if *phase != "full" && *phase != "decode" {
		return fmt.Errorf("-phase must be full or decode, got %q", *phase)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	if err := m.predictBatch(*predictBatch); err != nil {
		return err
	}
	if err := checkL2(*l2); err != nil {
		return err
	}
	opts := m.compileOptions(passes.OptimizerConfig{})
	opts.L2 = *l2
	opts.DropoutInputs = *masksFile != ""
	if *phase == "decode" {
		opts.Decode = "on" // a model that is not a decoder says why
	}
	res, err := m.Compile(opts)
	if err != nil {
		return err
	}
	prog := res.Program
	if err := compile.CheckMemory(prog, *engine == "interp"); err != nil {
		return err
	}
	req := compile.RunRequest{Grads: *grads, Phase: *phase, Prefill: *prefill, ModelSeed: *seed}
	if *inputsFile != "" {
		if req.Inputs, err = runtime.ReadTensors(*inputsFile); err != nil {
			return err
		}
	} else {
		req.Inputs = compile.ExampleInputs(prog, m.Example(), 1)
	}
	if *masksFile != "" {
		masks, err := runtime.ReadTensors(*masksFile)
		if err != nil {
			return err
		}
		if err := compile.AddDropoutMasks(prog, *masksFile, masks, req.Inputs); err != nil {
			return err
		}
	}
	src := *inputsFile
	if src == "" {
		src = "the example inputs"
	}
	if req.Loss, err = compile.CheckInputs(prog, src, req.Inputs); err != nil {
		return err
	}
	if *grads && !req.Loss {
		return fmt.Errorf("-grads needs the model's training inputs (%s)", strings.Join(inputNames(prog.Train), ", "))
	}
	if *paramsFile != "" {
		if req.Params, err = compile.ReadParams(*paramsFile, prog); err != nil {
			return err
		}
	}
	var out *runtime.RunResult
	if *engine == "gen" {
		bin, err := compile.BuildRunner(prog)
		if err != nil {
			return err
		}
		out, err = compile.RunGenerated(bin, req)
		if err != nil {
			return err
		}
	} else if out, err = compile.RunInterpreted(prog, req); err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, string(b))
		return nil
	}
	printTensors(c, "", out.Outputs)
	printTensors(c, "tap ", out.Taps)
	if out.Loss != nil {
		fmt.Fprintf(c.stdout, "loss = %v\n", float64(*out.Loss))
	}
	printTensors(c, "d", out.Grads)
	return nil
}

func inputNames(g *graph.Graph) []string {
	var names []string
	if g != nil {
		for _, n := range g.Inputs() {
			names = append(names, n.Name)
		}
	}
	return names
}

func printTensors(c *cli, prefix string, ts map[string]runtime.JSONTensor) {
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t := ts[k]
		fmt.Fprintf(c.stdout, "%s%s %v = %v\n", prefix, k, graph.Shape(t.Shape), floatsOf(t))
	}
}

func floatsOf(t runtime.JSONTensor) []float64 {
	out := make([]float64, len(t.Data))
	for i, v := range t.Data {
		out[i] = float64(v)
	}
	return out
}
