package codegen_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/randgraph"
	"github.com/mlc-dev/mlc/passes"
)

// dslDerived matches identifiers the namer makes from node names once every
// name starts with "zz": those names, and t<ID> (with a fused kernel's "v"
// and the namer's "_2") for unnamed nodes, and the names prefixNames keeps;
// and what the namer avoids by pattern: loop variables i4…, the constant
// arrays const1…, and the result loss of the training entry points, which
// their namers take first.
var dslDerived = regexp.MustCompile(`zz|^t\d+v?(_\d+)?$|^(logits|kv_pos|kv_length|loss)v?$|^i\d+$|^const\d+$`)

// TestEmittedNamesAreReserved: in every function of model.go that has a
// local named after a DSL value, every other identifier (declared there, or
// the package-level names it calls) is reserved, so that no DSL name can
// shadow it or be shadowed: a parameter named bc2 once became Adam's local.
// The models' node names get a "zz" prefix so the two kinds are told apart.
func TestEmittedNamesAreReserved(t *testing.T) {
	type job struct {
		name string
		res  *compile.Result
	}
	var jobs []job
	opts := func(kind string, o0 bool) compile.Options {
		return compile.Options{Optimizer: passes.OptimizerConfig{Kind: kind, Clip: 1, Warmup: 2, Steps: 5}, L2: 0.01, Passes: passes.Options{O0: o0}}
	}
	for i, m := range []struct{ name, cfg string }{
		{"seedmlp", ""}, {"xor", ""}, {"mlp", "sizes=6-5-3,batch=2,dropout=0.1"}, {"tinydecoder", ""},
		{"gpt", "vocab=7,ctx=4,d=4,heads=2,layers=1,ffn=8,batch=2"}, {"bert", "vocab=7,ctx=4,d=4,heads=2,layers=1,ffn=8,batch=2"},
	} {
		for _, o0 := range []bool{false, true} {
			res, err := compile.Zoo(m.name, m.cfg, opts(passes.OptimizerKinds[i%len(passes.OptimizerKinds)], o0))
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, job{m.name, res})
		}
	}
	for seed := range uint64(40) { // every op, with the names the fuzzer tries
		m, err := randgraph.FromSeed(seed, randgraph.Config{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := compile.Build(m.Name, m.Forward.Source, m.Build, compile.Options{Optimizer: m.Optimizer, L2: m.L2})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{"randgraph", res})
	}
	for _, j := range jobs {
		prefixNames(j.res.Program)
		files, err := codegen.Generate(j.res.Program, codegen.Options{Package: "zz"})
		if err != nil {
			t.Fatalf("%s: %v", j.name, err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), "model.go", files[0].Data, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ids := identsIn(fn)
			if !slices.ContainsFunc(ids, dslDerived.MatchString) {
				continue // no DSL names here: its locals cannot clash with one
			}
			for _, id := range ids {
				if id != "_" && !dslDerived.MatchString(id) && !codegen.Reserved(id) {
					t.Errorf("%s: %s uses %s, which a DSL name could take: add it to codegen's locals", j.name, fn.Name.Name, id)
				}
			}
		}
	}
}

// prefixNames puts "zz" before every node and output name but the ones
// codegen looks up by name (the KV cache's, a language model's logits).
func prefixNames(p *graph.Program) {
	keep := func(name string) bool {
		return name == "" || name == graph.KVPosName || name == graph.KVLengthName || name == "logits"
	}
	for _, g := range p.Graphs() {
		for _, n := range g.Nodes {
			if !keep(n.Name) {
				n.Name = "zz" + n.Name
			}
		}
		for i := range g.Outputs {
			if !keep(g.Outputs[i].Name) {
				g.Outputs[i].Name = "zz" + g.Outputs[i].Name
			}
		}
	}
}

// identsIn lists the identifiers of a function but the receiver, selected
// fields and methods, and struct literal keys.
func identsIn(fn *ast.FuncDecl) []string {
	skip := map[*ast.Ident]bool{}
	var out []string
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			skip[n.Sel] = true
		case *ast.KeyValueExpr:
			if id, ok := n.Key.(*ast.Ident); ok {
				skip[id] = true
			}
		case *ast.Ident:
			if !skip[n] && n != fn.Name && !strings.HasPrefix(n.Name, "fused") {
				out = append(out, n.Name)
			}
		}
		return true
	})
	return out
}
