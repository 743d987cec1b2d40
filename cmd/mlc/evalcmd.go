package main

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/mechinterp"
	"github.com/mlc-dev/mlc/runtime"
)

func init() {
	register(verb{
		name:  "eval",
		usage: "mlc eval -ckpt DIR [-weights int8|bf16] [-engine gen|interp] [-batches N]",
		doc:   "a trained language model's validation loss from Predict's logits, with its weight matrices as trained or converted to int8 or bf16",
		run:   cmdEval,
	})
}

func cmdEval(c *cli, args []string) error {
	fs := c.flags("eval")
	dir := fs.String("ckpt", "", "the checkpoint directory (required)")
	weights := fs.String("weights", "", "convert the weight matrices first: int8 or bf16 (default: as trained)")
	engineFlag := fs.String("engine", "gen", "gen (generated code) or interp (the interpreter)")
	maxBatches := fs.Int("batches", 0, "use the first N validation batches (0: all)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	engine, err := mechinterp.ParseEngine(*engineFlag)
	if err != nil {
		return err
	}
	wdt, err := compile.ParseWeights(*weights)
	if err != nil {
		return err
	}
	if *maxBatches < 0 {
		return fmt.Errorf("-batches must not be negative, got %d", *maxBatches)
	}
	ck, err := mechinterp.OpenCheckpoint(*dir, "", "")
	if err != nil {
		return err
	}
	m := &loaded{Model: ck.Model}
	vals, err := compile.CheckpointValues(ck.File)
	if err != nil {
		return err
	}
	res, err := m.Compile(compile.Options{Weights: wdt, Values: vals})
	if err != nil {
		return err
	}
	prog := res.Program
	def := m.trainDefaults()
	if def.Data != data.KindLM {
		return fmt.Errorf("%s is not a language model trained by mlc train on text; eval reads next-token logits", ck.Settings.Model)
	}
	st := ck.Settings
	ds, err := data.New(data.Options{
		Kind: def.Data, Path: st.Data, Dir: *dir, Resume: true, Seed: st.Seed,
		Config: func(key string) int { return configInt(m, key) },
		Inputs: inputNames(prog.Predict), Shapes: inputShapes(prog.Predict),
	})
	if err != nil {
		return err
	}
	p, err := mechinterp.NewPredictor(prog, nil, engine) // the values are the program's
	if err != nil {
		return err
	}
	defer p.Close()
	batches := ds.Validation()
	if *maxBatches > 0 && *maxBatches < len(batches) {
		batches = batches[:*maxBatches]
	}
	out := prog.Predict.Results()[0].Name
	sum := 0.0
	for _, b := range batches {
		pred, err := p.Predict(data.Batch{"ids": b["ids"]})
		if err != nil {
			return err
		}
		l, err := meanCrossEntropy(pred.Outputs[out], b["targets"])
		if err != nil {
			return err
		}
		sum += l
	}
	if len(batches) == 0 {
		return fmt.Errorf("%s: no validation batches", *dir)
	}
	w := *weights
	if w == "" {
		w = prog.Float.String()
	}
	fmt.Fprintf(c.stdout, "validation loss %.6f (%d batches, %s weights, %s)\n", sum/float64(len(batches)), len(batches), w, engine)
	return nil
}

// meanCrossEntropy is the mean over positions of −log softmax(logits)[target],
// in float64; logits are [..., vocab], targets the ids of the leading axes.
func meanCrossEntropy(logits, targets runtime.JSONTensor) (float64, error) {
	if len(logits.Shape) == 0 || len(targets.Data) == 0 {
		return 0, fmt.Errorf("no logits or targets")
	}
	v := logits.Shape[len(logits.Shape)-1]
	if len(logits.Data) != v*len(targets.Data) {
		return 0, fmt.Errorf("logits %v for %d targets", logits.Shape, len(targets.Data))
	}
	sum := 0.0
	for i, t := range targets.Data {
		row := logits.Data[i*v : (i+1)*v]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = max(mx, float64(x))
		}
		z := 0.0
		for _, x := range row {
			z += math.Exp(float64(x) - mx)
		}
		id := int(t)
		if id < 0 || id >= v {
			return 0, fmt.Errorf("target %d outside the vocabulary of %d", id, v)
		}
		sum += mx + math.Log(z) - float64(row[id])
	}
	return sum / float64(len(targets.Data)), nil
}
