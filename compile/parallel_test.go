package compile_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
)

// TestParallelKernels: with every kernel that can split on the worker pool
// running there (codegen.Options.ParallelAll: the test models are below the
// size thresholds) and three threads, so that the ranges are uneven, the
// generated code computes bit for bit what the serial generated code does:
// outputs, loss, gradients, two training steps and, for gpt, the KV-cache
// forward. Splitting a loop only moves elements between threads; each is
// computed by the same expression. The test also checks that every kind of
// parallel kernel was emitted, so that it covers them: among them the loops
// after a product that split by its columns (Cols) and the optimizer
// updates split like their gradients (sgd, adam).
func TestParallelKernels(t *testing.T) {
	testutil.Long(t, "builds generated code")
	t.Setenv("GOMAXPROCS", "3") // the runners' pools get three threads
	for _, tc := range []struct {
		model, config string
		dt            graph.DType
		kernels       []string // a method of each kind of parallel kernel
		decode        bool
		opt           passes.OptimizerConfig
		prec          graph.DType // bf16: mixed precision
	}{
		{"gpt", "vocab=64,ctx=16,d=32,heads=2,layers=2,ffn=64,batch=2,dropout=0.1", graph.F32,
			[]string{"(*Model).fusedH0_attn_context", "(*Model).attendH0_attn_context", "(*Model).layerNormH0_ln1", "(*Model).layerNormGrad", "(*Model).batched", "Rows, ", "Cols, ", "(*Model).sgd", "(*Model).reduce", "(*Model).transpose", "(*Model).loop", "(*Model).xentGrad", "(*Model).xentLoss"}, true, passes.OptimizerConfig{}, 0},
		{"gpt", "vocab=32,ctx=8,d=16,heads=2,layers=1,ffn=32,batch=3,norm=post,act=relu", graph.F64, nil, true, passes.OptimizerConfig{}, 0},
		{"llama", smallConfig["llama"], graph.F64, []string{"(*Model).rmsNormH0_attn_norm", "(*Model).rmsNormGrad", "(*Model).ropeH0_attn_q_rot"}, true, passes.OptimizerConfig{}, 0},
		{"bert", smallConfig["bert"], graph.F64, []string{"(*Model).softmax", "(*Model).softmaxGrad"}, false, passes.OptimizerConfig{}, 0},
		{"mlp", smallConfig["mlp"], graph.F64, []string{"Cols, "}, false, passes.OptimizerConfig{}, 0},
		{"word2vec", smallConfig["word2vec"], graph.F32, nil, false, passes.OptimizerConfig{}, 0},
		{"mlp", smallConfig["mlp"], graph.F32, []string{"Cols, ", "(*Model).adam"}, false, passes.OptimizerConfig{Kind: "adam", LR: 0.01}, 0},
		// bf16 mixed precision: storage's casts split too.
		{"gpt", "vocab=64,ctx=16,d=32,heads=2,layers=1,ffn=64,batch=2", graph.F32, []string{"m.castBF16(", "(*Model).narrowBF16", "(*Model).widenBF16"}, false, passes.OptimizerConfig{}, graph.BF16},
	} {
		name := tc.model + "/" + tc.dt.String()
		if tc.prec != 0 {
			name += "/" + tc.prec.String()
		}
		t.Run(name, func(t *testing.T) {
			res, err := compile.Zoo(tc.model, tc.config, compile.Options{Float: tc.dt, Optimizer: tc.opt, Precision: tc.prec})
			if err != nil {
				t.Fatal(err)
			}
			files, err := codegen.Generate(res.Program, codegen.Options{ParallelAll: true})
			if err != nil {
				t.Fatal(err)
			}
			src := string(files[0].Data)
			if !strings.Contains(src, "m.parallel(") {
				t.Fatalf("%s: no parallel kernel emitted", files[0].Name)
			}
			for _, k := range tc.kernels {
				if !strings.Contains(src, k) {
					t.Errorf("no parallel kernel %q in %s", k, files[0].Name)
				}
			}
			e, _ := models.Lookup(tc.model)
			cfg, err := e.Config(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			serial, err := compile.BuildRunner(res.Program)
			if err != nil {
				t.Fatal(err)
			}
			parallel, err := compile.BuildRunnerWith(res.Program, codegen.Options{ParallelAll: true})
			if err != nil {
				t.Fatal(err)
			}
			reqs := []compile.RunRequest{{Inputs: compile.ExampleInputs(res.Program, e.Example(cfg), 2), Loss: true, Grads: true, Steps: 2}}
			if tc.decode {
				reqs = append(reqs, compile.RunRequest{Inputs: reqs[0].Inputs, Phase: "decode", Prefill: 3})
			}
			for _, req := range reqs {
				want, err := compile.RunGenerated(serial, req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := compile.RunGenerated(parallel, req)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("phase %q: parallel kernels differ from serial (-serial +parallel):\n%s", req.Phase, d)
				}
			}
			// A target outside the vocabulary is the same one-line error
			// when the loss gradient's rows are split (checked before).
			if tg, ok := reqs[0].Inputs["targets"]; ok && tc.model == "gpt" {
				bad := compile.RunRequest{Inputs: maps.Clone(reqs[0].Inputs), Loss: true, Grads: true}
				tg.Data = slices.Clone(tg.Data)
				tg.Data[3] = 1 << 20
				bad.Inputs["targets"] = tg
				_, errS := compile.RunGenerated(serial, bad)
				_, errP := compile.RunGenerated(parallel, bad)
				if errS == nil || errP == nil || errS.Error() != errP.Error() || !strings.Contains(errP.Error(), "at position 3 is outside") {
					t.Errorf("a bad target: serial error %v, parallel error %v; want the same, naming position 3", errS, errP)
				}
			}
		})
	}
}
