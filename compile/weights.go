package compile

import (
	"fmt"
	"slices"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// setValues makes the parameters vals names start from those values, in
// every graph of prog and in train (not yet in prog).
func setValues(prog *graph.Program, train *graph.Graph, vals map[string][]float64) error {
	if len(vals) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, g := range append(prog.Graphs(), train) {
		if g == nil {
			continue
		}
		for _, p := range g.Params() {
			v, ok := vals[p.Name]
			if !ok {
				continue
			}
			if len(v) != p.Type.Shape.Size() {
				return fmt.Errorf("parameter %s %s: %d values given", p.Name, p.Type, len(v))
			}
			p.Attrs.Init, p.Attrs.Data, p.Attrs.Std = "values", slices.Clone(v), 0
			seen[p.Name] = true
		}
	}
	for name := range vals {
		if !seen[name] {
			return fmt.Errorf("values given for %q, which is not a parameter of %s", name, prog.Name)
		}
	}
	return nil
}

// initialValues are a parameter's f32 initial values as the interpreter and
// generated code draw them at seed 0 (or its "values").
func initialValues(w *graph.Node) ([]float32, error) {
	t := runtime.NewTensor(w.Type)
	runtime.InitParam(t, w.Attrs.Init, w.Attrs.Std, w.Attrs.Data, 0, w.Name)
	if t.F32 == nil {
		return nil, fmt.Errorf("%s is %s, want f32", w.Name, w.Type)
	}
	return t.F32, nil
}
