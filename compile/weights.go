package compile

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
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

// ParsePrecision reads -precision: "" or "f32" (the model's float dtype
// throughout) or "bf16" (mixed precision's rounding points, passes.MixedPrecision).
func ParsePrecision(s string) (graph.DType, error) {
	switch s {
	case "", "f32":
		return graph.Invalid, nil
	case "bf16":
		return graph.BF16, nil
	}
	return graph.Invalid, fmt.Errorf("-precision must be bf16 or f32, got %q", s)
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

// fromWeightsFile splits a file of WeightsFile into the f32 parameters'
// values and the converted weights, which Quantize reads by name (Stored).
func fromWeightsFile(f *safetensors.File, to graph.DType) (map[string][]float64, func(string, graph.Shape) ([]float64, []float64, bool, error), error) {
	want := map[graph.DType]string{graph.I8: "int8", graph.BF16: "bf16"}[to]
	if got := f.Metadata[KeyWeights]; want == "" || got != want {
		return nil, nil, fmt.Errorf("the weights file holds %q weights (metadata %s), not %q", got, KeyWeights, want)
	}
	vals := map[string][]float64{}
	for _, t := range f.Tensors {
		if t.DType != safetensors.F32 {
			continue
		}
		if base, ok := strings.CutSuffix(t.Name, passes.QuantScaleSuffix); ok {
			if b, found := f.Lookup(base); found && b.DType == safetensors.I8 {
				continue // a converted weight's scales
			}
		}
		v := make([]float64, len(t.F32))
		for i, x := range t.F32 {
			v[i] = float64(x)
		}
		vals[t.Name] = v
	}
	stored := func(name string, shape graph.Shape) ([]float64, []float64, bool, error) {
		t, ok := f.Lookup(name)
		if !ok {
			return nil, nil, false, fmt.Errorf("the weights file has no tensor %q", name)
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, nil, false, fmt.Errorf("%s is %v in the weights file, want %s", name, t.Shape, shape)
		}
		data := make([]float64, shape.Size())
		switch {
		case to == graph.I8 && t.DType == safetensors.I8:
			for i, q := range t.I8 {
				data[i] = float64(q)
			}
		case to == graph.BF16 && t.DType == safetensors.BF16:
			for i, h := range t.BF16 {
				v := float64(lowp.BF16ToF32(h))
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, nil, false, fmt.Errorf("%s[%d] is %v in the weights file; weights must be finite", name, i, v)
				}
				data[i] = v
			}
		default:
			return nil, nil, false, fmt.Errorf("%s is %s in the weights file, want %s", name, t.DType, want)
		}
		if to != graph.I8 {
			return data, nil, true, nil
		}
		s, ok := f.Lookup(name + passes.QuantScaleSuffix)
		if !ok || s.DType != safetensors.F32 || !slices.Equal(s.Shape, []int{shape[1]}) {
			return nil, nil, false, fmt.Errorf("the weights file has no F32 scales %s [%d]", name+passes.QuantScaleSuffix, shape[1])
		}
		scales := make([]float64, len(s.F32))
		for i, x := range s.F32 {
			if !(x >= 0) || math.IsInf(float64(x), 0) {
				return nil, nil, false, fmt.Errorf("%s[%d] is %v; scales must be finite and not negative", name+passes.QuantScaleSuffix, i, x)
			}
			scales[i] = float64(x)
		}
		return data, scales, true, nil
	}
	return vals, stored, nil
}
