package runtime_test

import (
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

func TestInterpreterInputErrors(t *testing.T) {
	g := buildZoo(t, "tinydecoder")
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := func() map[string]*runtime.Tensor {
		return map[string]*runtime.Tensor{
			"ids":     tensor(t, graph.I32, []int{3}, []float64{0, 1, 2}),
			"targets": tensor(t, graph.I32, []int{3}, []float64{1, 2, 3}),
		}
	}
	cases := []struct {
		name string
		edit func(m map[string]*runtime.Tensor)
		want string
	}{
		{"missing", func(m map[string]*runtime.Tensor) { delete(m, "targets") }, `input "targets" is missing (want i32[3])`},
		{"shape", func(m map[string]*runtime.Tensor) { m["ids"] = tensor(t, graph.I32, []int{4}, []float64{0, 1, 2, 3}) }, `input "ids": shape [4], want [3]`},
		{"dtype", func(m map[string]*runtime.Tensor) { m["ids"] = tensor(t, graph.F64, []int{3}, []float64{0, 1, 2}) }, `input "ids": dtype f64, want i32`},
		{"unknown", func(m map[string]*runtime.Tensor) { m["idz"] = m["ids"] }, `unknown input "idz" (the model's inputs are ids, targets)`},
		{"id out of range", func(m map[string]*runtime.Tensor) { m["ids"].I32[1] = 9 }, `models/tinydecoder/tinydecoder.go:55: Gather (v16): id 9 at position 1 is outside [0, 5)`},
		{"target out of range", func(m map[string]*runtime.Tensor) { m["targets"].I32[2] = -1 }, `models/tinydecoder/tinydecoder.go:74: CrossEntropy (v45): target -1 at position 2 is outside [0, 5)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := good()
			c.edit(in)
			err := it.Run(in)
			if err == nil || err.Error() != c.want {
				t.Fatalf("err = %v\nwant %s", err, c.want)
			}
		})
	}
	if err := it.Run(good()); err != nil {
		t.Fatalf("good inputs after bad ones: %v", err)
	}
}

// TestInterpreterReusesBuffers: values live in buffers allocated once.
func TestInterpreterReusesBuffers(t *testing.T) {
	g := buildZoo(t, "xor")
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*runtime.Tensor{
		"X": tensor(t, graph.F64, []int{4, 2}, []float64{0, 0, 0, 1, 1, 0, 1, 1}),
		"y": tensor(t, graph.F64, []int{4, 1}, []float64{0, 1, 1, 0}),
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	before := it.Value(g.Find("z1"))
	allocs := testing.AllocsPerRun(20, func() {
		if err := it.Run(in); err != nil {
			t.Fatal(err)
		}
	})
	if it.Value(g.Find("z1")) != before {
		t.Fatal("value buffer was replaced")
	}
	// gonum's Gemm allocates a little per call; the interpreter itself must not
	// allocate per value.
	if allocs > float64(len(g.NodesWithOp(graph.OpMatMul))*4) {
		t.Fatalf("%.0f allocations per run", allocs)
	}
}

func TestParamInitDeterministic(t *testing.T) {
	build := func() *graph.Graph {
		g, err := dsl.Build("m", "m", dsl.Options{}, func(b *dsl.Builder) {
			b.Loss(b.Param("w", dsl.He(), 50, 40).Sum())
		})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a, _ := runtime.NewInterpreter(build(), runtime.Options{Seed: 1})
	b, _ := runtime.NewInterpreter(build(), runtime.Options{Seed: 1})
	c, _ := runtime.NewInterpreter(build(), runtime.Options{Seed: 2})
	wa, wb, wc := a.Var("w").F64, b.Var("w").F64, c.Var("w").F64
	same, diff := true, false
	var sum, sq float64
	for i := range wa {
		same = same && wa[i] == wb[i]
		diff = diff || wa[i] != wc[i]
		sum += wa[i]
		sq += wa[i] * wa[i]
	}
	if !same || !diff {
		t.Fatalf("same seed same values: %v, other seed other values: %v", same, diff)
	}
	// He: std √(2/50) = 0.2; the sample variance of 2000 draws is within 10%.
	v := sq/float64(len(wa)) - (sum/float64(len(wa)))*(sum/float64(len(wa)))
	if v < 0.036 || v > 0.044 {
		t.Fatalf("variance %v, want about 0.04", v)
	}
	if !strings.Contains(a.G.String(), "init=he") {
		t.Fatal("graph lost its initializer")
	}
}
