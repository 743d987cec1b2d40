package compile

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// WithPredictBatch loads src again with the config key (the batch size,
// usually "batch") set to n, and keeps that build's forward pass as a
// second Predict (graph.Program.PredictSmall): the generated Predict then
// serves batches of n as well as the compiled batch, without padding. n
// must be below the model's batch; the two builds must differ only in the
// first axis of their inputs and outputs, with the same parameters, and
// their rows must be independent (CheckRowIndependent runs at Compile).
func (m *Model) WithPredictBatch(src Source, key string, n int) error {
	if key == "" {
		key = "batch"
	}
	if !slices.ContainsFunc(m.Keys, func(k dsl.ConfigKey) bool { return k.Name == key }) {
		return fmt.Errorf("-predict-batch: %s has no config key %q to set the batch with", m.Name, key)
	}
	big := m.ConfigInt(key)
	if n <= 0 || n >= big {
		return fmt.Errorf("-predict-batch: want a batch from 1 to %d (below the compiled %s=%d), got %d", big-1, key, big, n)
	}
	other, err := src.Load(setKey(m.Config, key, n), m.Float)
	if err != nil {
		return fmt.Errorf("-predict-batch %d: %w", n, err)
	}
	m.small = other.pred
	return nil
}

// setKey returns the config spec with key set to n.
func setKey(spec, key string, n int) string {
	var kvs []string
	for kv := range strings.SplitSeq(spec, ",") {
		if k, _, _ := strings.Cut(kv, "="); kv != "" && strings.TrimSpace(k) != key {
			kvs = append(kvs, kv)
		}
	}
	return strings.Join(append(kvs, key+"="+strconv.Itoa(n)), ",")
}

// checkSmallBatch: small is pred with a shorter first axis on every input
// and output, and the same parameters.
func checkSmallBatch(pred, small *graph.Graph) error {
	same := func(what string, a, b []*graph.Node) error {
		if len(a) != len(b) {
			return fmt.Errorf("-predict-batch: the model has %d %ss at one batch and %d at the other", len(a), what, len(b))
		}
		for i := range a {
			x, y := a[i].Type.Shape, b[i].Type.Shape
			if a[i].Name != b[i].Name || len(x) != len(y) || len(x) == 0 || !x[1:].Equal(y[1:]) || y[0] >= x[0] {
				return fmt.Errorf("-predict-batch: %s %q is %s at the compiled batch and %s %q at the smaller one: only the first axis may shrink", what, a[i].Name, a[i].Type, b[i].Name, b[i].Type)
			}
		}
		return nil
	}
	if err := same("input", pred.Inputs(), small.Inputs()); err != nil {
		return err
	}
	outs := func(g *graph.Graph) []*graph.Node {
		var ns []*graph.Node
		for _, o := range g.Results() {
			n := *o.Node
			n.Name = o.Name
			ns = append(ns, &n)
		}
		return ns
	}
	if err := same("output", outs(pred), outs(small)); err != nil {
		return err
	}
	ps, qs := pred.Params(), small.Params()
	for _, p := range ps {
		i := slices.IndexFunc(qs, func(q *graph.Node) bool { return q.Name == p.Name })
		if i < 0 || !qs[i].Type.Equal(p.Type) {
			return fmt.Errorf("-predict-batch: parameter %q (%s) differs at the smaller batch: the batch must not change parameters", p.Name, p.Type)
		}
	}
	return nil
}

// CheckRowIndependent runs both Predict graphs of prog on the interpreter,
// the small one on the first rows of the big one's inputs, and fails when
// those rows' outputs differ: a model whose rows see each other (a
// batch-wide statistic) is not the same model at another batch.
func CheckRowIndependent(prog *graph.Program, example map[string][]float64) error {
	if prog.PredictSmall == nil {
		return nil
	}
	pr, err := runtime.NewProgram(&graph.Program{Name: prog.Name, Float: prog.Float, Predict: prog.Predict, PredictSmall: prog.PredictSmall}, runtime.Options{Seed: 1})
	if err != nil {
		return err
	}
	in, err := runtime.BindInputs(prog.Predict, "inputs", pickJSON(prog.Predict, ExampleInputs(&graph.Program{Predict: prog.Predict}, example, 7)))
	if err != nil {
		return err
	}
	big, err := pr.Predict(in)
	if err != nil {
		return err
	}
	bigOut := map[string][]float64{}
	for name, t := range big {
		bigOut[name] = t.Float64s()
	}
	smallIn := map[string]*runtime.Tensor{}
	for _, n := range prog.PredictSmall.Inputs() {
		t := in[n.Name]
		if smallIn[n.Name], err = runtime.FromFloat64(n.Type.DType, n.Type.Shape, t.Float64s()[:n.Type.Shape.Size()]); err != nil {
			return err
		}
	}
	small, err := pr.Predict(smallIn)
	if err != nil {
		return err
	}
	tol := 1e-9
	if prog.Float == graph.F32 {
		tol = 1e-4
	}
	for _, o := range prog.PredictSmall.Results() {
		got, want := small[o.Name].Float64s(), bigOut[o.Name][:o.Node.Type.Shape.Size()]
		for i := range got {
			if d := math.Abs(got[i] - want[i]); !(d <= tol*(1+math.Abs(want[i]))) {
				return fmt.Errorf("-predict-batch: output %q at the smaller batch differs from the same rows at the compiled batch (element %d: %v vs %v): the model's rows are not independent, so it is not the same model at another batch", o.Name, i, got[i], want[i])
			}
		}
	}
	return nil
}

// smallBatch reports whether a request's inputs have prog's smaller
// Predict batch (the first input's shape decides, as in generated code
// and runtime.SmallBatch).
func smallBatch(prog *graph.Program, in map[string]runtime.JSONTensor) bool {
	if prog.PredictSmall == nil || len(prog.PredictSmall.Inputs()) == 0 {
		return false
	}
	first := prog.PredictSmall.Inputs()[0]
	t, ok := in[first.Name]
	return ok && graph.Shape(t.Shape).Equal(first.Type.Shape)
}
