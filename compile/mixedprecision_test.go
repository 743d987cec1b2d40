package compile_test

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// mixedProgram compiles the small gpt for training, with bf16 rounding
// points when bf16.
func mixedProgram(t *testing.T, bf16 bool) (*graph.Program, map[string]runtime.JSONTensor) {
	var o compile.Options
	if bf16 {
		o.Precision = graph.BF16
	}
	return smallGPT(t, o)
}

// TestMixedPrecisionInterpreter: with bf16 mixed precision every matrix
// product of the training graph, forward and backward, reads bf16-rounded
// operands while the parameters stay f32; the loss and the gradients stay
// near f32's (bf16 keeps 8 significant bits) but differ from them.
func TestMixedPrecisionInterpreter(t *testing.T) {
	ref, inputs := mixedProgram(t, false)
	prog, _ := mixedProgram(t, true)
	products, rounded := 0, 0
	for _, n := range prog.Train.Nodes {
		if n.Op == graph.OpMatMul {
			products++
			if bf16Operand(n.Inputs[0]) && bf16Operand(n.Inputs[1]) {
				rounded++
			}
		}
		if n.Op == graph.OpParam && n.Type.DType != graph.F32 {
			t.Errorf("parameter %s is %s, want the f32 master", n.Name, n.Type)
		}
	}
	if products == 0 || rounded != products {
		t.Errorf("%d of %d products read rounded operands", rounded, products)
	}
	if len(prog.Predict.NodesWithOp(graph.OpRoundBF16)) != 0 {
		t.Error("Predict has rounding points; only training should")
	}
	req := compile.RunRequest{Inputs: inputs, Loss: true, Grads: true}
	want, err := compile.RunInterpreted(ref, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := compile.RunInterpreted(prog, req)
	if err != nil {
		t.Fatal(err)
	}
	l, l0 := float64(*got.Loss), float64(*want.Loss)
	if d := math.Abs(l-l0) / l0; d > 0.01 || d == 0 {
		t.Errorf("loss %v with bf16 rounding, %v in f32: relative difference %.3g, want in (0, 0.01]", l, l0, d)
	}
	for name, g := range want.Grads {
		if maxAbs(g) < 1e-6 {
			continue // the key biases: their gradient is 0 up to rounding (softmax ignores a shift)
		}
		if e := relErr(got.Grads[name], g); e > 0.05 {
			t.Errorf("d%s: relative error %.3g against f32", name, e)
		}
	}
}

// bf16Operand reports whether a product's operand x holds bf16 values: a
// rounding point, or a bf16 value widened (bf16 storage), reshaped or not.
func bf16Operand(x *graph.Node) bool {
	for x.Op == graph.OpReshape {
		x = x.Inputs[0]
	}
	return x.Op == graph.OpRoundBF16 || x.Op == graph.OpCast && x.Inputs[0].Type.DType == graph.BF16
}

func maxAbs(x runtime.JSONTensor) float64 {
	m := 0.0
	for _, v := range x.Data {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// TestMixedPrecisionEngines: generated code and the interpreter agree on the
// loss and the gradients of a bf16 mixed-precision step (to 1e-3 of each
// gradient's largest element: the same rounding points, but sums in other
// orders can move a value across a bf16 rounding boundary), and after
// three training steps on the parameters; with the activations stored in
// bf16 (bf16 Casts), planned (the default pipeline) and unplanned (-O0).
func TestMixedPrecisionEngines(t *testing.T) {
	testutil.Long(t, "builds generated packages")
	for _, o0 := range []bool{false, true} {
		t.Run(map[bool]string{false: "O2", true: "O0"}[o0], func(t *testing.T) {
			prog, inputs := smallGPT(t, compile.Options{Precision: graph.BF16, Passes: passes.Options{O0: o0}})
			stored := 0
			for _, n := range prog.Train.Nodes {
				if n.Type.DType == graph.BF16 {
					stored++
				}
			}
			if stored == 0 {
				t.Fatal("no activation is stored in bf16")
			}
			enginesAgree(t, prog, inputs, 1e-3)
		})
	}
	// A gpt wide enough for the products to run on GemmBF16 and the
	// attention to fuse, with bf16 storage: a cast scheduled inside the
	// fused attention's span once read the weights before the kernel
	// wrote them (gradients off by 100%). Rounding-order noise here is
	// about 2e-3.
	t.Run("wide", func(t *testing.T) {
		const config = "vocab=512,ctx=32,d=128,heads=4,layers=1,ffn=512,batch=2,dropout=0"
		e, _ := models.Lookup("gpt")
		cfg, err := e.Config(config)
		if err != nil {
			t.Fatal(err)
		}
		res, err := compile.Zoo("gpt", config, compile.Options{Float: graph.F32, Precision: graph.BF16})
		if err != nil {
			t.Fatal(err)
		}
		// The key bias's gradient is zero in exact arithmetic (it adds the
		// same q·b to every score of a row, which softmax ignores): both
		// engines compute rounding noise there, which Adam then scales up.
		enginesAgree(t, res.Program, compile.ExampleInputs(res.Program, e.Example(cfg), 3), 1e-2, "h0.attn.bk")
	})
}

// enginesAgree runs three training steps in both engines and compares the
// loss, the gradients and the parameters after them, each to tol relative
// to the tensor's largest element.
func enginesAgree(t *testing.T, prog *graph.Program, inputs map[string]runtime.JSONTensor, tol float64, skip ...string) {
	srv := startRunner(t, prog)
	req := compile.RunRequest{Inputs: inputs, Loss: true, Grads: true, Steps: 3}
	want, err := compile.RunInterpreted(prog, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Grads) == 0 || len(want.Params) == 0 || len(got.Params) != len(want.Params) {
		t.Fatalf("%d gradients, %d and %d parameters after the steps", len(want.Grads), len(want.Params), len(got.Params))
	}
	if d := math.Abs(float64(*got.Loss)-float64(*want.Loss)) / float64(*want.Loss); d > 1e-4 {
		t.Errorf("loss: generated %v, interpreter %v", *got.Loss, *want.Loss)
	}
	for name, g := range want.Grads {
		if maxAbs(g) < 1e-6 || slices.Contains(skip, name) {
			continue
		}
		if e := relErr(got.Grads[name], g); e > tol {
			t.Errorf("d%s: generated differs from the interpreter by %.3g", name, e)
		}
	}
	for name, p := range want.Params {
		if slices.Contains(skip, name) {
			continue
		}
		if e := relErr(got.Params[name], p); e > tol {
			t.Errorf("%s after 3 steps: generated differs from the interpreter by %.3g", name, e)
		}
	}
}

// TestBF16Storage: bf16 mixed precision stores the activations its backward
// pass reads in bf16 (passes.BF16Storage): every bf16 value is a Cast's,
// read only by widening Casts; no backward node reads a large f32 forward
// value; the planned activations are less than 0.55 of f32's; and the step
// computes nearly what it computes with the activations kept in f32.
func TestBF16Storage(t *testing.T) {
	prog, inputs := mixedProgram(t, true)
	kept, _ := smallGPT(t, compile.Options{Precision: graph.BF16, Passes: passes.Options{Disable: []string{"bf16storage"}}})
	g := prog.Train
	roots := map[*graph.Node]bool{}
	for _, r := range g.Roots() {
		roots[r] = true
	}
	stored := 0
	for _, n := range g.Nodes {
		if n.Type.DType == graph.BF16 {
			stored++
			if n.Op != graph.OpCast || n.Inputs[0].Type.DType != graph.F32 {
				t.Errorf("%s is bf16 but not a Cast of an f32 value", n.Label())
			}
		}
		for _, x := range n.Inputs {
			if x.Type.DType == graph.BF16 && !(n.Op == graph.OpCast && n.Type.DType == graph.F32) {
				t.Errorf("%s reads the bf16 %s", n.Label(), x.Label())
			}
			if n.Role == graph.RoleBackward && x.Role == graph.RoleForward && x.Type.DType == graph.F32 && x.Type.Shape.Size() >= 256 &&
				x.Op != graph.OpConst && !roots[x] {
				t.Errorf("backward %s reads the f32 forward value %s", n.Label(), x.Label())
			}
		}
	}
	if stored == 0 {
		t.Fatal("nothing stored in bf16")
	}
	// The target, on the default gpt (this small one stores less:
	// most of its values are under 256 elements).
	var planned [2]int
	for i, o := range []compile.Options{{}, {Precision: graph.BF16}} {
		res, err := compile.Zoo("gpt", "", o)
		if err != nil {
			t.Fatal(err)
		}
		planned[i] = res.Program.Train.Plan.PlannedBytes
		if o.Precision == graph.BF16 {
			sharedWidenings(t, res.Program.Train)
		}
	}
	if r := float64(planned[1]) / float64(planned[0]); r > 0.55 {
		t.Errorf("default gpt's planned activations: %d bytes in bf16, %d in f32: %.3f, want ≤ 0.55", planned[1], planned[0], r)
	}
	t.Logf("%d values stored in bf16; the default gpt's planned activations: %d bytes against f32's %d (%.3f)", stored, planned[1], planned[0], float64(planned[1])/float64(planned[0]))
	req := compile.RunRequest{Inputs: inputs, Loss: true, Grads: true}
	want, err := compile.RunInterpreted(kept, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := compile.RunInterpreted(prog, req)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(float64(*got.Loss)-float64(*want.Loss)) / float64(*want.Loss); d > 1e-6 {
		t.Errorf("loss %v with bf16 storage, %v without: the forward pass should not change", *got.Loss, *want.Loss)
	}
	for name, g := range want.Grads {
		if maxAbs(g) < 1e-6 {
			continue
		}
		if e := relErr(got.Grads[name], g); e > 0.02 {
			t.Errorf("d%s: bf16 storage moves it by %.3g of its largest element", name, e)
		}
	}
}

// sharedWidenings checks that the readers of a stored bf16 value close to
// one another share one widening Cast (GELU's input: GELU computed again
// and its gradient; softmax's output: a product and its gradient) rather
// than each widening it again.
func sharedWidenings(t *testing.T, g *graph.Graph) {
	t.Helper()
	last := map[*graph.Node]int{} // bf16 value → position of its latest widening
	for i, n := range g.Nodes {
		if n.Op != graph.OpCast || n.Type.DType != graph.F32 || n.Inputs[0].Type.DType != graph.BF16 {
			continue
		}
		h := n.Inputs[0]
		if j, ok := last[h]; ok && i-j <= 16 {
			t.Errorf("%s widens %s again, %d nodes after its widening %s", n.Label(), h.Label(), i-j, g.Nodes[j].Label())
		}
		last[h] = i
	}
}

// TestMixedPrecisionPackage: the generated bf16 mixed-precision package
// (bf16 activations in m.harena, a view of the float32 arena) imports only
// the standard library, vets on amd64, arm64 and purego, and its TrainStep
// does not allocate (the package's TestZeroAllocs: testing.AllocsPerRun).
func TestMixedPrecisionPackage(t *testing.T) {
	testutil.Long(t, "builds a generated package")
	prog, _ := mixedProgram(t, true)
	files, err := compile.Generate(&compile.Result{Program: prog}, "bgpt")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/bgpt\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	harena := false
	for _, f := range files {
		harena = harena || bytes.Contains(f.Data, []byte("m.harena"))
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, imp := range importsOf(f.Data) {
			if strings.Contains(imp, ".") {
				t.Errorf("%s imports %s, outside the standard library", f.Name, imp)
			}
		}
	}
	if !harena {
		t.Error("the package stores nothing in bf16")
	}
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"vet", "."}},
		{nil, []string{"test", "-count=1", "-run", "TestZeroAllocs", "-v", "."}},
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
}

// TestBF16Cast: a Cast to bf16 rounds by runtime/lowp's rule in the
// interpreter (ties to even, subnormals kept, overflow to Inf) and back to
// f32 exactly; only f32 casts to bf16, and only a float32 package stores
// bf16 values (its bf16 arena views the float32 one), each refusal a
// one-line error.
func TestBF16Cast(t *testing.T) {
	roundTrip := func(dt graph.DType) func(b *dsl.Builder) {
		return func(b *dsl.Builder) {
			x := b.Input("x", 5)
			b.Output("y", x.Cast(graph.F32).Cast(graph.BF16).Cast(graph.F32).Cast(dt))
		}
	}
	res, err := compile.Build("cast", "cast.go", roundTrip(graph.F32), compile.Options{Float: graph.F32})
	if err != nil {
		t.Fatal(err)
	}
	in := []float32{
		math.Float32frombits(0x3f808000), // 1 + 2⁻⁸: a tie, to even (1)
		math.Float32frombits(0x3f818000), // a tie, to even (1 + 2⁻⁶)
		math.Float32frombits(0x00018000), // a subnormal tie: 0x0002
		math.Float32frombits(0x7f7f8000), // past the largest bf16: +Inf
		-1.0 / 3,
	}
	data := make([]runtime.JSONFloat, len(in))
	for i, v := range in {
		data[i] = runtime.JSONFloat(v)
	}
	got, err := compile.RunInterpreted(res.Program, compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": {Shape: []int{5}, Data: data}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{0x3f800000, 0x3f820000, 0x00020000, 0x7f800000, 0xbeab0000}
	for i, w := range want {
		if g := math.Float32bits(float32(got.Outputs["y"].Data[i])); g != w {
			t.Errorf("bf16 round trip of %08x: %08x, want %08x", math.Float32bits(in[i]), g, w)
		}
	}
	res, err = compile.Build("cast64", "cast64.go", roundTrip(graph.F64), compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compile.Generate(res, "cast64"); err == nil || !strings.Contains(err.Error(), "need a float32 package") || strings.Contains(err.Error(), "\n") {
		t.Errorf("an f64 package with bf16 values: %v, want a one-line refusal", err)
	}
	_, err = compile.Build("bad", "bad.go", func(b *dsl.Builder) {
		b.Output("y", b.Input("x", 5).Cast(graph.F64).Cast(graph.BF16))
	}, compile.Options{Float: graph.F64})
	if err == nil || !strings.Contains(err.Error(), "only f32 values are stored in bf16") || strings.Contains(err.Error(), "\n") {
		t.Errorf("f64 cast to bf16: %v, want a one-line error", err)
	}
}
