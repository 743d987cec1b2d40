package train

import (
	"context"
	"slices"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/generated/xor"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// xorBatch is the reference text's four XOR rows.
func xorBatch() data.Batch {
	return data.Batch{
		"X": {Shape: []int{4, 2}, Data: []runtime.JSONFloat{0, 0, 0, 1, 1, 0, 1, 1}},
		"y": {Shape: []int{4, 1}, Data: []runtime.JSONFloat{0, 1, 1, 0}},
	}
}

// TestLocalTrainsGenerated: a generated package (generated/xor: SGD at
// the default rate 0.1) trains in this process through train.Local and
// Run to the weights the interpreter reaches in as many steps; and a run
// stopped, checkpointed and resumed into a fresh Model ends bit for bit
// where the unbroken one does.
func TestLocalTrainsGenerated(t *testing.T) {
	st := Settings{Model: "xor", DType: "f64", Steps: 3000}
	st.Optimizer.Kind, st.Optimizer.LR = "sgd", 0.1

	m := xor.New()
	ds, _ := data.New(data.Options{Example: xorBatch()})
	if _, err := Run(context.Background(), Local[float64](m), Options{Settings: st, Data: ds, Log: 10000}); err != nil {
		t.Fatal(err)
	}
	compareWithInterpreter(t, m, compile.Options{}, st.Steps, 1e-10)

	dir := t.TempDir()
	first := xor.New()
	d, err := Open(dir, false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Local[float64](first), Options{Settings: st, Data: ds, Dir: d, Stop: 1200, Log: 1000}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	second := xor.NewSeeded(99) // other initial weights: the checkpoint replaces them
	local := Local[float64](second)
	start, saved, err := Resume(dir, local, ds)
	if err != nil || start != 1200 || saved.Steps != 3000 {
		t.Fatalf("resume: step %d, %+v, %v", start, saved, err)
	}
	d, err = Open(dir, true, false, start)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := Run(context.Background(), local, Options{Settings: saved, Data: ds, Dir: d, Start: start, Log: 1000}); err != nil {
		t.Fatal(err)
	}
	for _, name := range m.ParamNames() {
		a, b := m.Param(name), second.Param(name)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: resumed %v, unbroken %v", name, i, b[i], a[i])
			}
		}
	}
}

// TestScheduleInTheLoop: the loop's warmup and cosine (Options.LR, through
// the generated SetLR) trains as the same schedule compiled into the
// update does, here against the interpreter.
func TestScheduleInTheLoop(t *testing.T) {
	st := Settings{Model: "xor", DType: "f64", Steps: 60}
	m := xor.New()
	ds, _ := data.New(data.Options{Example: xorBatch()})
	opts := Options{Settings: st, Data: ds, Log: 100, LR: WarmupCosine(0.5, 0.01, 10, 60)}
	if _, err := Run(context.Background(), Local[float64](m), opts); err != nil {
		t.Fatal(err)
	}
	compareWithInterpreter(t, m, compile.Options{Optimizer: passes.OptimizerConfig{Kind: "sgd", LR: 0.5, LRMin: 0.01, Warmup: 10, Steps: 60}}, st.Steps, 1e-12)
	if lr := m.LR(); lr != WarmupCosine(0.5, 0.01, 10, 60)(59) {
		t.Errorf("the model's rate after the run is %v", lr)
	}
}

