package models

import (
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
)

// TestZooBuilds: every model builds in both dtypes with its defaults, has a
// loss and at least one output, and its source is module-relative.
func TestZooBuilds(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Zoo {
		if seen[e.Name] {
			t.Errorf("duplicate model name %q", e.Name)
		}
		seen[e.Name] = true
		if e.Source != "models/"+e.Name+"/"+e.Name+".go" {
			t.Errorf("%s: source %q", e.Name, e.Source)
		}
		for _, dt := range []graph.DType{graph.F32, graph.F64} {
			cfg, err := e.Config("")
			if err != nil {
				t.Fatal(err)
			}
			g, err := e.Build(cfg, dsl.Options{Float: dt})
			if err != nil {
				t.Fatalf("%s %s: %v", e.Name, dt, err)
			}
			if g.Loss == nil || len(g.Outputs) == 0 {
				t.Errorf("%s: loss %v, %d outputs", e.Name, g.Loss, len(g.Outputs))
			}
			if g.Loss.Type.DType != dt {
				t.Errorf("%s: loss dtype %s, want %s", e.Name, g.Loss.Type.DType, dt)
			}
		}
	}
	if _, err := Lookup("gpt2-xl"); err == nil || err.Error() != `unknown model "gpt2-xl" (models: `+joined()+`)` {
		t.Errorf("Lookup error: %v", err)
	}
}

func joined() string {
	s := ""
	for i, n := range Names() {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
