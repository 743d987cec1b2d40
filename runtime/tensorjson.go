package runtime

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"

	"github.com/mlc-dev/mlc/graph"
)

// JSONFloat is a float64 that survives JSON: non-finite values are written
// as the strings "inf", "-inf" and "nan".
type JSONFloat float64

func (f JSONFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsInf(v, 1):
		return []byte(`"inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-inf"`), nil
	case math.IsNaN(v):
		return []byte(`"nan"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *JSONFloat) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := graph.ParseFloat(s)
		if err != nil {
			return err
		}
		*f = JSONFloat(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("bad number %s", b)
	}
	*f = JSONFloat(v)
	return nil
}

// JSONTensor is the {"shape": [...], "data": [...]} form of the golden files
// and of mlc run's input and output.
type JSONTensor struct {
	Shape []int       `json:"shape"`
	Data  []JSONFloat `json:"data"`
}

// ToJSON converts a tensor.
func ToJSON(t *Tensor) JSONTensor {
	j := JSONTensor{Shape: append([]int{}, t.Shape...), Data: make([]JSONFloat, t.Len())}
	for i := range j.Data {
		j.Data[i] = JSONFloat(t.At(i))
	}
	return j
}

// Tensor converts to a tensor of dtype dt, checking that shape and data agree.
func (j JSONTensor) Tensor(dt graph.DType) (*Tensor, error) {
	data := make([]float64, len(j.Data))
	for i, v := range j.Data {
		data[i] = float64(v)
		if dt == graph.I32 && (data[i] != math.Trunc(data[i]) || data[i] < math.MinInt32 || data[i] > math.MaxInt32) {
			return nil, fmt.Errorf("value %s at %d is not a 32-bit integer id", strconv.FormatFloat(data[i], 'f', -1, 64), i)
		}
		if dt == graph.Bool && data[i] != 0 && data[i] != 1 {
			return nil, fmt.Errorf("value %s at %d is not a mask value (0 or 1)", strconv.FormatFloat(data[i], 'f', -1, 64), i)
		}
	}
	if j.Shape == nil {
		j.Shape = []int{}
	}
	return FromFloat64(dt, j.Shape, data)
}

// ReadTensors reads a JSON object mapping names to tensors from a file.
func ReadTensors(path string) (map[string]JSONTensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]JSONTensor{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v (want a JSON object of {\"shape\": [...], \"data\": [...]})", path, err)
	}
	return m, nil
}

// BindInputs converts named JSON tensors to the graph's input types, naming
// the first missing, unknown or mis-shaped one.
func BindInputs(g *graph.Graph, src string, in map[string]JSONTensor) (map[string]*Tensor, error) {
	out := map[string]*Tensor{}
	known := map[string]bool{}
	for _, n := range g.Inputs() {
		known[n.Name] = true
		j, ok := in[n.Name]
		if !ok {
			return nil, fmt.Errorf("%s: input %q is missing (want %s)", src, n.Name, n.Type)
		}
		if !graph.Shape(j.Shape).Equal(n.Type.Shape) {
			return nil, fmt.Errorf("%s: input %q: shape %v, want %s", src, n.Name, graph.Shape(j.Shape), n.Type.Shape)
		}
		t, err := j.Tensor(n.Type.DType)
		if err != nil {
			return nil, fmt.Errorf("%s: input %q: %v", src, n.Name, err)
		}
		out[n.Name] = t
	}
	var unknown []string
	for name := range in {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s: unknown input %q", src, unknown[0])
	}
	return out, nil
}

// RunResult is what mlc run prints, identical in shape for both engines.
type RunResult struct {
	Outputs map[string]JSONTensor `json:"outputs"`
	Taps    map[string]JSONTensor `json:"taps,omitempty"` // the compiled taps, after the full forward
	Loss    *JSONFloat            `json:"loss,omitempty"`
	Grads   map[string]JSONTensor `json:"grads,omitempty"`
	// After Steps training steps: the parameters and the loss of each step.
	Params map[string]JSONTensor `json:"params,omitempty"`
	Losses []JSONFloat           `json:"losses,omitempty"`
	// With Trace, the parameters after each step.
	Trace []map[string]JSONTensor `json:"trace,omitempty"`
}
