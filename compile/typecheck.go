package compile

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/build/constraint"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"strings"

	"github.com/mlc-dev/mlc/codegen"
)

// TypeCheck parses and type-checks the generated package's files (without
// its tests) for this platform, so that mlc compile never writes a package
// that does not build. The error names the first problem.
func TypeCheck(files []codegen.File) error {
	fset := token.NewFileSet()
	var asts []*ast.File
	ctx := build.Default
	for _, f := range files {
		if !strings.HasSuffix(f.Name, ".go") || strings.HasSuffix(f.Name, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(".", f.Name); err == nil && !ok {
			continue // another platform's file (by name)
		}
		af, err := parser.ParseFile(fset, f.Name, f.Data, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return fmt.Errorf("internal error: the generated %s does not parse: %v", f.Name, err)
		}
		if !buildTagsMatch(af, &ctx) {
			continue
		}
		asts = append(asts, af)
	}
	var first error
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "source", nil),
		Error: func(err error) {
			if first == nil {
				first = err
			}
		},
	}
	if _, err := conf.Check("model", fset, asts, nil); err != nil {
		if first == nil {
			first = err
		}
		return fmt.Errorf("internal error: the generated package does not type-check: %v", first)
	}
	return nil
}

// buildTagsMatch evaluates a file's //go:build line for ctx (no line: true).
func buildTagsMatch(f *ast.File, ctx *build.Context) bool {
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if line, ok := strings.CutPrefix(c.Text, "//go:build "); ok {
				ok, err := matchExpr(line, ctx)
				return err == nil && ok
			}
		}
	}
	return true
}

// matchExpr evaluates a build constraint for ctx: GOOS, GOARCH, the
// release tags, and no experiments (the portable files are checked).
func matchExpr(line string, ctx *build.Context) (bool, error) {
	x, err := constraint.Parse("//go:build " + line)
	if err != nil {
		return false, err
	}
	return x.Eval(func(tag string) bool {
		if tag == ctx.GOOS || tag == ctx.GOARCH || tag == "unix" && ctx.GOOS != "windows" && ctx.GOOS != "plan9" {
			return true
		}
		for _, t := range ctx.ReleaseTags {
			if t == tag {
				return true
			}
		}
		return false
	}), nil
}
