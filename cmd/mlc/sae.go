package main

import (
	"fmt"
	"path/filepath"

	"github.com/mlc-dev/mlc/mechinterp"
	"github.com/mlc-dev/mlc/models/sae"
)

// mlc sae: a sparse autoencoder on one layer of a language model
// (mechinterp.LM.TrainSAE), and the contexts that activate one of its
// features most (mechinterp.SAETop). See docs/sae.md.

func init() {
	register(verb{
		name:  "sae",
		usage: "mlc sae -ckpt DIR -layer L [-model M] [-features M] [-lambda λ] [-steps N] [-batch B] [-lr R] [-tokens N] [-data PATH] [-seed S] [-engine gen|interp] -o DIR2 [-json] | mlc sae -ckpt DIR2 -top FEATURE [-k K] [-engine gen|interp] [-json]",
		doc:   "train a sparse autoencoder on a language model's activations, or show the contexts that activate one of its features most",
		run:   cmdSAE,
	})
}

func cmdSAE(c *cli, args []string) error {
	fs := c.flags("sae")
	model := fs.String("model", "", "language model name (default: the checkpoint's)")
	ckpt := fs.String("ckpt", "", "training: the language model's checkpoint directory; -top: the SAE's (-o of the training run)")
	layer := fs.String("layer", "", "layer whose residual stream to encode: in (the embeddings), a block number L (its output) or a tap name")
	features := fs.Int("features", 0, "dictionary size m (default: 4 × the model's width)")
	lambda := fs.Float64("lambda", sae.DefaultConfig().Lambda, "strength λ of the L1 penalty")
	steps := fs.Int("steps", mechinterp.SAESteps, "training steps")
	batch := fs.Int("batch", sae.DefaultConfig().Batch, "activations per step")
	lr := fs.Float64("lr", mechinterp.SAELR, "Adam's learning rate")
	tokens := fs.Int("tokens", mechinterp.SAETokens, "tokens to read, training and held-out together (0: every document)")
	windows := fs.Int("windows", mechinterp.ProbeWindows, "windows of the model's context to read from each document (0: all)")
	lead := fs.Int("lead", -1, "tokens of context before the first token read of a window (default: half the context)")
	data := fs.String("data", "", "text, a file or a directory (default: the Go standard library's source)")
	seed := fs.Uint64("seed", 0, "seed of the initialisation and the batch order")
	out := fs.String("o", "", "directory to write the SAE's checkpoint, loss.csv and loss.png to")
	top := fs.Int("top", -1, "show the held-out contexts that activate this feature most (with -ckpt of an SAE)")
	k := fs.Int("k", 10, "contexts to show with -top")
	asJSON := fs.Bool("json", false, "print JSON")
	engineOf := engineFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	engine, err := engineOf()
	if err != nil {
		return err
	}
	if *top >= 0 {
		if *out != "" || *layer != "" {
			return fmt.Errorf("-top reads a trained SAE: give -ckpt of its directory, without -o or -layer")
		}
		if *k <= 0 {
			return fmt.Errorf("-k must be positive, got %d", *k)
		}
		rep, err := mechinterp.SAETop(*ckpt, *top, *k, engine, c.progress())
		if err != nil {
			return err
		}
		if *asJSON {
			return c.printJSON(rep)
		}
		printSAETop(c, rep)
		return nil
	}
	switch {
	case *out == "":
		return fmt.Errorf("give -o DIR to train an SAE, or -top FEATURE to read one")
	case *layer == "":
		return fmt.Errorf("-layer is required: in, a block number or a tap name")
	case *features < 0 || *steps <= 0 || *batch <= 0 || !(*lr > 0) || *tokens < 0 || *windows < 0:
		return fmt.Errorf("-features, -tokens and -windows must be >= 0; -steps, -batch and -lr positive")
	case !(*lambda >= 0):
		return fmt.Errorf("-lambda must be >= 0, got %v", *lambda)
	}
	lm, err := mechinterp.OpenLM(*ckpt, *model)
	if err != nil {
		return err
	}
	taps, err := mechinterp.PickLayers(*layer, lm.Taps)
	if err != nil {
		return err
	}
	if len(taps) != 1 {
		return fmt.Errorf("-layer %q names %d layers; an SAE encodes one", *layer, len(taps))
	}
	if *lead < 0 {
		*lead = lm.Ctx / 2
	}
	m, err := lm.TrainSAE(*out, mechinterp.SAEOptions{
		Layer: taps[0], Features: *features, Lambda: *lambda, Steps: *steps, Batch: *batch, LR: *lr,
		Read: mechinterp.SAERead{Tokens: *tokens, Windows: *windows, Lead: *lead}, Data: *data, Seed: *seed,
		Engine: engine, Log: c.logf, Progress: c.progress(),
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return c.printJSON(m)
	}
	fmt.Fprintf(c.stdout, "held out (%d tokens): dead features %d of %d (%.1f%%), mean L0 %.2f, mean L1 %.3f, reconstruction MSE %.5f, variance explained %.3f\n",
		m.Tokens, m.Dead, m.Features, 100*m.DeadFraction, m.L0, m.L1, m.MSE, m.FVE)
	fmt.Fprintf(c.stdout, "saved %s\n", filepath.Join(*out, ckptFile))
	return nil
}

func printSAETop(c *cli, rep *mechinterp.SAETopReport) {
	fmt.Fprintf(c.stdout, "feature %d of the SAE on %s: active on %d of %d held-out tokens (%.2f%%), max %.3f\n",
		rep.Feature, rep.Layer, rep.Active, rep.Tokens, 100*float64(rep.Active)/float64(max(rep.Tokens, 1)), rep.Max)
	if len(rep.Examples) == 0 {
		fmt.Fprintln(c.stdout, "(never active on the held-out tokens: a dead feature)")
	}
	for _, ex := range rep.Examples {
		fmt.Fprintf(c.stdout, "%8.3f  %-36s %s\n", ex.Activation, fmt.Sprintf("%s:%d", ex.Doc, ex.Line), ex.Context)
	}
}
