package main

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

func cmdGraph(c *cli, args []string) error {
	fs := c.flags("graph")
	var mf modelFlags
	mf.register(fs)
	stage := fs.String("stage", "forward", "which graph: forward (inference) or train (forward + backward + update)")
	var pf passFlags
	pf.register(fs)
	format := fs.String("format", "text", "output format: text, dot or json")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	switch *format {
	case "text", "dot", "json":
	default:
		return fmt.Errorf("-format must be text, dot or json, got %q", *format)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	print := func(g *graph.Graph) error {
		switch *format {
		case "dot":
			fmt.Fprint(c.stdout, g.DOT())
		case "json":
			b, err := g.JSON()
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, string(b))
		default:
			fmt.Fprint(c.stdout, g.String())
		}
		return nil
	}
	var dumpErr error
	want := map[string]string{"forward": "", "train": " (train)"}[*stage]
	dumped := false
	g, err := c.stageGraph(m, *stage, &pf, func(pass string, g *graph.Graph) {
		// The pipeline runs on every entry point; -after prints the stage asked for.
		if (g.Loss != nil) == (want != "") && !dumped {
			dumped = true
			dumpErr = print(g.Clone())
		}
	})
	if err != nil {
		return err
	}
	if pf.after != "" {
		return dumpErr
	}
	return print(g)
}