// compareWithInterpreter trains xor compiled with opts for steps on the
// interpreter and compares its parameters with m's.
func compareWithInterpreter(t *testing.T, m *xor.Model, opts compile.Options, steps int, tol float64) {
	t.Helper()
	res, err := compile.Zoo("xor", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := compile.RunInterpreted(res.Program, compile.RunRequest{Inputs: xorBatch(), Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range want.Params {
		exp := make([]float64, len(p.Data))
		for i, v := range p.Data {
			exp[i] = float64(v)
		}
		if d := testutil.CompareSlices(m.Param(name), exp, tol); d != "" {
			t.Errorf("%s after %d steps: %s", name, steps, d)
		}
	}
}

// TestInterpretedModel: the interpreter trains through the same loop
// (with a schedule in the loop) to the weights generated code reaches, and
// its checkpoints resume bit for bit.
func TestInterpretedModel(t *testing.T) {
	res, err := compile.Zoo("xor", "", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := Settings{Model: "xor", DType: "f64", Steps: 40}
	sched := WarmupCosine(0.5, 0.01, 5, 40)
	ds, _ := data.New(data.Options{Example: xorBatch()})
	gen := xor.New()
	if _, err := Run(context.Background(), Local[float64](gen), Options{Settings: st, Data: ds, LR: sched}); err != nil {
		t.Fatal(err)
	}
	whole, err := Interpreted(res.Program, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), whole, Options{Settings: st, Data: ds, LR: sched}); err != nil {
		t.Fatal(err)
	}
	snap, _ := whole.Snapshot()
	for name, p := range snap.Params {
		exp := make([]float64, len(p.Data))
		for i, v := range p.Data {
			exp[i] = float64(v)
		}
		if d := testutil.CompareSlices(gen.Param(name), exp, 1e-12); d != "" {
			t.Errorf("%s: generated against interpreted: %s", name, d)
		}
	}
	// Stop at 15, checkpoint, resume into a fresh interpreter.
	dir := t.TempDir()
	d, _ := Open(dir, false, false, 0)
	first, _ := Interpreted(res.Program, 0)
	if _, err := Run(context.Background(), first, Options{Settings: st, Data: ds, Dir: d, Stop: 15, LR: sched}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	second, _ := Interpreted(res.Program, 7)
	start, saved, err := Resume(dir, second, ds)
	if err != nil {
		t.Fatal(err)
	}
	d, _ = Open(dir, true, false, start)
	defer d.Close()
	if _, err := Run(context.Background(), second, Options{Settings: saved, Data: ds, Dir: d, Start: start, LR: sched}); err != nil {
		t.Fatal(err)
	}
	resumed, _ := second.Snapshot()
	for name, p := range snap.Params {
		if !slices.Equal(p.Data, resumed.Params[name].Data) {
			t.Errorf("%s: the resumed interpreter differs from the unbroken one", name)
		}
	}
}

// TestRemoteSchedule: a schedule run by the loop through a runner process
// (the rate travels with each step's request) trains as the same schedule
// through the generated package in process.
func TestRemoteSchedule(t *testing.T) {
	testutil.Long(t, "builds a runner")
	res, err := compile.Zoo("xor", "", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := compile.BuildRunner(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := compile.StartServer(bin, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := Settings{Model: "xor", DType: "f64", Steps: 40}
	sched := WarmupCosine(0.5, 0.01, 10, 40)
	remote := Remote(srv)
	ds, _ := data.New(data.Options{Example: xorBatch()})
	if _, err := Run(context.Background(), remote, Options{Settings: st, Data: ds, Log: 100, LR: sched}); err != nil {
		t.Fatal(err)
	}
	m := xor.New()
	ds, _ = data.New(data.Options{Example: xorBatch()})
	if _, err := Run(context.Background(), Local[float64](m), Options{Settings: st, Data: ds, Log: 100, LR: sched}); err != nil {
		t.Fatal(err)
	}
	snap, err := remote.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range m.ParamNames() {
		got := snap.Params[name]
		for i, v := range m.Param(name) {
			if float64(got.Data[i]) != v {
				t.Fatalf("%s[%d]: through the runner %v, in process %v", name, i, got.Data[i], v)
			}
		}
	}
	if lr := snap.State["hyper.lr"]; float64(lr.Data[0]) != sched(39) {
		t.Errorf("the runner's rate after the run is %v, want %v", lr.Data[0], sched(39))
	}
}
