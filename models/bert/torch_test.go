package bert_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models/bert"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// torchRef is testdata/torch_ref.json, written by testdata/torch_ref.py: an
// independent PyTorch implementation of the model, in float64.
type torchRef struct {
	Generator string `json:"generator"`
	Cases     []struct {
		Name   string `json:"name"`
		Config struct {
			Vocab, Ctx, D, Heads, Layers, FFN, Pad, Batch int
			Norm, Act, EmbNorm, Head, Mask                string
			Eps                                           float64
		} `json:"config"`
		Params map[string][]float64 `json:"params"`
		Inputs map[string][]float64 `json:"inputs"`
		Logits []float64            `json:"logits"`
		Loss   float64              `json:"loss"`
		Grads  map[string][]float64 `json:"grads"`
	} `json:"cases"`
}

// TestMatchesTorch: with PyTorch's weights and batch, the interpreter's
// logits, loss and gradients of every parameter agree with PyTorch's to
// 1e-10, for BERT's form and for plain-encoder forms (eps, no embedding
// LayerNorm, a linear head, an attention_mask input).
func TestMatchesTorch(t *testing.T) {
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
	for _, tc := range ref.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			k := tc.Config
			c := bert.Config{Vocab: k.Vocab, Ctx: k.Ctx, D: k.D, Heads: k.Heads, Layers: k.Layers, FFN: k.FFN,
				Norm: k.Norm, Act: k.Act, Eps: k.Eps, EmbNorm: k.EmbNorm, Head: k.Head, Pad: k.Pad, Mask: k.Mask, Batch: k.Batch}
			g := build(t, c, true)
			if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
				t.Fatal(err)
			}
			it, err := runtime.NewInterpreter(g, runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range g.Params() {
				names = append(names, p.Name)
				v, ok := tc.Params[p.Name]
				if !ok || len(v) != p.Type.Shape.Size() {
					t.Fatalf("parameter %s %s: torch has %d values", p.Name, p.Type, len(v))
				}
				copy(it.Var(p.Name).F64, v)
			}
			if len(names) != len(tc.Params) {
				t.Fatalf("the model has parameters %v, torch %d", names, len(tc.Params))
			}
			in := map[string]*runtime.Tensor{}
			for _, x := range g.Inputs() {
				v, ok := tc.Inputs[x.Name]
				if !ok || len(v) != x.Type.Shape.Size() {
					t.Fatalf("input %s %s: torch has %d values", x.Name, x.Type, len(v))
				}
				in[x.Name] = runtime.NewTensor(x.Type)
				for i, f := range v {
					in[x.Name].Set(i, f)
				}
			}
			if len(in) != len(tc.Inputs) {
				t.Fatalf("the model has %d inputs, torch %d", len(in), len(tc.Inputs))
			}
			if err := it.Eval(in, false); err != nil {
				t.Fatal(err)
			}
			if !testutil.Close(it.Loss(), tc.Loss, 1e-10) {
				t.Errorf("loss %.17g, torch %.17g", it.Loss(), tc.Loss)
			}
			if d := testutil.CompareSlices(it.Output("logits").Float64s(), tc.Logits, 1e-10); d != "" {
				t.Errorf("logits: %s", d)
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
