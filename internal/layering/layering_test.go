// Package layering holds the test that keeps mlc's import directions as
// ../../docs/design.md and the architecture brief give them.
package layering

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

const mod = "github.com/mlc-dev/mlc"

// allowed lists, per package prefix (relative to the module; the longest
// match wins), the module packages and third-party prefixes it may import
// besides the standard library and its own subpackages.
var allowed = []struct {
	pkg   string
	may   []string
	third []string
}{
	{"graph", nil, nil},
	{"dsl", []string{"graph"}, nil},
	{"passes", []string{"graph", "runtime/lowp"}, nil}, // runtime/lowp: stdlib-only number formats (the quantize pass)
	{"runtime", []string{"graph"}, []string{"gonum.org/v1/gonum"}},
	// runtime/sample and codegen/kernels are standard-library-only sources
	// that codegen copies verbatim into every generated package.
	{"codegen", []string{"graph", "runtime/sample", "runtime/lowp"}, []string{"github.com/dave/jennifer"}},
	{"models", []string{"dsl"}, nil},
	{"generated", nil, nil},
	// compile loads users' packages with go/packages, and builds the
	// data-parallel runner from dist's embedded source.
	{"compile", []string{"graph", "dsl", "passes", "runtime", "codegen", "models", "onnx", "dist"}, []string{"golang.org/x/tools/go/packages", "golang.org/x/mod/module"}},
	// The libraries over compile: data pipelines, the training loop.
	{"data", []string{"graph", "runtime"}, nil},
	{"train", []string{"compile", "data", "dist", "graph", "passes", "runtime", "internal/pngdraw"}, nil},
	// Interpretability over compiled models: everything below the CLI.
	{"mechinterp", []string{"compile", "data", "dsl", "graph", "models", "passes", "runtime", "train", "internal/pngdraw"}, nil},
	{"dist", []string{"dist"}, nil}, // standard library only (cgo to Open MPI under the mpi tag); dist/internal/bench imports dist
	{"onnx", []string{"graph", "dsl"}, []string{"google.golang.org/protobuf"}},
	{"internal/testutil", nil, nil},
	// The figures' drawing (loss curve, attention maps): the standard
	// library and x/image's bitmap font only, so that the CLI's figures
	// put no plotting modules in its users' go.mod.
	{"internal/pngdraw", nil, []string{"golang.org/x/image/font", "golang.org/x/image/math/fixed"}},
	{"internal/golden", nil, nil},
	{"internal/layering", nil, []string{"golang.org/x/tools"}},
	{"internal/randgraph", []string{"graph", "dsl", "passes"}, nil},
	{"cmd/mlc", []string{""}, []string{""}}, // the CLI may import everything
}

func rule(rel string) (may, third []string, ok bool) {
	best := -1
	for i, r := range allowed {
		if (rel == r.pkg || strings.HasPrefix(rel, r.pkg+"/")) && (best < 0 || len(r.pkg) > len(allowed[best].pkg)) {
			best = i
		}
	}
	if best < 0 {
		return nil, nil, false
	}
	return allowed[best].may, allowed[best].third, true
}

func within(path, prefix string) bool {
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

// TestImportDirections fails on an import the table above does not allow,
// and on a package the table does not cover.
func TestImportDirections(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedImports, Dir: "../.."}, mod+"/...")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("loaded only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.PkgPath, mod), "/")
		may, third, ok := rule(rel)
		if !ok {
			t.Errorf("%s: no import rule; add it to the table", rel)
			continue
		}
		for imp := range p.Imports {
			switch {
			case strings.HasPrefix(imp, mod+"/"):
				target := strings.TrimPrefix(imp, mod+"/")
				if within(target, rel) || slices.ContainsFunc(may, func(m string) bool { return within(target, m) }) {
					continue
				}
				t.Errorf("%s imports %s, which it may not", rel, target)
			case strings.Contains(strings.SplitN(imp, "/", 2)[0], "."): // a third-party module
				if !slices.ContainsFunc(third, func(m string) bool { return within(imp, m) }) {
					t.Errorf("%s imports %s, which it may not", rel, imp)
				}
			}
		}
	}
}
