package compile_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

const quantConfig = "vocab=64,ctx=8,d=32,heads=2,layers=2,ffn=128,batch=1" // widths 32, 64 and 128: every SIMD kernel runs

// smallGPT compiles the small gpt in f32 with the options o adds (Float
// is set here), and returns it with example inputs.
func smallGPT(t *testing.T, o compile.Options) (*graph.Program, map[string]runtime.JSONTensor) {
	t.Helper()
	e, err := models.Lookup("gpt")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.Config(quantConfig)
	if err != nil {
		t.Fatal(err)
	}
	o.Float = graph.F32
	res, err := compile.Zoo("gpt", quantConfig, o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Program, compile.ExampleInputs(res.Program, e.Example(cfg), 3)
}

// quantProgram compiles the small gpt with weights stored as dt (Invalid: f32).
func quantProgram(t *testing.T, dt graph.DType) (*graph.Program, map[string]runtime.JSONTensor) {
	return smallGPT(t, compile.Options{Decode: "on", Weights: dt})
}

// relErr is max |got − want| / max |want|.
func relErr(got, want runtime.JSONTensor) float64 {
	var d, m float64
	for i := range want.Data {
		d = max(d, math.Abs(float64(got.Data[i])-float64(want.Data[i])))
		m = max(m, math.Abs(float64(want.Data[i])))
	}
	return d / m
}

// TestQuantizedWeightsInterpreter: with i8 or bf16 weights the program is
// inference-only, every weight matrix of Predict, Prefill and Decode is read
// by a QMatMul, the logits stay near the f32 program's (quantisation error
// only: bf16 carries 8 significant bits, i8 about 7), and KV-cache decoding
// still reproduces the full forward pass to f32 rounding.
func TestQuantizedWeightsInterpreter(t *testing.T) {
	ref, inputs := quantProgram(t, graph.Invalid)
	want, err := compile.RunInterpreted(ref, compile.RunRequest{Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dt  graph.DType
		tol float64
	}{{graph.I8, 0.03}, {graph.BF16, 0.01}} {
		t.Run(c.dt.String(), func(t *testing.T) {
			prog, _ := quantProgram(t, c.dt)
			if prog.Train != nil {
				t.Error("a quantised program keeps its training graph")
			}
			for _, g := range []*graph.Graph{prog.Predict, prog.Prefill, prog.Decode} {
				q := 0
				for _, n := range g.Nodes {
					switch {
					case n.Op == graph.OpQMatMul:
						q++
						if n.Inputs[1].Type.DType != c.dt || n.Attrs.TransB {
							t.Errorf("%s: %s reads %s", g.Name, n.Label(), n.Inputs[1].Type)
						}
					case n.Op == graph.OpMatMul && n.Inputs[1].Op == graph.OpParam:
						t.Errorf("%s: %s still multiplies by the f32 %s", g.Name, n.Label(), n.Inputs[1].Name)
					}
				}
				// 2 layers × (qkv or q,k,v + proj + 2 MLP) + the tied output projection.
				if q < 2*4+1 {
					t.Errorf("%s: %d QMatMul nodes, want at least 9", g.Name, q)
				}
			}
			// The tied embedding stays f32 for the lookup; its output projection
			// reads a copy stored [d, vocab] (transposed), with vocab scales.
			if wq := prog.Predict.Find("wte.q"); wq == nil || !wq.Type.Equal(graph.T(c.dt, 32, 64)) {
				t.Errorf("the tied output projection's weight is %v, want wte.q %s[32,64]", wq, c.dt)
			}
			if s := prog.Predict.Find("wte.q.scale"); c.dt == graph.I8 && (s == nil || !s.Type.Equal(graph.T(graph.F32, 64))) {
				t.Errorf("wte.q.scale is %v, want f32[64]", s)
			}
			got, err := compile.RunInterpreted(prog, compile.RunRequest{Inputs: inputs})
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want.Outputs {
				e := relErr(got.Outputs[name], w)
				t.Logf("%s: relative error %.2g", name, e)
				if e > c.tol || e == 0 {
					t.Errorf("%s: relative error %.3g against f32 weights, want in (0, %g]", name, e, c.tol)
				}
				dec, err := compile.RunInterpreted(prog, compile.RunRequest{Inputs: inputs, Phase: "decode", Prefill: 3})
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(dec.Outputs[name], got.Outputs[name]); e > 1e-5 {
					t.Errorf("%s: decoding differs from the full pass by %.3g", name, e)
				}
			}
		})
	}
}

// TestQuantizedWeightsEngines: generated code and the interpreter agree on
// the quantised gpt's logits, full pass and KV-cache decoding, for i8 and
// bf16 weights (to 1e-5 of the largest logit: the two sum in different
// orders), on this CPU's best kernel.
func TestQuantizedWeightsEngines(t *testing.T) {
	testutil.Long(t, "builds generated packages")
	for _, dt := range []graph.DType{graph.I8, graph.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			prog, inputs := quantProgram(t, dt)
			srv := startRunner(t, prog)
			for _, req := range []compile.RunRequest{{Inputs: inputs}, {Inputs: inputs, Phase: "decode", Prefill: 3}} {
				want, err := compile.RunInterpreted(prog, req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := srv.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				for name, w := range want.Outputs {
					if e := relErr(got.Outputs[name], w); e > 1e-5 {
						t.Errorf("%s %q: generated differs from the interpreter by %.3g", name, req.Phase, e)
					}
				}
			}
		})
	}
}

// TestQuantizedStandalone: a package with i8 weights (and one with bf16)
// builds, vets and passes all its own tests, which assert zero allocations
// per call, in a fresh module with only the standard library; its kernels also
// vet under purego and on arm64 (the portable loops).
func TestQuantizedStandalone(t *testing.T) {
	testutil.Long(t, "builds generated packages")
	for _, dt := range []graph.DType{graph.I8, graph.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			res, err := compile.Zoo("gpt", quantConfig, compile.Options{Float: graph.F32, Weights: dt})
			if err != nil {
				t.Fatal(err)
			}
			files, err := compile.Generate(res, "qgpt")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/qgpt\n\ngo 1.26\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			lowpFiles := 0
			for _, f := range files {
				if strings.HasPrefix(f.Name, "mlc_lowp") {
					lowpFiles++
				}
				if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, imp := range importsOf(f.Data) {
					if strings.Contains(imp, ".") {
						t.Errorf("%s imports %s, outside the standard library", f.Name, imp)
					}
				}
			}
			if lowpFiles == 0 {
				t.Error("no low-precision kernel files copied")
			}
			for _, c := range []struct {
				env  []string
				args []string
			}{
				{nil, []string{"vet", "."}},
				{nil, []string{"test", "-count=1", "-v", "."}}, // TestZeroAllocs, TestDecodePastContext
				{[]string{"GOARCH=arm64"}, []string{"vet", "."}},
				{nil, []string{"vet", "-tags", "purego", "."}},
			} {
				cmd := exec.Command("go", c.args...)
				cmd.Dir = dir
				cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS="), c.env...)
				out, err := cmd.CombinedOutput()
				if err != nil || (c.args[0] == "test" && !strings.Contains(string(out), "--- PASS: TestZeroAllocs")) {
					t.Fatalf("%v go %s: %v\n%s", c.env, strings.Join(c.args, " "), err, out)
				}
			}
		})
	}
}

