package main

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

func cmdGraph(c *cli, args []string) error {
	fs := c.flags("graph")
	var mf modelFlags
	mf.register(fs)
	mf.registerTaps(fs)
	stage := fs.String("stage", "forward", stageHelp)
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
	g, after, err := c.stageGraph(m, *stage, &pf)
	if err != nil {
		return err
	}
	if pf.after != "" {
		g = after
	}
	return print(g)
}
