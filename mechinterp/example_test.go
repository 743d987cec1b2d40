package mechinterp_test

import (
	"fmt"
	"log"
	"math/rand/v2"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/mechinterp"
	"github.com/mlc-dev/mlc/runtime"
)

// The attention maps of a small gpt from the zoo, with its initial
// weights, on a sequence of four tokens, on the interpreter. Any model
// source works the same way (a Go package path, an ONNX file): compile it
// with its attention taps kept, run Predict and cut the maps out of the
// taps.
func ExampleAttentionMaps() {
	m, err := mechinterp.LoadModel("gpt", "vocab=16,ctx=4,d=8,heads=2,layers=1,ffn=0,batch=1", "")
	if err != nil {
		log.Fatal(err)
	}
	taps := mechinterp.AttentionTaps(m.Forward())
	res, err := m.Compile(compile.Options{Taps: []string{taps[0].Name}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := mechinterp.NewPredictor(res.Program, nil, mechinterp.EngineInterp)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ids := runtime.JSONTensor{Shape: []int{1, 4}, Data: []runtime.JSONFloat{3, 1, 4, 1}}
	out, err := p.Predict(data.Batch{"ids": ids})
	if err != nil {
		log.Fatal(err)
	}
	maps, err := mechinterp.AttentionMaps(out.Taps[taps[0].Name], []int{0, 1}, 4)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(taps), "layer;", taps[0].Name, "has", mechinterp.AttentionHeads(taps[0]), "heads")
	for h, m := range maps {
		fmt.Printf("head %d:\n", h)
		for _, row := range m {
			fmt.Printf("%.2f\n", row)
		}
	}
	// Output:
	// 1 layer; h0.attn.weights has 2 heads
	// head 0:
	// [1.00 0.00 0.00 0.00]
	// [0.50 0.50 0.00 0.00]
	// [0.33 0.33 0.33 0.00]
	// [0.25 0.25 0.25 0.25]
	// head 1:
	// [1.00 0.00 0.00 0.00]
	// [0.50 0.50 0.00 0.00]
	// [0.33 0.33 0.33 0.00]
	// [0.25 0.25 0.25 0.25]
}

// A linear probe on activations a caller already has: here 200 rows of
// width 4 whose label is the sign of their first feature, 150 to train on
// and 50 held out, trained on the interpreter.
func ExampleProber() {
	r := rand.New(rand.NewPCG(1, 2))
	const rows, train, d = 200, 150, 4
	x := make([]float32, rows*d)
	y := make([]bool, rows)
	for i := range rows {
		for j := range d {
			x[i*d+j] = float32(r.NormFloat64())
		}
		y[i] = x[i*d] > 0
	}
	p, err := mechinterp.NewProber(train, d, 200, 0.05, mechinterp.EngineInterp)
	if err != nil {
		log.Fatal(err)
	}
	res, err := p.Probe(x, y, train, d)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("held-out accuracy %.2f, above the majority-class baseline: %v\n", res.Accuracy, res.Accuracy > res.Baseline)
	// Output:
	// held-out accuracy 0.96, above the majority-class baseline: true
}

// Probes on a language model trained with mlc train (its checkpoint
// directory): which layers hold "this token is inside a string literal"
// in a linearly readable form.
func ExampleLM_Probes() {
	lm, err := mechinterp.OpenLM("ckpt", "")
	if err != nil {
		log.Fatal(err)
	}
	lead := lm.Ctx / 2
	docs, err := lm.TaskDocs("string", "", mechinterp.ProbeTokens, mechinterp.ProbeWindows, lead)
	if err != nil {
		log.Fatal(err)
	}
	sel, err := mechinterp.SelectWindows(docs, lm.Ctx, lead, mechinterp.ProbeWindows, mechinterp.ProbeTokens, mechinterp.ProbeHoldOut)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := lm.Probes(sel, mechinterp.ProbeOptions{Layers: lm.Taps, Engine: mechinterp.EngineGen})
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range rep.Layers {
		fmt.Printf("%-8s accuracy %.4f (baseline %.4f)\n", l.Layer, l.Accuracy, l.Baseline)
	}
}

// A probe on a small model's activations, end to end without a checkpoint:
// a gpt from the zoo with its initial weights reads documents of token ids,
// Collect gathers its embeddings (the tap h_in) per token, and a probe
// learns from them whether a token's id is even. The embedding of a token
// is a row of its own, so a linear probe reads that well above chance.
func ExampleCollect() {
	m, err := mechinterp.LoadModel("gpt", "vocab=16,ctx=8,d=16,heads=2,layers=1,ffn=0,batch=4", "")
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Compile(compile.Options{Taps: []string{"h_in"}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := mechinterp.NewPredictor(res.Program, nil, mechinterp.EngineInterp)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	r := rand.New(rand.NewPCG(3, 4))
	var docs []*mechinterp.Doc
	for i := range 40 {
		d := &mechinterp.Doc{Name: fmt.Sprint("doc", i)}
		for range 24 {
			id := r.Int32N(16)
			d.IDs = append(d.IDs, id)
			d.Labels = append(d.Labels, id%2 == 0)
		}
		docs = append(docs, d)
	}
	sel, err := mechinterp.SelectWindows(docs, 8, 0, 0, 0, 4)
	if err != nil {
		log.Fatal(err)
	}
	a, err := mechinterp.Collect(p, res.Program, sel.Docs, sel.All(), []string{"h_in"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	y := make([]bool, len(a.Rows))
	for i, ref := range a.Rows {
		y[i] = sel.Docs[ref.Doc].Labels[ref.Tok]
	}
	_, _, nTrain, nHeld := sel.Counts()
	fmt.Printf("%d training rows and %d held out, %d wide\n", nTrain, nHeld, a.D)
	pr, err := mechinterp.NewProber(nTrain, a.D, 300, 0.05, mechinterp.EngineInterp)
	if err != nil {
		log.Fatal(err)
	}
	probe, err := pr.Probe(a.X["h_in"], y, nTrain, a.D)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("held-out accuracy %.2f, majority class %.2f\n", probe.Accuracy, probe.Baseline)
	// Output:
	// 720 training rows and 240 held out, 16 wide
	// held-out accuracy 0.97, majority class 0.53
}
