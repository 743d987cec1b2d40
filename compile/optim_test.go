package compile_test

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/golden"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

type optimRecord struct {
	Rule           string        `json:"rule"`
	LR             []float64     `json:"lr"`
	Params         golden.Tensor `json:"params"`
	LossBeforeStep []float64     `json:"loss_before_step"`
	Grad           golden.Tensor `json:"grad_before_step"`
}

type optimGolden struct {
	Loss struct {
		A      []float64 `json:"a"`
		C      []float64 `json:"c"`
		Theta0 []float64 `json:"theta0"`
	} `json:"loss_definition"`
	Optimizers map[string]optimRecord `json:"optimizers"`
}

// toyLoss is optim.json's loss: ½ Σ aᵢ(θᵢ − cᵢ)² + 0.3 Σ tanh(θᵢ θᵢ₊₁ mod 6).
func toyLoss(g optimGolden) func(b *dsl.Builder) {
	return func(b *dsl.Builder) {
		theta := b.Param("theta", dsl.Values(g.Loss.Theta0...), 6)
		a, c := b.ConstValues(g.Loss.A, 6), b.ConstValues(g.Loss.C, 6)
		d := theta.Sub(c)
		quad := a.Mul(d).Mul(d).Sum().Scale(0.5)
		next := dsl.Concat(0, theta.SliceAxis(0, 1, 6), theta.SliceAxis(0, 0, 1))
		coupling := theta.Mul(next).Tanh().Sum().Scale(0.3)
		b.Output("theta_next", next)
		b.Loss(quad.Add(coupling))
	}
}

// TestOptimizerGoldens: every optimizer and the warmup + cosine schedule
// reproduce optim.json (all 10 steps, every parameter, the loss before each
// step) to 1e-12 in f64, in both engines.
func TestOptimizerGoldens(t *testing.T) {
	var gold optimGolden
	golden.MustLoad("optim.json", &gold)
	configs := map[string]passes.OptimizerConfig{
		"sgd":                        {Kind: "sgd", LR: 0.1},
		"sgd_momentum_torch":         {Kind: "momentum", LR: 0.1, Beta1: 0.9},
		"sgd_momentum_seed_document": {Kind: "ema-momentum", LR: 0.1, Beta1: 0.9},
		"rmsprop":                    {Kind: "rmsprop", LR: 0.01, Beta1: 0.99, Eps: 1e-8},
		"adam":                       {Kind: "adam", LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		"adamw":                      {Kind: "adamw", LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WD: 0.1},
		"adamw_warmup_cosine":        {Kind: "adamw", LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WD: 0.1, Warmup: 2, Steps: 10, LRMin: 0.1 * 0.05},
	}
	if len(configs) != len(gold.Optimizers) {
		t.Fatalf("golden file has %d records, the test %d", len(gold.Optimizers), len(configs))
	}
	for name, rec := range gold.Optimizers {
		cfg, ok := configs[name]
		if !ok {
			t.Fatalf("no config for golden record %q", name)
		}
		t.Run(name, func(t *testing.T) {
			for s, want := range rec.LR {
				c, _ := cfg.Defaults()
				got := c.LR
				if c.Warmup > 0 || c.Steps > 0 {
					got = runtime.LRAt(float64(s+1), c.LR, c.Warmup, c.Steps, c.LRMin)
				}
				if !testutil.Close(got, want, 1e-15) {
					t.Errorf("lr of update %d = %.17g, want %.17g", s+1, got, want)
				}
			}
			res, err := compile.Build("toy", "toy.go", toyLoss(gold), compile.Options{Float: graph.F64, Optimizer: cfg})
			if err != nil {
				t.Fatal(err)
			}
			req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{}, Steps: 10, Trace: true}
			engines := runEngines(res.Program, req)
			for engine, run := range engines {
				out, err := run()
				if err != nil {
					t.Fatalf("%s: %v", engine, err)
				}
				if len(out.Trace) != 10 || len(out.Losses) != 10 {
					t.Fatalf("%s: %d steps traced", engine, len(out.Trace))
				}
				for s := range 10 {
					if !testutil.Close(float64(out.Losses[s]), rec.LossBeforeStep[s], 1e-12) {
						t.Errorf("%s: loss before step %d = %.17g, want %.17g", engine, s+1, out.Losses[s], rec.LossBeforeStep[s])
					}
					want := rec.Params.Data[(s+1)*6 : (s+2)*6]
					if d := testutil.CompareSlices(floats(out.Trace[s]["theta"]), want, 1e-12); d != "" {
						t.Errorf("%s: θ after step %d: %s", engine, s+1, d)
					}
				}
			}
		})
	}
}

