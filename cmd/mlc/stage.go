package main

import (
	"fmt"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
)

// stageGraph compiles the model and returns the graph of one stage: forward
// (the Predict entry point) or train (forward, backward and update).
func (c *cli) stageGraph(l *loaded, stage string, pf *passFlags, dump func(string, *graph.Graph)) (*graph.Graph, error) {
	if stage != "forward" && stage != "train" {
		return nil, fmt.Errorf("-stage must be forward or train, got %q", stage)
	}
	opts := l.compileOptions(0)
	if err := pf.apply(&opts, dump); err != nil {
		return nil, err
	}
	res, err := compile.Zoo(l.entry.Name, l.cfgSpec, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(c.stderr, "warning:", w)
	}
	pf.report(c, opts.Stats)
	if stage == "forward" {
		return res.Program.Predict, nil
	}
	if res.Program.Train == nil {
		return nil, fmt.Errorf("%s has no loss, so no train stage", l.entry.Name)
	}
	return res.Program.Train, nil
}
