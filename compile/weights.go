package compile

import (
	"fmt"
	"slices"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/lowp"
	"github.com/mlc-dev/mlc/runtime/safetensors"
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

// ParseWeights reads mlc compile's -weights: "" or "f32" (the package's
// float dtype), "int8" (or "i8") or "bf16".
func ParseWeights(s string) (graph.DType, error) {
	switch s {
	case "", "f32":
		return graph.Invalid, nil
	case "int8", "i8":
		return graph.I8, nil
	case "bf16":
		return graph.BF16, nil
	}
	return graph.Invalid, fmt.Errorf("-weights must be int8, bf16 or f32, got %q", s)
}

// CheckpointValues are a checkpoint's parameters as compile.Options.Values.
func CheckpointValues(ck *safetensors.Checkpoint) (map[string][]float64, error) {
	vals := map[string][]float64{}
	for _, t := range ck.Params {
		switch t.DType {
		case safetensors.F32:
			v := make([]float64, len(t.F32))
			for i, x := range t.F32 {
				v[i] = float64(x)
			}
			vals[t.Name] = v
		case safetensors.F64:
			vals[t.Name] = slices.Clone(t.F64)
		default:
			return nil, fmt.Errorf("%s: parameter %s is %s; a checkpoint to compile from holds F32 or F64 values", ck.Source, t.Name, t.DType)
		}
	}
	return vals, nil
}

// Weights-file metadata: the format of the weight matrices ("int8", "bf16").
const KeyWeights = "mlc.weights"

// WeightsFile lays out an inference program's parameters as safetensors
// content (docs/low-precision.md): i8 weights as I8 tensors with their
// scales as F32 "NAME.scale", bf16 weights as BF16 bit patterns, every other
// parameter as F32, all under the program's names. The metadata names the
// model, its config and the weights' format.
func WeightsFile(prog *graph.Program, weights string) (*safetensors.File, error) {
	f := &safetensors.File{Metadata: map[string]string{
		safetensors.KeyModel: prog.Name, safetensors.KeyConfig: prog.Config, KeyWeights: weights,
	}}
	seen := map[string]bool{}
	for _, g := range prog.Graphs() {
		for _, p := range g.Params() {
			if seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			t := safetensors.Tensor{Name: p.Name, Shape: slices.Clone(p.Type.Shape)}
			switch p.Type.DType {
			case graph.I8:
				t.DType, t.I8 = safetensors.I8, make([]int8, p.Type.Shape.Size())
				for i, v := range p.Attrs.Data {
					t.I8[i] = int8(v)
				}
			case graph.BF16:
				t.DType, t.BF16 = safetensors.BF16, make([]uint16, p.Type.Shape.Size())
				for i, v := range p.Attrs.Data {
					t.BF16[i] = lowp.F32ToBF16(float32(v))
				}
			default:
				v, err := initialValues(p)
				if err != nil {
					return nil, err
				}
				t.DType, t.F32 = safetensors.F32, v
			}
			f.Tensors = append(f.Tensors, t)
		}
	}
	return f, nil
}
