package compile_test

import (
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
)

// TestRowCallsAgree: the generated code of models whose elementwise groups
// run as calls of the library's row functions (the masked, scaled score
// gradient of causal attention as causalScaleRows, a GELU's bias as
// biasRows, ReLU's gradient as reluGradRow) agrees with the interpreter on
// the loss and every gradient (f64 to 1e-12 relative, f32 to 1e-5). The
// configurations are chosen so that each call is emitted, which the test
// checks first; the zoo's small configurations do not reach them. The
// biases are zero at initialisation, so a wrong biasRows would go unseen
// here: TestParallelKernels, which takes two training steps, covers it.
func TestRowCallsAgree(t *testing.T) {
	testutil.Long(t, "builds generated code")
	for _, tc := range []struct {
		model, config string
		dt            graph.DType
		calls         []string
	}{
		{"gpt", "vocab=32,ctx=16,d=32,heads=2,layers=1,ffn=128,batch=4,dropout=0", graph.F32, []string{"causalScaleRows(", "geluRow(h0_mlp_hidden, t55)"}},
		{"gpt", "vocab=32,ctx=16,d=32,heads=2,layers=1,ffn=128,batch=4,dropout=0", graph.F64, []string{"causalScaleRows("}},
		{"mlp", "sizes=64-96-96-10,act=relu,batch=32", graph.F32, []string{"reluGradRow("}},
	} {
		t.Run(tc.model+"/"+tc.dt.String(), func(t *testing.T) {
			e, err := models.Lookup(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := e.Config(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			res, err := compile.Zoo(tc.model, tc.config, compile.Options{Float: tc.dt})
			if err != nil {
				t.Fatal(err)
			}
			files, err := codegen.Generate(res.Program, codegen.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range tc.calls {
				if !strings.Contains(string(files[0].Data), call) {
					t.Fatalf("%s not emitted in %s", call, files[0].Name)
				}
			}
			req := compile.RunRequest{Inputs: compile.ExampleInputs(res.Program, e.Example(cfg), 1), Loss: true, Grads: true}
			want, err := compile.RunInterpreted(res.Program, req)
			if err != nil {
				t.Fatal(err)
			}
			bin, err := compile.BuildRunner(res.Program)
			if err != nil {
				t.Fatal(err)
			}
			got, err := compile.RunGenerated(bin, req)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-12
			if tc.dt == graph.F32 {
				tol = 1e-5
			}
			if got.Loss == nil || want.Loss == nil || len(want.Grads) == 0 || len(got.Grads) != len(want.Grads) {
				t.Fatalf("loss %v / %v, %d gradients, interpreter has %d", got.Loss, want.Loss, len(got.Grads), len(want.Grads))
			}
			for name, w := range want.Grads {
				compare(t, "d"+name, got.Grads[name], w, tol)
			}
		})
	}
}
