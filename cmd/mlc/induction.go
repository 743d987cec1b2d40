package main

import (
	"fmt"
	"io"

	"github.com/mlc-dev/mlc/mechinterp"
)

func init() {
	register(verb{
		name:  "induction",
		usage: "mlc induction [-steps N] [-seed S] [-config k=v,...] [-o FILE.png] [-engine gen|interp] [-json]",
		doc:   "train a 2-layer attention-only gpt on repeated random sequences and find its induction heads",
		run:   cmdInduction,
	})
}

func cmdInduction(c *cli, args []string) error {
	fs := c.flags("induction")
	steps := fs.Int("steps", mechinterp.InductionSteps, "training steps")
	seed := fs.Uint64("seed", 0, "seed of the initialisation and of the sequences")
	config := fs.String("config", "", "gpt config overrides on top of the demo's "+mechinterp.InductionConfig)
	lr := fs.Float64("lr", mechinterp.InductionLR, "peak learning rate (AdamW, warmup and cosine decay)")
	out := fs.String("o", "induction_head.png", "write the top head's attention on a held-out sequence to this PNG (empty: none)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	logEvery := fs.Int("log", 100, "steps between progress lines (on stderr with -json)")
	engineOf := engineFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	engine, err := engineOf()
	if err != nil {
		return err
	}
	if *steps <= 0 {
		return fmt.Errorf("-steps must be positive, got %d", *steps)
	}
	if !(*lr > 0) {
		return fmt.Errorf("-lr must be positive, got %v", *lr)
	}
	if *logEvery <= 0 {
		return fmt.Errorf("-log must be positive, got %d", *logEvery)
	}
	progress := c.stdout
	if *asJSON {
		progress = c.stderr
	}
	rep, err := mechinterp.Induction(mechinterp.InductionOptions{
		Steps: *steps, Seed: *seed, Config: *config, LR: *lr, PNG: *out, Engine: engine,
		LogEvery: *logEvery, Log: c.logf, Progress: func(format string, args ...any) { fmt.Fprintf(progress, format, args...) },
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return c.printJSON(rep)
	}
	printInduction(c.stdout, rep)
	return nil
}

func printInduction(w io.Writer, rep *mechinterp.InductionReport) {
	fmt.Fprintf(w, "\nheld-out loss over %d sequences (nats/token; uniform guess %.3f):\n", rep.Sequences, rep.Loss.Uniform)
	fmt.Fprintf(w, "  first half (first copy)  %.4f\n", rep.Loss.FirstHalf)
	fmt.Fprintf(w, "  second half (repeat)     %.4f\n", rep.Loss.SecondHalf)
	fmt.Fprintf(w, "\nhead scores: mean attention to the token after the earlier occurrence\n(induction) and to the previous token; uniform attention scores %.4f\n\n", rep.Chance)
	fmt.Fprintf(w, "  layer  head  induction  prev-token\n")
	for _, s := range rep.Heads {
		mark := ""
		if s == rep.Top {
			mark = "  ← top"
		}
		fmt.Fprintf(w, "  %5d  %4d  %9.4f  %10.4f%s\n", s.Layer, s.Head, s.Induction, s.PrevToken, mark)
	}
	if rep.PNG != "" {
		fmt.Fprintf(w, "\nwrote %s: layer %d head %d on a held-out sequence\n", rep.PNG, rep.Top.Layer, rep.Top.Head)
	}
}
