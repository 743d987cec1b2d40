package main

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// stageGraph builds the graph of one pipeline stage; warnings go to stderr.
func (c *cli) stageGraph(l *loaded, stage string) (*graph.Graph, error) {
	switch stage {
	case "forward":
		return l.forward(false)
	case "train":
		g, err := l.forward(true)
		if err != nil {
			return nil, err
		}
		warns, err := passes.Autodiff(g, passes.AutodiffOptions{})
		for _, w := range warns {
			fmt.Fprintln(c.stderr, "warning:", w)
		}
		return g, err
	}
	return nil, fmt.Errorf("-stage must be forward or train, got %q", stage)
}
