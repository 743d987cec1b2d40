package graph_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
)

// zooGraphs builds every zoo model's forward and train graphs.
func zooGraphs(t *testing.T) map[string]*graph.Graph {
	t.Helper()
	out := map[string]*graph.Graph{}
	for _, e := range models.Zoo {
		cfg, err := e.Config("")
		if err != nil {
			t.Fatal(err)
		}
		fwd, err := e.Build(cfg, dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name+".forward"] = fwd
		tr, err := e.Build(cfg, dsl.Options{Train: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := passes.Autodiff(tr, passes.AutodiffOptions{}); err != nil {
			t.Fatal(err)
		}
		out[e.Name+".train"] = tr
	}
	return out
}

// TestPrintParseRoundTrip: print → parse → print is the identity, and the
// JSON form reads back to the same graph, for every zoo model and stage.
func TestPrintParseRoundTrip(t *testing.T) {
	for name, g := range zooGraphs(t) {
		t.Run(name, func(t *testing.T) {
			text := g.String()
			p, err := graph.Parse(name+".ir", text)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(text, p.String()); diff != "" {
				t.Fatalf("round trip differs (-printed +reparsed):\n%s", diff)
			}
			js, err := g.JSON()
			if err != nil {
				t.Fatal(err)
			}
			j, err := graph.ParseJSON(name+".json", js)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(text, j.String()); diff != "" {
				t.Fatalf("JSON round trip differs:\n%s", diff)
			}
		})
	}
}

// TestDOTRenders runs Graphviz on the DOT of every zoo graph; it skips only
// when dot is not installed (.ci/run installs it).
func TestDOTRenders(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("graphviz dot not installed")
	}
	for name, g := range zooGraphs(t) {
		if len(g.Nodes) > 200 {
			continue // Graphviz takes minutes to lay out the big transformers
		}
		src := g.DOT()
		if strings.HasSuffix(name, ".train") && !strings.Contains(src, "style=dashed") {
			t.Errorf("%s: DOT has no grad-of edges", name)
		}
		path := filepath.Join(t.TempDir(), "g.dot")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := exec.CommandContext(ctx, dot, "-Tsvg", path).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: dot failed: %v\n%s", name, err, out)
		}
		if !strings.Contains(string(out), "<svg") {
			t.Fatalf("%s: dot printed no SVG", name)
		}
	}
}
