package main

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// stages are the graphs mlc graph can print, with what each is.
const stageHelp = "which graph: forward (inference), train (forward + backward + update), prefill or decode (KV-cache decoding of a causal decoder)"

// stageGraph compiles the model and returns the graph of one stage, and,
// with -after, that graph as it was after the pass (nil without -after).
func (c *cli) stageGraph(l *loaded, stage string, pf *passFlags) (g, after *graph.Graph, err error) {
	switch stage {
	case "forward", "train", "prefill", "decode":
	default:
		return nil, nil, fmt.Errorf("-stage must be forward, train, prefill or decode, got %q", stage)
	}
	opts := l.compileOptions(passes.OptimizerConfig{})
	if stage == "prefill" || stage == "decode" {
		opts.Decode = "on" // a model that is not a decoder says why
	}
	// The pipeline runs on every entry point: keep each one's dump and pick
	// the stage's at the end.
	dumps := map[*graph.Graph]*graph.Graph{}
	if err := pf.apply(&opts, func(_ string, g *graph.Graph) { dumps[g] = g.Clone() }); err != nil {
		return nil, nil, err
	}
	res, err := l.Compile(opts)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(c.stderr, "warning:", w)
	}
	p := res.Program
	g = map[string]*graph.Graph{"forward": p.Predict, "train": p.Train, "prefill": p.Prefill, "decode": p.Decode}[stage]
	if g == nil {
		return nil, nil, fmt.Errorf("%s has no loss, so no train stage", l.Name)
	}
	pf.report(c, res.StageStats[g]) // the stage shown, not the whole compile
	return g, dumps[g], nil
}
