package bert_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models/bert"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// torchRef is testdata/torch_ref.json, written by testdata/torch_ref.py: an
// independent PyTorch implementation of the model, in float64.
type torchRef struct {
	Generator string      `json:"generator"`
	Cases     []torchCase `json:"cases"`
}

type torchCase struct {
	Name   string `json:"name"`
	Config struct {
		Vocab, Ctx, D, Heads, Layers, FFN, Pad, Batch int
		Norm, Act, EmbNorm, Head, Mask                string
		Eps                                           float64
	} `json:"config"`
	Params    map[string][]float64 `json:"params"`
	Inputs    map[string][]float64 `json:"inputs"`
	Logits    []float64            `json:"logits"`
	Loss      float64              `json:"loss"`
	Grads     map[string][]float64 `json:"grads"`
	Embedding []float64            `json:"embedding"`
}

func (tc *torchCase) config() bert.Config {
	k := tc.Config
	return bert.Config{Vocab: k.Vocab, Ctx: k.Ctx, D: k.D, Heads: k.Heads, Layers: k.Layers, FFN: k.FFN,
		Norm: k.Norm, Act: k.Act, Eps: k.Eps, EmbNorm: k.EmbNorm, Head: k.Head, Pad: k.Pad, Mask: k.Mask, Batch: k.Batch}
}

func loadTorchRef(t *testing.T) torchRef {
	t.Helper()
	data, err := os.ReadFile("testdata/torch_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchRef
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 3 {
		t.Fatalf("%d cases in torch_ref.json", len(ref.Cases))
	}
	return ref
}

// torchInterpreter builds c (with its backward graph when train) and sets
// every parameter to PyTorch's values, which must name exactly the model's
// parameters.
func torchInterpreter(t *testing.T, c bert.Config, params map[string][]float64, train bool) *runtime.Interpreter {
	t.Helper()
	g := build(t, c, train)
	if train {
		if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range g.Params() {
		names = append(names, p.Name)
		v, ok := params[p.Name]
		if !ok || len(v) != p.Type.Shape.Size() {
			t.Fatalf("parameter %s %s: torch has %d values", p.Name, p.Type, len(v))
		}
		copy(it.Var(p.Name).F64, v)
	}
	if len(names) != len(params) {
		t.Fatalf("the model has parameters %v, torch %d", names, len(params))
	}
	return it
}

// torchInputs are PyTorch's inputs as tensors; they must name exactly the
// model's inputs.
func torchInputs(t *testing.T, g *graph.Graph, inputs map[string][]float64) map[string]*runtime.Tensor {
	t.Helper()
	in := map[string]*runtime.Tensor{}
	for _, x := range g.Inputs() {
		v, ok := inputs[x.Name]
		if !ok || len(v) != x.Type.Shape.Size() {
			t.Fatalf("input %s %s: torch has %d values", x.Name, x.Type, len(v))
		}
		in[x.Name] = runtime.NewTensor(x.Type)
		for i, f := range v {
			in[x.Name].Set(i, f)
		}
	}
	if len(in) != len(inputs) {
		t.Fatalf("the model has %d inputs, torch %d", len(in), len(inputs))
	}
	return in
}

// TestMatchesTorch: with PyTorch's weights and batch, the interpreter's
// logits, loss and gradients of every parameter agree with PyTorch's to
// 1e-10, for BERT's form and for plain-encoder forms (eps, no embedding
// LayerNorm, a linear head, an attention_mask input).
func TestMatchesTorch(t *testing.T) {
	for _, tc := range loadTorchRef(t).Cases {
		t.Run(tc.Name, func(t *testing.T) {
			it := torchInterpreter(t, tc.config(), tc.Params, true)
			if err := it.Eval(torchInputs(t, it.G, tc.Inputs), false); err != nil {
				t.Fatal(err)
			}
			if !testutil.Close(it.Loss(), tc.Loss, 1e-10) {
				t.Errorf("loss %.17g, torch %.17g", it.Loss(), tc.Loss)
			}
			if d := testutil.CompareSlices(it.Output("logits").Float64s(), tc.Logits, 1e-10); d != "" {
				t.Errorf("logits: %s", d)
			}
			var names []string
			for _, p := range it.G.Params() {
				names = append(names, p.Name)
			}
			slices.Sort(names)
			for _, n := range names {
				if d := testutil.CompareSlices(it.Grad(n).Float64s(), tc.Grads[n], 1e-10); d != "" {
					t.Errorf("gradient of %s: %s", n, d)
				}
			}
		})
	}
}