// TestQuantizeErrors: what Quantize refuses, each with a one-line reason.
func TestQuantizeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		opts compile.Options
		want string
	}{
		{"f64", compile.Options{Float: graph.F64, Weights: graph.I8}, "low-precision weights need -dtype f32"},
		{"not a storage dtype", compile.Options{Float: graph.F32, Weights: graph.F32}, "quantize: weights as f32: want i8 or bf16"},
		{"NaN weight", compile.Options{Float: graph.F32, Weights: graph.I8, Values: map[string][]float64{"h0.mlp.W1": nanValues(32 * 128)}}, "quantize: h0.mlp.W1[5] is NaN; weights must be finite"},
		{"wrong count", compile.Options{Float: graph.F32, Weights: graph.BF16, Values: map[string][]float64{"h0.mlp.W1": {1, 2}}}, "parameter h0.mlp.W1 f32[32,128]: 2 values given"},
		{"unknown name", compile.Options{Float: graph.F32, Weights: graph.BF16, Values: map[string][]float64{"nope": {1}}}, `values given for "nope", which is not a parameter of gpt`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := compile.Zoo("gpt", quantConfig, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line with %q", err, c.want)
			}
		})
	}
}

func nanValues(n int) []float64 {
	v := make([]float64, n)
	v[5] = math.NaN()
	return v
}

