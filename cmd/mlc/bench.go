package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
)

func cmdBench(c *cli, args []string) error {
	fs := c.flags("bench")
	var mf modelFlags
	mf.register(fs)
	runs := fs.Int("runs", 5, "timed runs per entry point and engine (median, min and max are over these)")
	runTime := fs.Duration("time", 300*time.Millisecond, "length of one run")
	entries := fs.String("entries", "", "comma-separated entry points (default: TrainStep, Predict and DecodeStep where they exist)")
	noInterp := fs.Bool("no-interp", false, "time generated code only")
	vsO0 := fs.Bool("vs-O0", false, "time generated code against the same model compiled with -O0, runs alternating: what the optimization passes buy")
	asJSON := fs.Bool("json", false, "print JSON")
	var wf weightsFlags
	wf.register(fs)
	precision := fs.String("precision", "", "bf16: TrainStep with bf16 mixed precision's rounding points")
	vsF32 := fs.Bool("vs-f32", false, "with -weights or -precision: time generated code against the same model in f32, runs alternating")
	of := optimizerFlags{modelsDefaults: true}
	of.register(fs, "the model's, as mlc train runs it, without the schedule", "the optimizer's")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	of.parsed(fs)
	if *runs < 1 {
		return fmt.Errorf("-runs must be at least 1, got %d", *runs)
	}
	weights, err := wf.parse(&mf)
	if err != nil {
		return err
	}
	prec, err := compile.ParsePrecision(*precision)
	if err != nil {
		return err
	}
	if *vsF32 && (weights.dt == graph.Invalid && prec == graph.Invalid || *vsO0) {
		return fmt.Errorf("-vs-f32 compares -weights int8 or bf16, or -precision bf16, with f32 (and not with -vs-O0)")
	}
	m, optim, err := loadWithOptimizer(&mf, &of)
	if err != nil {
		return err
	}
	copts := m.compileOptions(optim)
	wf.apply(&copts, weights)
	copts.Precision = prec
	res, err := m.Compile(copts)
	if err != nil {
		return err
	}
	prog := res.Program
	if err := compile.CheckMemory(prog, !*noInterp); err != nil {
		return err
	}
	opts := compile.BenchOptions{Runs: *runs, RunTime: *runTime, NoInterp: *noInterp}
	if *entries != "" {
		opts.Entries = strings.Split(*entries, ",")
	}
	inputs := compile.ExampleInputs(prog, m.Example(), 1)
	if *vsO0 || *vsF32 {
		o := copts
		labels := [2]string{"optimized", "O0"}
		if *vsO0 {
			o.Passes.O0 = true
		} else {
			o.Weights, o.Converted, o.Precision = graph.Invalid, nil, graph.Invalid
			labels = [2]string{wf.weights + " weights", "f32 weights"}
			if prec != graph.Invalid {
				labels = [2]string{"bf16 precision", "f32"}
			}
		}
		base, err := m.Compile(o)
		if err != nil {
			return err
		}
		if opts.Entries == nil {
			opts.Entries = compile.BenchEntries(prog) // the quantised program's: no TrainStep
		}
		if *vsF32 {
			inputs = compile.ExampleInputs(base.Program, m.Example(), 1) // with the training inputs f32's runner checks
		}
		pairs, err := compile.BenchPair(prog, base.Program, inputs, opts)
		if err != nil {
			return err
		}
		return printPairs(c, prog.Name, prog.Config, *asJSON, pairs, labels)
	}
	rep, err := compile.Bench(prog, inputs, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, string(b))
		return nil
	}
	w := c.stdout
	cfg := rep.Config
	if cfg == "" {
		cfg = "no config"
	}
	fmt.Fprintf(w, "%s (%s, %s), %s, GOMAXPROCS %d: per call, median of %d runs [min – max]\n\n", rep.Model, cfg, rep.DType, rep.GOARCH, rep.Procs, *runs)
	fmt.Fprintf(w, "%-11s %-10s %34s %10s %12s\n", "entry", "engine", "ns/call [min – max]", "allocs", "bytes")
	for _, e := range rep.Entries {
		line := func(engine string, s *compile.BenchStats) {
			fmt.Fprintf(w, "%-11s %-10s %34s %10.2f %12.1f\n", e.Entry, engine,
				fmt.Sprintf("%s [%s – %s]", nsString(s.NsMedian), nsString(s.NsMin), nsString(s.NsMax)), s.Allocs, s.Bytes)
		}
		line("generated", e.Generated)
		if e.Interpreter != nil {
			line("interp", e.Interpreter)
			fmt.Fprintf(w, "%-11s %-10s %34s\n", e.Entry, "speedup", fmt.Sprintf("%.1f×", e.Speedup))
		}
	}
	return nil
}

// nsString prints a duration in ns with three significant digits and a unit.
func nsString(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3gs", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3gms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3gµs", ns/1e3)
	}
	return fmt.Sprintf("%.3gns", ns)
}

// printPairs prints optimized-against--O0 timings.
func printPairs(c *cli, model, config string, asJSON bool, pairs []compile.PairEntry, labels [2]string) error {
	if asJSON {
		b, err := json.MarshalIndent(map[string]any{"model": model, "config": config, "a": labels[0], "b": labels[1], "entries": pairs}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, string(b))
		return nil
	}
	w := c.stdout
	what, head := "full optimization against -O0", [2]string{"optimized", "-O0"}
	if labels[0] != "optimized" {
		what, head = labels[0]+" against "+labels[1], labels
	}
	fmt.Fprintf(w, "%s (%s): generated code, %s, runs alternating; per call, median [min – max]\n\n", model, config, what)
	fmt.Fprintf(w, "%-11s %34s %34s %8s\n", "entry", head[0], head[1], "speedup")
	for _, p := range pairs {
		col := func(s *compile.BenchStats) string {
			return fmt.Sprintf("%s [%s – %s]", nsString(s.NsMedian), nsString(s.NsMin), nsString(s.NsMax))
		}
		fmt.Fprintf(w, "%-11s %34s %34s %7.2f×\n", p.Entry, col(p.A), col(p.B), p.Ratio)
	}
	return nil
}
