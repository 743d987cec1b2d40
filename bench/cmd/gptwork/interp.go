package main

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/bench/internal/gen/gpttrain"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// trainInterp times the train step on mlc's interpreter: the program
// internal/gpttrain was generated from (the same config and AdamW, compiled
// again here), run by package runtime, as `mlc bench` times its interp rows.
// The table's ratio of this row to mlc's is the generated code's speedup.
// Its first step starts from the same initial weights as a fresh
// gpttrain.Model (seed 0), so their first losses must agree.
func trainInterp(reps int) {
	const workload, tool = "gpt train step", "mlc interp"
	threads := benchutil.Threads()
	res, err := compile.Zoo("gpt", trainConfig, compile.Options{
		Float:     graph.F32,
		Optimizer: passes.OptimizerConfig{Kind: "adamw", LR: trainLR, WD: trainWD},
	})
	if err != nil {
		benchutil.Emit(benchutil.Result{Workload: workload, Tool: tool, Threads: threads, Skipped: "compile: " + err.Error()})
		return
	}
	prog := res.Program
	n := 0
	for _, p := range prog.Train.Params() {
		n += p.Type.Shape.Size()
	}
	if want := paramCount(ctx); n != want {
		benchutil.Fatalf("gptwork: the interpreter's GPT has %d parameters, the benchmark's %d", n, want)
	}
	pr, err := runtime.NewProgram(prog, runtime.Options{})
	fatalIf(err, "interpreter")
	ids, targets := trainBatch()
	tensor := func(v []int32) runtime.JSONTensor {
		j := runtime.JSONTensor{Shape: []int{batch, ctx}, Data: make([]runtime.JSONFloat, len(v))}
		for i, x := range v {
			j.Data[i] = runtime.JSONFloat(x)
		}
		return j
	}
	in, err := runtime.BindInputs(prog.Train, "inputs", map[string]runtime.JSONTensor{"ids": tensor(ids), "targets": tensor(targets)})
	fatalIf(err, "inputs")

	// The first step of both engines from the same initial weights.
	first, err := pr.TrainStep(in)
	fatalIf(err, "interpreter TrainStep")
	gen := gpttrain.New()
	genFirst, err := gen.TrainStep(ids, targets)
	fatalIf(err, "TrainStep")
	gen.Close()
	agree := fmt.Sprintf("first-step loss %.7g, generated %.7g", first, genFirst)
	if math.Abs(first-genFirst) > 1e-4*math.Abs(genFirst) {
		agree += ": WARNING: they differ"
	}

	if reps <= 0 {
		reps = 3
	}
	var loss float64
	times, allocs := benchutil.Measure(0, reps, 1, nil, func() {
		var err error
		loss, err = pr.TrainStep(in)
		fatalIf(err, "interpreter TrainStep")
	})
	benchutil.Emit(benchutil.Result{
		Workload: workload, Tool: tool, Threads: threads, Unit: "step",
		Times: times, Allocs: benchutil.Ptr(allocs), FinalLoss: benchutil.Ptr(loss),
		Note: "mlc's interpreter (package runtime) on gpttrain's program; " + agree,
	})
}