// TestCompileFromWeightsFile: a program compiled from the file WeightsFile
// writes (mlc quantize's) holds the file's weights as they are: the same
// program as converting again, and an edited weight stays edited; a file
// of the other format, or without a weight's scales, is refused.
func TestCompileFromWeightsFile(t *testing.T) {
	for _, dt := range []graph.DType{graph.I8, graph.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			prog, inputs := quantProgram(t, dt)
			name := map[graph.DType]string{graph.I8: "int8", graph.BF16: "bf16"}[dt]
			f, err := compile.WeightsFile(prog, name)
			if err != nil {
				t.Fatal(err)
			}
			w, _ := f.Lookup("h0.mlp.W1")
			if dt == graph.I8 {
				w.I8[0] = -w.I8[0] + 1 // an edit the conversion would not make
			} else {
				w.BF16[0] ^= 0x8000
			}
			res, err := compile.Zoo("gpt", quantConfig, compile.Options{Float: graph.F32, Decode: "on", Weights: dt, Converted: f})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range prog.Predict.Params() {
				q := res.Program.Predict.Find(p.Name)
				if q == nil || !q.Type.Equal(p.Type) {
					t.Fatalf("%s: %v, want %s", p.Name, q, p.Type)
				}
				want, _ := initialOf(p)
				got, _ := initialOf(q)
				if p.Name == "h0.mlp.W1" {
					if got[0] == want[0] {
						t.Errorf("the edited weight came back converted: %v", got[0])
					}
					got, want = got[1:], want[1:]
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s differs from the file's", p.Name)
				}
			}
			if _, err := compile.RunInterpreted(res.Program, compile.RunRequest{Inputs: inputs}); err != nil {
				t.Fatal(err)
			}
			other := map[graph.DType]graph.DType{graph.I8: graph.BF16, graph.BF16: graph.I8}[dt]
			if _, err := compile.Zoo("gpt", quantConfig, compile.Options{Float: graph.F32, Weights: other, Converted: f}); err == nil || !strings.Contains(err.Error(), "the weights file holds") {
				t.Errorf("a %s file compiled as %s: %v", name, other, err)
			}
		})
	}
	prog, _ := quantProgram(t, graph.I8)
	f, err := compile.WeightsFile(prog, "int8")
	if err != nil {
		t.Fatal(err)
	}
	f.Tensors = slices.DeleteFunc(f.Tensors, func(t safetensors.Tensor) bool { return t.Name == "h0.mlp.W1.scale" })
	if _, err := compile.Zoo("gpt", quantConfig, compile.Options{Float: graph.F32, Weights: graph.I8, Converted: f}); err == nil || !strings.Contains(err.Error(), "no F32 scales h0.mlp.W1.scale [128]") {
		t.Errorf("a file without scales: %v", err)
	}
}

// initialOf is a parameter's values as the program holds them.
func initialOf(p *graph.Node) ([]float64, error) {
	t := runtime.NewTensor(p.Type)
	runtime.InitParam(t, p.Attrs.Init, p.Attrs.Std, p.Attrs.Data, 0, p.Name)
	return t.Float64s(), nil
}
