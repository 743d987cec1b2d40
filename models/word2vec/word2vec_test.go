package word2vec_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models/word2vec"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestGradientsClosedForm: loss and gradients match the textbook formulas
// on a small f64 batch in which ids repeat (a center twice, a context word
// that is also another pair's negative, a negative drawn twice), so the
// accumulation over repeated ids is checked too:
//
//	L    = 1/B Σ_b [−log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c)]
//	dV_c = 1/B [−(1 − σ(u_o·v_c)) u_o + Σ_k σ(u_k·v_c) u_k]
//	dU_o = 1/B [−(1 − σ(u_o·v_c)) v_c]
//	dU_k = 1/B σ(u_k·v_c) v_c
func TestGradientsClosedForm(t *testing.T) {
	c := word2vec.Config{Vocab: 6, D: 3, Negatives: 2, Batch: 4}
	center := []int32{0, 2, 0, 5}
	context := []int32{1, 3, 4, 2}
	negatives := []int32{3, 5, 1, 1, 2, 3, 4, 0} // [B, K]

	g, err := dsl.Build("word2vec", "word2vec", dsl.Options{Float: graph.F64, Train: true}, func(b *dsl.Builder) { word2vec.Build(b, c) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
		t.Fatal(err)
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"V", "U"} {
		v := it.Var(name)
		for i := range v.F64 {
			v.F64[i] = r.NormFloat64() // large enough that σ is far from ½
		}
	}
	in := map[string]*runtime.Tensor{}
	for name, ids := range map[string][]int32{"center": center, "context": context, "negatives": negatives} {
		shape := []int{c.Batch}
		if name == "negatives" {
			shape = append(shape, c.Negatives)
		}
		x := runtime.NewTensor(graph.T(graph.I32, shape...))
		copy(x.I32, ids)
		in[name] = x
	}
	if err := it.Eval(in, false); err != nil {
		t.Fatal(err)
	}

	d, B, K := c.D, c.Batch, c.Negatives
	V, U := it.Var("V").F64, it.Var("U").F64
	row := func(m []float64, id int32) []float64 { return m[int(id)*d : int(id+1)*d] }
	dV, dU := make([]float64, len(V)), make([]float64, len(U))
	loss := 0.0
	for b := range B {
		vc, uo := row(V, center[b]), row(U, context[b])
		s := sigmoid(dot(uo, vc))
		loss -= math.Log(s)
		for i := range d {
			row(dV, center[b])[i] -= (1 - s) * uo[i] / float64(B)
			row(dU, context[b])[i] -= (1 - s) * vc[i] / float64(B)
		}
		for k := range K {
			nk := negatives[b*K+k]
			uk := row(U, nk)
			sk := sigmoid(dot(uk, vc))
			loss -= math.Log(sigmoid(-dot(uk, vc)))
			for i := range d {
				row(dV, center[b])[i] += sk * uk[i] / float64(B)
				row(dU, nk)[i] += sk * vc[i] / float64(B)
			}
		}
	}
	loss /= float64(B)

	if !testutil.Close(it.Loss(), loss, 1e-12) {
		t.Errorf("loss %.17g, want %.17g", it.Loss(), loss)
	}
	for _, c := range []struct {
		name string
		want []float64
	}{{"V", dV}, {"U", dU}} {
		if diff := testutil.CompareSlices(it.Grad(c.name).F64, c.want, 1e-12); diff != "" {
			t.Errorf("d%s: %s", c.name, diff)
		}
	}
	// Rows no id touches get no gradient at all.
	for i := range d {
		if got := row(it.Grad("V").F64, 1)[i]; got != 0 {
			t.Errorf("dV[1] = %v for a word that is never a center", got)
		}
	}
}

// TestOutputs: p_context is σ(u_o·v_c) and embeddings are V's rows at unit length.
func TestOutputs(t *testing.T) {
	c := word2vec.Config{Vocab: 5, D: 4, Negatives: 1, Batch: 2}
	g, err := dsl.Build("word2vec", "word2vec", dsl.Options{Float: graph.F64}, func(b *dsl.Builder) { word2vec.Build(b, c) })
	if err != nil {
		t.Fatal(err)
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*runtime.Tensor{}
	for name, shape := range map[string][]int{"center": {2}, "context": {2}, "negatives": {2, 1}} {
		x := runtime.NewTensor(graph.T(graph.I32, shape...))
		for i := range x.I32 {
			x.I32[i] = int32(i + 2)
		}
		in[name] = x
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	V, U := it.Var("V").F64, it.Var("U").F64
	emb := it.Output("embeddings").F64
	// The model adds 1e-12 to ‖v‖² (a zero row must not give NaN): allow for it.
	for w := range c.Vocab {
		norm := math.Sqrt(dot(V[w*4:w*4+4], V[w*4:w*4+4]))
		for i := range 4 {
			if !testutil.Close(emb[w*4+i], V[w*4+i]/norm, 1e-10) {
				t.Fatalf("embeddings[%d] = %v, want V[%d]/‖V[%d]‖ = %v", w, emb[w*4:w*4+4], w, w, V[w*4+i]/norm)
			}
		}
	}
	for b, p := range it.Output("p_context").F64 {
		id := b + 2 // center and context are both b+2
		want := sigmoid(dot(V[id*4:id*4+4], U[id*4:id*4+4]))
		if !testutil.Close(p, want, 1e-12) {
			t.Errorf("p_context[%d] = %v, want %v", b, p, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := dsl.Build("word2vec", "word2vec", dsl.Options{}, func(b *dsl.Builder) {
		word2vec.Build(b, word2vec.Config{Vocab: 10, D: 0, Negatives: -1, Batch: 4})
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"d must be positive, got 0", "negatives must be positive, got -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
