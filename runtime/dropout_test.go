package runtime_test

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// TestDropoutKeepRate: over 1e6 draws the kept fraction is within 1% of
// 1−p, kept elements are scaled by 1/(1−p), and eval mode is the identity.
func TestDropoutKeepRate(t *testing.T) {
	const p = 0.3
	build := func(train bool) *graph.Graph {
		g, err := dsl.Build("d", "d", dsl.Options{Train: train}, func(b *dsl.Builder) {
			b.Output("y", b.Input("x", 1000, 1000).Dropout(p))
		})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	x := runtime.NewTensor(graph.T(graph.F64, 1000, 1000))
	for i := range x.F64 {
		x.F64[i] = 2
	}
	it, err := runtime.NewInterpreter(build(true), runtime.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Run(map[string]*runtime.Tensor{"x": x}); err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, v := range it.Output("y").F64 {
		switch v {
		case 0:
		case 2 / (1 - p):
			kept++
		default:
			t.Fatalf("element %v is neither 0 nor 2/(1−p)", v)
		}
	}
	rate := float64(kept) / 1e6
	if math.Abs(rate-(1-p)) > 0.01*(1-p) {
		t.Fatalf("keep rate %.5f, want %.2f ± 1%%", rate, 1-p)
	}
	ev, err := runtime.NewInterpreter(build(false), runtime.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.G.NodesWithOp(graph.OpDropoutMask)) != 0 {
		t.Fatal("eval graph draws dropout masks")
	}
	if err := ev.Run(map[string]*runtime.Tensor{"x": x}); err != nil {
		t.Fatal(err)
	}
	for _, v := range ev.Output("y").F64 {
		if v != 2 {
			t.Fatalf("eval mode changed a value: %v", v)
		}
	}
}
