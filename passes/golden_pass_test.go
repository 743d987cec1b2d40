package passes_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// describe prints a graph with what fuse and memplan leave on it.
func describe(g *graph.Graph) string {
	var b strings.Builder
	b.WriteString(g.String())
	if g.Fusion != nil {
		for _, grp := range g.Fusion.Groups {
			var members, results []string
			for _, n := range grp.Nodes {
				members = append(members, n.Ref())
			}
			for _, n := range grp.Results {
				results = append(results, n.Ref())
			}
			prod := ""
			if grp.Producer != nil {
				prod = " producer " + grp.Producer.Ref()
			}
			fmt.Fprintf(&b, "# fuse %s: %s -> %s%s\n", grp.Kind, strings.Join(members, " "), strings.Join(results, " "), prod)
		}
	}
	if p := g.Plan; p != nil {
		var lines []string
		for n, off := range p.Offset {
			lines = append(lines, fmt.Sprintf("# plan %s at %d", n.Ref(), off))
		}
		sort.Slice(lines, func(i, j int) bool {
			var a, b int
			fmt.Sscanf(strings.TrimPrefix(lines[i], "# plan v"), "%d", &a)
			fmt.Sscanf(strings.TrimPrefix(lines[j], "# plan v"), "%d", &b)
			return a < b
		})
		b.WriteString(strings.Join(lines, "\n") + "\n")
		fmt.Fprintf(&b, "# arena %v elements; naive %d, planned %d, lower bound %d bytes; %d in place\n", p.Size, p.NaiveBytes, p.PlannedBytes, p.LowerBoundBytes, p.InPlace)
	}
	return b.String()
}

// TestPassGoldens runs each pass on its inputs under testdata/passes: a
// hand-written <pass>.ir, and for every pass the -O0 training graphs of the
// seed MLP and the tiny decoder (the pass alone). The output IR, with the
// fusion groups and memory plan, is compared with <input>.<pass>.golden;
// go test -update rewrites the goldens.
func TestPassGoldens(t *testing.T) {
	inputs := map[string]string{}
	for _, model := range []string{"seedmlp", "tinydecoder"} {
		res, err := compile.Zoo(model, "", compile.Options{Passes: passes.Options{O0: true, Disable: []string{"dce"}}})
		if err != nil {
			t.Fatal(err)
		}
		inputs[model] = res.Program.Train.String()
	}
	for _, p := range passes.Pipeline {
		files := map[string]string{}
		for m, text := range inputs {
			files[m] = text
		}
		if b, err := os.ReadFile(filepath.Join("testdata", "passes", p.Name+".ir")); err == nil {
			files[p.Name] = string(b)
		}
		for name, text := range files {
			t.Run(p.Name+"/"+name, func(t *testing.T) {
				g, err := graph.Parse(name+".ir", text)
				if err != nil {
					t.Fatal(err)
				}
				st := passes.NewStats()
				if p.Name == "memplan" { // the plan follows fusion, as in the pipeline
					if err := passes.Fuse(g, st); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.Run(g, st); err != nil {
					t.Fatal(err)
				}
				if err := graph.Validate(g); err != nil {
					t.Fatalf("pass %s broke an invariant: %v", p.Name, err)
				}
				checkGolden(t, filepath.Join("passes", name+"."+p.Name+".golden"), describe(g)+"# rewrites\n"+st.Report())
			})
		}
	}
}
