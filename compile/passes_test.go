package compile_test

import (
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// smallConfig keeps the interpreter-side tests quick for the big models
// (the interpreter is the slow side); gpt also runs with dropout, so the
// engines must draw the same masks.
var smallConfig = map[string]string{
	"mlp":      "sizes=32-16-16-10,batch=8",
	"gpt":      "vocab=64,ctx=16,d=32,heads=2,layers=2,ffn=64,batch=2,dropout=0.1",
	"llama":    "vocab=64,ctx=16,d=32,heads=4,kv_heads=2,layers=2,ffn=48,batch=2",
	"seq2seq":  "vocab=32,src_ctx=7,ctx=5,d=16,heads=4,kv_heads=2,enc_layers=2,dec_layers=2,ffn=24,batch=2",
	"bert":     "vocab=64,ctx=16,d=32,heads=2,layers=2,ffn=64,batch=2",
	"word2vec": "vocab=128,d=16,batch=16",
}

// TestO0AgreesWithOptimized: for every zoo model, the program compiled at
// -O0 and with every pass computes the same outputs, loss and gradients on
// the interpreter (f64, 1e-12), and the optimized one after a training step.
func TestO0AgreesWithOptimized(t *testing.T) {
	for _, e := range models.Zoo {
		t.Run(e.Name, func(t *testing.T) {
			config := smallConfig[e.Name]
			cfg, err := e.Config(config)
			if err != nil {
				t.Fatal(err)
			}
			var results [2]*runtime.RunResult
			var sizes [2]int
			for i, o0 := range []bool{true, false} {
				st := passes.NewStats()
				res, err := compile.Zoo(e.Name, config, compile.Options{Float: graph.F64, Passes: passes.Options{O0: o0}, Stats: st})
				if err != nil {
					t.Fatal(err)
				}
				sizes[i] = len(res.Program.Train.Nodes)
				req := compile.RunRequest{Inputs: compile.ExampleInputs(res.Program, e.Example(cfg), 1), Loss: true, Grads: true, Steps: 2}
				if results[i], err = compile.RunInterpreted(res.Program, req); err != nil {
					t.Fatal(err)
				}
			}
			a, b := results[0], results[1]
			for name := range a.Outputs {
				compare(t, "output "+name, b.Outputs[name], a.Outputs[name], 1e-12)
			}
			compare(t, "loss", runtime.JSONTensor{Data: []runtime.JSONFloat{*b.Loss}}, runtime.JSONTensor{Data: []runtime.JSONFloat{*a.Loss}}, 1e-12)
			for name := range a.Grads {
				compare(t, "d"+name, b.Grads[name], a.Grads[name], 1e-12)
			}
			for name := range a.Params {
				compare(t, name+" after 2 steps", b.Params[name], a.Params[name], 1e-12)
			}
			t.Logf("train graph: %d nodes at -O0, %d optimized", sizes[0], sizes[1])
		})
	}
}
