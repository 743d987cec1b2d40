package compile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// ReadParams reads parameter values from JSON or safetensors (another
// tool's weights, or a checkpoint: its optimizer state is skipped),
// checking that they are exactly the program's parameters, with their
// shapes: a missing or unknown name is an error naming it.
func ReadParams(path string, prog *graph.Program) (map[string]runtime.JSONTensor, error) {
	params := map[string]*graph.Node{}
	for _, g := range prog.Graphs() {
		for _, p := range g.Params() {
			params[p.Name] = p
		}
	}
	var in map[string]runtime.JSONTensor
	if strings.HasSuffix(path, ".safetensors") {
		f, err := safetensors.ReadFile(path)
		if err != nil {
			return nil, err
		}
		in = map[string]runtime.JSONTensor{}
		for _, t := range f.Tensors {
			if strings.HasPrefix(t.Name, safetensors.OptimPrefix) {
				continue
			}
			j := runtime.JSONTensor{Shape: t.Shape}
			for _, v := range t.F64 {
				j.Data = append(j.Data, runtime.JSONFloat(v))
			}
			for _, v := range t.F32 {
				j.Data = append(j.Data, runtime.JSONFloat(v))
			}
			in[t.Name] = j
		}
	} else {
		var err error
		if in, err = runtime.ReadTensors(path); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		p, ok := params[name]
		if !ok {
			return nil, fmt.Errorf("%s: the model has no parameter %q", path, name)
		}
		if !graph.Shape(in[name].Shape).Equal(p.Type.Shape) {
			return nil, fmt.Errorf("%s: parameter %q: shape %v, want %s", path, name, graph.Shape(in[name].Shape), p.Type.Shape)
		}
		if len(in[name].Data) != p.Type.Shape.Size() {
			return nil, fmt.Errorf("%s: parameter %q: %d values for shape %s", path, name, len(in[name].Data), p.Type.Shape)
		}
	}
	var missing []string
	for name := range params {
		if _, ok := in[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: lacks the model's parameters %s", path, strings.Join(missing, ", "))
	}
	return in, nil
}
