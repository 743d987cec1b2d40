package codegen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"strconv"
	"strings"
	"sync"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime/sample"
)

// locals are the identifiers emitted code declares in functions whose other
// locals are named after DSL values (the entry points' bodies, the fused
// kernels, Prefill): loop and scratch variables, the optimizers' per-update
// scalars, the attention kernels' views and the receiver. A DSL value named
// like one of them gets a suffix. TestEmittedNamesAreReserved fails on a
// local missing here.
var locals = []string{
	"m", "i", "j", "k", "l", "b", "c", "g", "h", "n", "o", "p", "r", "s", "t", "v", "w",
	"err", "lr", "bc1", "bc2", "buf", "row", "rows", "sc", "qb", "kb", "vb", "ob", "wb", "wr", "qh",
	"lo", "hi", "thread", "mu", "alpha", "eps", "beta1", "beta2", "wd",
}

// reserved reports identifiers generated code uses itself: Go's keywords
// and predeclared names, the emitters' locals, the packages it imports, and
// everything the package declares at top level (mlc_lib.go, the kernels, the
// sampler and model.go's own types and functions). A local named like a
// package-level function would hide it from the code after it.
func reserved(name string) bool { return token.IsKeyword(name) || reservedNames()[name] }

var reservedNames = sync.OnceValue(func() map[string]bool {
	r := map[string]bool{}
	for _, s := range locals {
		r[s] = true
	}
	for _, s := range types.Universe.Names() {
		r[s] = true
	}
	// model.go's own declarations and imports.
	for _, s := range []string{"Model", "Tensor", "New", "NewSeeded", "sizeError", "task", "math", "fmt", "errors", "sync", "testing",
		"mlcWeights", "loadWeights", "embed", "binary"} {
		r[s] = true
	}
	// The copied sources' exported names, renamed (internalNames).
	for _, s := range internalNames {
		r[s] = true
	}
	srcs := []string{libSource, sample.Source, patchesSource}
	entries, _ := kernelFiles.ReadDir("kernels")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") {
			b, _ := kernelFiles.ReadFile("kernels/" + e.Name())
			srcs = append(srcs, string(b))
		}
	}
	for _, src := range srcs {
		f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
		if err != nil {
			panic("codegen: parsing the sources copied into generated packages: " + err.Error())
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			r[path[strings.LastIndex(path, "/")+1:]] = true
			if imp.Name != nil {
				r[imp.Name.Name] = true
			}
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					r[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					switch sp := sp.(type) {
					case *ast.TypeSpec:
						r[sp.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range sp.Names {
							r[n.Name] = true
						}
					}
				}
			}
		}
	}
	return r
})

// ident turns a DSL name into a Go identifier: letters, digits and '_'.
func ident(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// namer assigns each value of a graph a unique local identifier: its DSL name
// where it has one, else t<ID>.
type namer struct {
	used  map[string]bool
	names map[*graph.Node]string
}

func newNamer() *namer { return &namer{used: map[string]bool{}, names: map[*graph.Node]string{}} }

func (nm *namer) take(want string) string {
	name := want
	if reserved(name) || nm.used[name] || isLoopVar(name) || isConstName(name) {
		for k := 2; ; k++ {
			name = want + "_" + strconv.Itoa(k)
			if !nm.used[name] {
				break
			}
		}
	}
	nm.used[name] = true
	return name
}

// isLoopVar reports names of the form i4, i5, … that nested loops use.
func isLoopVar(s string) bool {
	if len(s) < 2 || s[0] != 'i' {
		return false
	}
	_, err := strconv.Atoi(s[1:])
	return err == nil
}

func (nm *namer) name(n *graph.Node) string {
	if s, ok := nm.names[n]; ok {
		return s
	}
	want := "t" + strconv.Itoa(n.ID)
	if n.Name != "" {
		want = ident(n.Name)
	}
	s := nm.take(want)
	nm.names[n] = s
	return s
}

// isConstName reports names of the form const1, const2, … that the
// package-level arrays of constant data take.
func isConstName(s string) bool {
	n, ok := strings.CutPrefix(s, "const")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// loopVar is the name of the loop variable for axis d of a loop nest.
func loopVar(d int) string {
	if d < 4 {
		return string("ijkl"[d])
	}
	return "i" + strconv.Itoa(d)
}

// varNames names the Go variables that hold inputs' (or outputs') values in
// the generated test and runner: prefix and the exported DSL name, made
// unique (x.y and x_y export alike). It maps each name of the graphs' nodes
// ns returns, in order, to its variable.
func varNames(prefix string, gs []*graph.Graph, ns func(*graph.Graph) []string) map[string]string {
	nm := newNamer()
	vars := map[string]string{}
	for _, g := range gs {
		if g == nil {
			continue
		}
		for _, name := range ns(g) {
			if _, ok := vars[name]; !ok {
				vars[name] = nm.take(prefix + exported(name))
			}
		}
	}
	return vars
}

// inputNames lists g's input names.
func inputNames(g *graph.Graph) []string {
	var names []string
	for _, n := range g.Inputs() {
		names = append(names, n.Name)
	}
	return names
}

// exported makes a Go exported name from a DSL name: W1, B1, Yhat.
func exported(name string) string {
	s := ident(name)
	if s == "" {
		return "X"
	}
	if s[0] == '_' {
		return "X" + s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