// TestRunTimeHyperparameters: a model compiled with other hyperparameters
// whose "hyper.*" variables are set to optim.json's values before training
// reproduces its records, in both engines: the update reads them at run
// time, not as compiled constants.
func TestRunTimeHyperparameters(t *testing.T) {
	var gold optimGolden
	golden.MustLoad("optim.json", &gold)
	scalar := func(v float64) runtime.JSONTensor {
		return runtime.JSONTensor{Shape: []int{}, Data: []runtime.JSONFloat{runtime.JSONFloat(v)}}
	}
	cases := map[string]struct {
		compiled passes.OptimizerConfig
		set      map[string]float64
	}{
		"sgd_momentum_torch":         {passes.OptimizerConfig{Kind: "momentum", LR: 0.7, Beta1: 0.3}, map[string]float64{"lr": 0.1, "beta1": 0.9}},
		"sgd_momentum_seed_document": {passes.OptimizerConfig{Kind: "ema-momentum", LR: 0.1, Beta1: 0.5}, map[string]float64{"beta1": 0.9}},
		"rmsprop":                    {passes.OptimizerConfig{Kind: "rmsprop", LR: 0.01, Beta1: 0.5, Eps: 0.1}, map[string]float64{"beta1": 0.99, "eps": 1e-8}},
		"adam":                       {passes.OptimizerConfig{Kind: "adam", LR: 0.05, Beta1: 0.5, Beta2: 0.5, Eps: 0.1}, map[string]float64{"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}},
		"adamw":                      {passes.OptimizerConfig{Kind: "adamw", LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WD: 0.5}, map[string]float64{"lr": 0.05, "wd": 0.1}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rec := gold.Optimizers[name]
			res, err := compile.Build("toy", "toy.go", toyLoss(gold), compile.Options{Float: graph.F64, Optimizer: c.compiled})
			if err != nil {
				t.Fatal(err)
			}
			req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{}, Steps: 10, Trace: true, State: map[string]runtime.JSONTensor{}}
			for k, v := range c.set {
				req.State["hyper."+k] = scalar(v)
			}
			engines := runEngines(res.Program, req)
			for engine, run := range engines {
				out, err := run()
				if err != nil {
					t.Fatalf("%s: %v", engine, err)
				}
				want := rec.Params.Data[10*6 : 11*6]
				if d := testutil.CompareSlices(floats(out.Trace[9]["theta"]), want, 1e-12); d != "" {
					t.Errorf("%s: θ after 10 steps: %s", engine, d)
				}
			}
		})
	}
}

// runEngines runs req on the interpreter and, in the long tests, on the
// generated code, by engine name.
func runEngines(prog *graph.Program, req compile.RunRequest) map[string]func() (*runtime.RunResult, error) {
	engines := map[string]func() (*runtime.RunResult, error){
		"interp": func() (*runtime.RunResult, error) { return compile.RunInterpreted(prog, req) },
	}
	if testutil.LongTests() {
		engines["gen"] = func() (*runtime.RunResult, error) {
			bin, err := compile.BuildRunner(prog)
			if err != nil {
				return nil, err
			}
			return compile.RunGenerated(bin, req)
		}
	}
	return engines
}

// TestAdamF32BitForBit: in a float32 model the generated SGD, Adam and
// AdamW updates (one vectorised pass per parameter, codegen/kernels
// sgdRow32 and adamRow32) give the interpreter's parameters bit for bit
// over 10 steps, for a parameter of 67 elements (vector blocks and a scalar
// tail; SGD calls the kernel from 64 elements).
func TestAdamF32BitForBit(t *testing.T) {
	const n = 67
	theta0, a, c := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		theta0[i] = math.Sin(float64(i)) * 2
		a[i] = 0.5 + float64(i%5)
		c[i] = math.Cos(float64(3 * i))
	}
	loss := func(b *dsl.Builder) {
		theta := b.Param("theta", dsl.Values(theta0...), n)
		d := theta.Sub(b.ConstValues(c, n))
		next := dsl.Concat(0, theta.SliceAxis(0, 1, n), theta.SliceAxis(0, 0, 1))
		b.Output("theta_next", next)
		b.Loss(b.ConstValues(a, n).Mul(d).Mul(d).Sum().Scale(0.5).Add(theta.Mul(next).Tanh().Sum().Scale(0.3)))
	}
	for name, cfg := range map[string]passes.OptimizerConfig{
		"sgd":   {Kind: "sgd", LR: 0.05},
		"adam":  {Kind: "adam", LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		"adamw": {Kind: "adamw", LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WD: 0.1},
	} {
		t.Run(name, func(t *testing.T) {
			testutil.Long(t, "builds generated code")
			res, err := compile.Build("toy", "toy.go", loss, compile.Options{Float: graph.F32, Optimizer: cfg})
			if err != nil {
				t.Fatal(err)
			}
			req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{}, Steps: 10, Trace: true}
			results := map[string][]float64{}
			for engine, run := range runEngines(res.Program, req) {
				out, err := run()
				if err != nil {
					t.Fatalf("%s: %v", engine, err)
				}
				results[engine] = floats(out.Trace[9]["theta"])
			}
			want, got := results["interp"], results["gen"]
			if len(got) != n || len(want) != n {
				t.Fatalf("θ after 10 steps has %d (gen) and %d (interp) values, want %d", len(got), len(want), n)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("θ[%d] after 10 steps: generated %v, interpreter %v", i, got[i], want[i])
				}
				if want[i] == theta0[i] {
					t.Fatalf("θ[%d] did not move", i)
				}
			}
		})
	}
}
