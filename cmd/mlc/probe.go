package main

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/mlc-dev/mlc/mechinterp"
)

// mlc probe: linear probes on a frozen language model (mechinterp.LM.Probes).
// See docs/probes.md.

func init() {
	register(verb{
		name:  "probe",
		usage: "mlc probe -ckpt DIR [-model M] (-task string|ident [-data PATH] | -labels FILE) [-layer all|in|L|L,L] [-tokens N] [-windows N] [-steps N] [-lr R] [-write-labels FILE] [-engine gen|interp] [-json]",
		doc:   "train linear probes on a trained language model's hidden states and report held-out accuracy per layer",
		run:   cmdProbe,
	})
}

func cmdProbe(c *cli, args []string) error {
	fs := c.flags("probe")
	model := fs.String("model", "", "model name (default: the checkpoint's)")
	ckpt := fs.String("ckpt", "", "directory of a language model's checkpoint written by mlc train (required)")
	layer := fs.String("layer", "all", "layers to probe: all, in (the embeddings), a block number L (its output), or a comma-separated list")
	labelsPath := fs.String("labels", "", "labels file: documents as the model's tokens with a 0/1 label each (see docs/probes.md)")
	task := fs.String("task", "", "built-in labelling of Go source: string (inside a string literal) or ident (part of an identifier)")
	data := fs.String("data", "", "text for -task, a file or a directory (default: the Go standard library's source)")
	tokens := fs.Int("tokens", mechinterp.ProbeTokens, "tokens to read, training and held-out together (0: every document)")
	windows := fs.Int("windows", mechinterp.ProbeWindows, "windows of the model's context to read from each document, spread over it (0: all)")
	lead := fs.Int("lead", -1, "tokens of context the model reads before the first token of a window that is read (default: half the context)")
	steps := fs.Int("steps", mechinterp.ProbeSteps, "full-batch training steps of each probe (Adam)")
	lr := fs.Float64("lr", mechinterp.ProbeLR, "learning rate of the probes")
	writeLabels := fs.String("write-labels", "", "write the -task labelling of the documents read to this labels file and stop")
	asJSON := fs.Bool("json", false, "print JSON")
	engineOf := engineFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	engine, err := engineOf()
	if err != nil {
		return err
	}
	if (*task == "") == (*labelsPath == "") {
		return fmt.Errorf("give one of -task string|ident or -labels FILE")
	}
	if _, ok := mechinterp.Tasks[*task]; *task != "" && !ok {
		return fmt.Errorf("-task must be string or ident, got %q", *task)
	}
	if *writeLabels != "" && *task == "" {
		return fmt.Errorf("-write-labels writes a -task's labels; give -task")
	}
	if *data != "" && *task == "" {
		return fmt.Errorf("-data is the text of a -task; a labels file holds its own text")
	}
	if *tokens < 0 || *windows < 0 || *steps <= 0 || !(*lr > 0) {
		return fmt.Errorf("-tokens and -windows must be >= 0, -steps and -lr positive")
	}
	lm, err := mechinterp.OpenLM(*ckpt, *model)
	if err != nil {
		return err
	}
	layers, err := mechinterp.PickLayers(*layer, lm.Taps)
	if err != nil {
		return err
	}
	if *lead < 0 {
		*lead = lm.Ctx / 2
	}
	var docs []*mechinterp.Doc
	if *task != "" {
		if docs, err = lm.TaskDocs(*task, *data, *tokens, *windows, *lead); err != nil {
			return err
		}
	} else if docs, err = mechinterp.ReadLabels(*labelsPath, lm.Tokenizer, lm.Pieces); err != nil {
		return err
	}
	sel, err := mechinterp.SelectWindows(docs, lm.Ctx, *lead, *windows, *tokens, mechinterp.ProbeHoldOut)
	if err != nil {
		return err
	}
	if *writeLabels != "" {
		if err := mechinterp.SaveLabels(*writeLabels, "task "+*task+", 1 = the token is "+mechinterp.Tasks[*task].About, sel.Docs, lm.Pieces); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "wrote %d documents (%d tokens) labelled by task %s to %s\n", len(sel.Docs), mechinterp.TotalTokens(sel.Docs), *task, *writeLabels)
		return nil
	}
	rep, err := lm.Probes(sel, mechinterp.ProbeOptions{
		Layers: layers, Steps: *steps, LR: *lr, Engine: engine,
		Task: *task, Labels: *labelsPath, Log: c.logf, Progress: c.progress(),
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return c.printJSON(rep)
	}
	printProbe(c, rep)
	return nil
}

func printProbe(c *cli, rep *mechinterp.ProbeReport) {
	what := "labels " + rep.Labels
	if rep.Task != "" {
		what = "task " + rep.Task + ": is the token " + mechinterp.Tasks[rep.Task].About
	}
	fmt.Fprintf(c.stdout, "linear probes on %s (%s), %s\n", rep.Model, rep.Checkpoint, what)
	fmt.Fprintf(c.stdout, "training: %d tokens from %d files, %.1f%% positive; held out: %d tokens from %d other files, %.1f%% positive\n",
		rep.TrainTokens, rep.TrainDocs, 100*rep.TrainPositive, rep.HeldOutTokens, rep.HeldOutDocs, 100*rep.HeldOutPositive)
	fmt.Fprintf(c.stdout, "%-8s %9s %9s %7s %8s %8s %10s\n", "layer", "accuracy", "baseline", "F1", "loss", "baseline", "train acc")
	for _, l := range rep.Layers {
		fmt.Fprintf(c.stdout, "%-8s %9.4f %9.4f %7.3f %8.4f %8.4f %10.4f\n", l.Layer, l.Accuracy, l.Baseline, l.F1, l.Loss, l.BaselineLoss, l.TrainAccuracy)
	}
	fmt.Fprintln(c.stdout, "(accuracy, F1 of the positive class and cross-entropy loss in nats/token on the held-out files;")
	fmt.Fprintln(c.stdout, " the baselines predict the training split's majority class and class frequencies)")
}

// logf prints a library's progress line on stderr.
func (c *cli) logf(format string, args ...any) { fmt.Fprintf(c.stderr, format, args...) }

// progress reports a library's batches over the text on stderr, when that
// is a terminal and there is more than one batch.
func (c *cli) progress() mechinterp.Progress {
	f, ok := c.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(model string, done, total int) {
		if total <= 1 {
			return
		}
		fmt.Fprintf(c.stderr, "\rrunning %s over the text: batch %d/%d", model, done, total)
		if done == total {
			fmt.Fprintln(c.stderr)
		}
	}
}

// printJSON prints v as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
