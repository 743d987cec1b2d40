package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/passes"
)

func cmdInspect(c *cli, args []string) error {
	fs := c.flags("inspect")
	var mf modelFlags
	mf.register(fs)
	phase := fs.String("phase", "backward", "forward, backward, update or predict")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	method := map[string]string{"forward": "forward", "backward": "backward", "update": "update", "predict": "predict"}[*phase]
	if method == "" {
		return fmt.Errorf("-phase must be forward, backward, update or predict, got %q", *phase)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	res, err := m.Compile(m.compileOptions(passes.OptimizerConfig{}))
	if err != nil {
		return err
	}
	if res.Program.Train == nil && method != "predict" {
		return fmt.Errorf("%s has no loss, so no %s phase; try -phase predict", m.Name, *phase)
	}
	files, err := compile.Generate(res, defaultPkg(res.Program))
	if err != nil {
		return err
	}
	src, err := methodSource(files[0].Data, method)
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, src)
	return nil
}

// methodSource extracts one Model method, with its doc comment, from model.go.
func methodSource(model []byte, name string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "model.go", model, parser.ParseComments)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != name || fd.Recv == nil {
			continue
		}
		start := fd.Pos()
		if fd.Doc != nil {
			start = fd.Doc.Pos()
		}
		var buf bytes.Buffer
		buf.Write(model[fset.Position(start).Offset:fset.Position(fd.End()).Offset])
		buf.WriteByte('\n')
		return buf.String(), nil
	}
	return "", fmt.Errorf("generated code has no method %s", name)
}
