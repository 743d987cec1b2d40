package compile_test

import (
	"fmt"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
)

// TestDecodeAttentionMatchesInterpreter: DecodeStep's attention over the
// cache (the SIMD kernels of codegen/kernels/dot.go, and their Go loops
// under the purego tag) gives the interpreter's logits at every position
// after a one-token prompt: f64 to 1e-12, f32 to 1e-4 (relative, or
// absolute below 1). The contexts run the kernels' groups of eight rows and
// their tails; the head widths run whole vectors, AVX-512 and AVX2 widths,
// and a remainder the vectors do not cover (12). A context of whole tiles
// (48) runs f32's tiled key cache, its full and partial tiles.
func TestDecodeAttentionMatchesInterpreter(t *testing.T) {
	testutil.Long(t, "builds generated decoders")
	for _, c := range []struct{ model, config string }{
		{"gpt", "vocab=32,ctx=27,d=64,heads=2,layers=2,ffn=32,batch=1"},              // head width 32
		{"gpt", "vocab=32,ctx=19,d=128,heads=2,layers=1,ffn=32,batch=2"},             // 64, two sequences
		{"gpt", "vocab=32,ctx=21,d=48,heads=2,layers=1,ffn=32,batch=1"},              // 24
		{"llama", "vocab=32,ctx=18,d=48,heads=4,kv_heads=2,layers=1,ffn=24,batch=1"}, // 12, grouped queries
		{"gpt", "vocab=32,ctx=48,d=64,heads=2,layers=1,ffn=32,batch=1"},              // f32: keys in tiles of 16
	} {
		for _, dt := range []graph.DType{graph.F64, graph.F32} {
			tol := 1e-12
			if dt == graph.F32 {
				tol = 1e-4
			}
			res, err := compile.Zoo(c.model, c.config, compile.Options{Float: dt, Decode: "on"})
			if err != nil {
				t.Fatal(err)
			}
			e, _ := models.Lookup(c.model)
			cfg, err := e.Config(c.config)
			if err != nil {
				t.Fatal(err)
			}
			req := compile.RunRequest{Cmd: "predict", Inputs: compile.ExampleInputs(res.Program, e.Example(cfg), 3), Phase: "decode", Prefill: 1}
			want, err := compile.RunInterpreted(res.Program, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Outputs) == 0 {
				t.Fatal("the interpreter returned no outputs")
			}
			for _, tags := range [][]string{nil, {"purego"}} {
				t.Run(fmt.Sprintf("%s/%s/%s%v", c.model, c.config, dt, tags), func(t *testing.T) {
					bin, err := compile.BuildRunner(res.Program, tags...)
					if err != nil {
						t.Fatal(err)
					}
					got, err := compile.RunGenerated(bin, req)
					if err != nil {
						t.Fatal(err)
					}
					for name, w := range want.Outputs {
						compare(t, name, got.Outputs[name], w, tol)
					}
				})
			}
		}
	}
}
