package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"

	"github.com/mlc-dev/mlc/compile"
)

func cmdInspect(c *cli, args []string) error {
	fs := c.flags("inspect")
	var mf modelFlags
	mf.register(fs)
	phase := fs.String("phase", "backward", "forward, backward, update or predict")
	kernels := fs.Bool("kernels", false, "also print the bodies of the fused and parallel kernels the phase calls")
	of := optimizerFlags{modelsDefaults: true}
	of.register(fs, "the model's, as mlc train runs it", "the optimizer's")
	l2 := fs.Float64("l2", 0, "L2 regularisation λ of a λ/2·‖w‖² term on the weight matrices")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	of.parsed(fs)
	method := map[string]string{"forward": "forward", "backward": "backward", "update": "update", "predict": "predict"}[*phase]
	if method == "" {
		return fmt.Errorf("-phase must be forward, backward, update or predict, got %q", *phase)
	}
	m, optim, err := loadWithOptimizer(&mf, &of)
	if err != nil {
		return err
	}
	opts := m.compileOptions(optim)
	opts.L2 = *l2
	res, err := m.Compile(opts)
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
	src, err := methodSource(files[0].Data, method, *kernels)
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, src)
	return nil
}

// methodSource extracts one Model method, with its doc comment, from
// model.go; with kernels, also every Model method it calls or hands to the
// pool (method expressions (*Model).k), and theirs, each once, in order.
func methodSource(model []byte, name string, kernels bool) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "model.go", model, parser.ParseComments)
	if err != nil {
		return "", err
	}
	methods := map[string]*ast.FuncDecl{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil {
			methods[fd.Name.Name] = fd
		}
	}
	if methods[name] == nil {
		return "", fmt.Errorf("generated code has no method %s", name)
	}
	var buf bytes.Buffer
	done := map[string]bool{}
	queue := []string{name}
	for len(queue) > 0 {
		fd := methods[queue[0]]
		queue = queue[1:]
		if fd == nil || done[fd.Name.Name] {
			continue
		}
		done[fd.Name.Name] = true
		start := fd.Pos()
		if fd.Doc != nil {
			start = fd.Doc.Pos()
		}
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		buf.Write(model[fset.Position(start).Offset:fset.Position(fd.End()).Offset])
		buf.WriteByte('\n')
		if !kernels {
			break
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if _, isMethod := methods[sel.Sel.Name]; isMethod && !done[sel.Sel.Name] && isModelRef(sel.X) {
					queue = append(queue, sel.Sel.Name)
				}
			}
			return true
		})
	}
	return buf.String(), nil
}

// isModelRef reports whether x is the receiver m or the type (*Model).
func isModelRef(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name == "m"
	case *ast.ParenExpr:
		if st, ok := x.X.(*ast.StarExpr); ok {
			id, ok := st.X.(*ast.Ident)
			return ok && id.Name == "Model"
		}
	}
	return false
}
