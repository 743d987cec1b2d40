package mechinterp

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

func TestDocWindows(t *testing.T) {
	cases := []struct {
		ntok, ctx, lead, perDoc int
		want                    []Window
	}{
		// Without lead the windows tile the document.
		{10, 4, 0, 0, []Window{{0, 0, 4, 0}, {0, 4, 4, 0}, {0, 8, 2, 0}}},
		// With lead 2 every window after the first starts 2 tokens early and
		// reads from there: the read parts 0-3, 4-5, 6-7, 8-9 tile it.
		{10, 4, 2, 0, []Window{{0, 0, 4, 0}, {0, 2, 4, 2}, {0, 4, 4, 2}, {0, 6, 4, 2}}},
		{3, 4, 2, 0, []Window{{0, 0, 3, 0}}},
		// perDoc keeps windows spread over the document.
		{40, 4, 0, 2, []Window{{0, 0, 4, 0}, {0, 20, 4, 0}}},
		// A lead of the whole context is cut to ctx-1, so windows still advance.
		{6, 3, 5, 0, []Window{{0, 0, 3, 0}, {0, 1, 3, 2}, {0, 2, 3, 2}, {0, 3, 3, 2}}},
	}
	for _, c := range cases {
		got := DocWindows(0, c.ntok, c.ctx, c.lead, c.perDoc)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("DocWindows(%d tokens, ctx %d, lead %d, %d per doc) = %v, want %v", c.ntok, c.ctx, c.lead, c.perDoc, got, c.want)
		}
		if c.perDoc == 0 { // the read parts cover every token once
			seen := make([]int, c.ntok)
			for _, w := range got {
				for p := w.From; p < w.N; p++ {
					seen[w.Start+p]++
				}
			}
			for i, n := range seen {
				if n != 1 {
					t.Errorf("ntok %d lead %d: token %d read %d times", c.ntok, c.lead, i, n)
				}
			}
		}
	}
}

func TestSelectWindows(t *testing.T) {
	var docs []*Doc
	for i := range 9 {
		docs = append(docs, &Doc{Name: fmt.Sprint(i), IDs: make([]int32, 10)})
	}
	docs[2].IDs = nil // empty documents are skipped
	s, err := SelectWindows(docs, 8, 0, 0, 35, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Docs 0, 1, 3, 4 are taken (40 tokens ≥ 35); the third taken (3) is held out.
	if len(s.Docs) != 4 || s.Docs[2].Name != "3" {
		t.Fatalf("took %d docs, third %q", len(s.Docs), s.Docs[2].Name)
	}
	td, hd, tt, ht := s.Counts()
	if td != 3 || hd != 1 || tt != 30 || ht != 10 {
		t.Errorf("counts %d %d %d %d, want 3 1 30 10", td, hd, tt, ht)
	}
	for _, w := range s.HeldOut {
		if w.Doc != 2 {
			t.Errorf("held-out window of doc %d", w.Doc)
		}
	}
	if _, err := SelectWindows(docs[:2], 8, 0, 0, 0, 3); err == nil || !strings.Contains(err.Error(), "need at least 3 documents") {
		t.Errorf("two docs, one in three held out: %v", err)
	}
}

func TestPickLayers(t *testing.T) {
	taps := []string{"h_in", "h0.out", "h1.out"}
	cases := []struct {
		spec string
		want []string
		err  string
	}{
		{"all", taps, ""},
		{"in", []string{"h_in"}, ""},
		{"1", []string{"h1.out"}, ""},
		{"1,in,1", []string{"h1.out", "h_in"}, ""},
		{"h0.out", []string{"h0.out"}, ""},
		{"2", nil, `-layer "2": the model has no layer "2" (layers: all, in, 0…1, or a tap: h_in, h0.out, h1.out)`},
		{"x", nil, `no layer "x"`},
	}
	for _, c := range cases {
		got, err := PickLayers(c.spec, taps)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v %v, want %v", c.spec, got, err, c.want)
		}
	}
}

// tinyLMConfig is a gpt small enough to train in a second on the
// interpreter.
const tinyLMConfig = "vocab=300,ctx=32,d=32,heads=2,layers=2,ffn=64,batch=8"

// TestLMPipeline trains the tiny model once on a small synthetic Go corpus
// and runs the collection, probe and SAE tests on it, on the interpreter
// (and, in the long tests, checks the generated code against it).
func TestLMPipeline(t *testing.T) {
	corpus := filepath.Join(t.TempDir(), "corpus")
	if err := testutil.WriteGoCorpus(corpus); err != nil {
		t.Fatal(err)
	}
	ckpt := trainTiny(t, "gpt", tinyLMConfig, corpus, 40)
	t.Run("CollectAlignment", func(t *testing.T) { testCollectAlignment(t, ckpt, corpus) })
	t.Run("EnginesAgree", func(t *testing.T) { testEnginesAgree(t, ckpt, corpus) })
	t.Run("ProbeSynthetic", func(t *testing.T) { testProbeSynthetic(t, ckpt, corpus) })
	t.Run("ProbeTask", func(t *testing.T) { testProbeTask(t, ckpt, corpus) })
	t.Run("SAE", func(t *testing.T) { testSAE(t, ckpt, corpus) })
}

// testCollectAlignment: the rows collected for the embedding tap are
// wte[token] + wpe[position in its window] of the checkpoint, for every
// token read, so windows, lead and batching put each row on its token.
func testCollectAlignment(t *testing.T, ckpt, corpus string) {
	lm, err := OpenLM(ckpt, "gpt")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lm.Taps, []string{"h_in", "h0.out", "h1.out"}) || lm.Ctx != 32 {
		t.Fatalf("taps %v, ctx %d", lm.Taps, lm.Ctx)
	}
	docs, err := lm.CorpusDocs(corpus, 600, 3, 8)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := SelectWindows(docs, lm.Ctx, 8, 3, 600, 4)
	if err != nil {
		t.Fatal(err)
	}
	ws := sel.All()
	batches := 0
	a, err := lm.Activations(sel.Docs, ws, []string{"h_in"}, EngineInterp, func(model string, done, total int) {
		if model == "gpt" {
			batches = done
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(ws) + 7) / 8; batches != want {
		t.Errorf("progress saw %d batches, want %d", batches, want)
	}
	_, _, tt, ht := sel.Counts()
	if len(a.Rows) != tt+ht || len(a.X["h_in"]) != len(a.Rows)*32 {
		t.Fatalf("%d rows, %d values; want %d rows of 32", len(a.Rows), len(a.X["h_in"]), tt+ht)
	}
	ck, err := safetensors.LoadCheckpoint(filepath.Join(ckpt, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	params := map[string][]float32{}
	for _, p := range ck.Params {
		params[p.Name] = p.F32
	}
	wte, wpe := params["wte"], params["wpe"]
	i := 0
	for _, w := range ws {
		for p := w.From; p < w.N; p++ {
			id := sel.Docs[w.Doc].IDs[w.Start+p]
			if a.Rows[i] != (TokRef{int32(w.Doc), int32(w.Start + p)}) {
				t.Fatalf("row %d is %v, want doc %d token %d", i, a.Rows[i], w.Doc, w.Start+p)
			}
			for j, v := range a.Row("h_in", i) {
				if want := wte[int(id)*32+j] + wpe[p*32+j]; v != want {
					t.Fatalf("row %d (doc %d, token %d at position %d): h_in[%d] = %v, want wte+wpe = %v", i, w.Doc, w.Start+p, p, j, v, want)
				}
			}
			i++
		}
	}
	// Collect takes any Predictor: one that answers with a tap of the wrong
	// shape is an error naming it.
	wrong := PredictorFunc(func(data.Batch) (*Prediction, error) {
		return &Prediction{Taps: map[string]runtime.JSONTensor{"h_in": {Shape: []int{8, 32}, Data: make([]runtime.JSONFloat, 8*32)}}}, nil
	})
	prog, err := lm.Model.Compile(compile.Options{Taps: []string{"h_in"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Collect(wrong, prog.Program, sel.Docs, ws, []string{"h_in"}, nil); err == nil || !strings.Contains(err.Error(), `tap "h_in" has shape [8 32]; want [8, 32, d]`) {
		t.Errorf("a tap of the wrong shape: %v", err)
	}
	// A window that does not fit its document is an error, not a panic.
	bad := []Window{{Doc: 0, Start: len(sel.Docs[0].IDs), N: 4}}
	if _, err := lm.Activations(sel.Docs, bad, []string{"h_in"}, EngineInterp, nil); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("a window past its document: %v", err)
	}
}

// testEnginesAgree: the generated code and the interpreter collect the
// same activations of the last layer.
func testEnginesAgree(t *testing.T, ckpt, corpus string) {
	testutil.Long(t, "builds the generated runner")
	lm, err := OpenLM(ckpt, "")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := lm.CorpusDocs(corpus, 300, 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := SelectWindows(docs, lm.Ctx, 8, 2, 300, 4)
	if err != nil {
		t.Fatal(err)
	}
	var got [2]*Activations
	for i, e := range []Engine{EngineGen, EngineInterp} {
		if got[i], err = lm.Activations(sel.Docs, sel.All(), []string{"h1.out"}, e, nil); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
	}
	g, in := got[0].X["h1.out"], got[1].X["h1.out"]
	if len(g) != len(in) || len(g) == 0 || !reflect.DeepEqual(got[0].Rows, got[1].Rows) {
		t.Fatalf("gen %d values, interp %d", len(g), len(in))
	}
	for i := range g {
		if d := math.Abs(float64(g[i] - in[i])); d > 1e-4*(1+math.Abs(float64(in[i]))) {
			t.Fatalf("value %d: gen %v, interp %v", i, g[i], in[i])
		}
	}
}

// testProbeSynthetic: on an easy labelling, "the token starts with a
// lowercase letter" (a property of the token alone, so the embeddings hold
// it), the probes read the tokens selected and beat the majority class by
// a wide margin at every layer.
func testProbeSynthetic(t *testing.T, ckpt, corpus string) {
	lm, err := OpenLM(ckpt, "")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := lm.CorpusDocs(corpus, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		for i := range d.IDs {
			s := strings.TrimLeft(string(d.Text[d.Off[i]:d.Off[i+1]]), " \t\n")
			d.Labels = append(d.Labels, s != "" && 'a' <= s[0] && s[0] <= 'z')
		}
	}
	sel, err := SelectWindows(docs, lm.Ctx, lm.Ctx/2, 0, 6000, ProbeHoldOut)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	rep, err := lm.Probes(sel, ProbeOptions{Layers: lm.Taps, Engine: EngineInterp, Labels: "letters",
		Log: func(format string, args ...any) { fmt.Fprintf(&logged, format, args...) }})
	if err != nil {
		t.Fatal(err)
	}
	td, hd, tt, ht := sel.Counts()
	if rep.TrainTokens != tt || rep.HeldOutTokens != ht || rep.TrainDocs != td || rep.HeldOutDocs != hd || hd != len(sel.Docs)/ProbeHoldOut || tt+ht < 6000 {
		t.Errorf("report %d+%d tokens from %d+%d docs; the selection has %d+%d from %d+%d of %d docs",
			rep.TrainTokens, rep.HeldOutTokens, rep.TrainDocs, rep.HeldOutDocs, tt, ht, td, hd, len(sel.Docs))
	}
	if !strings.Contains(logged.String(), "collected ") || !strings.Contains(logged.String(), "trained 3 probes") {
		t.Errorf("log: %q", logged.String())
	}
	if len(rep.Layers) != 3 {
		t.Fatalf("%d layers, want 3 (h_in, h0.out, h1.out)", len(rep.Layers))
	}
	for _, l := range rep.Layers {
		if !(l.Baseline > 0.5 && l.Baseline < 0.9) {
			t.Errorf("%s: baseline %.3f: the labelling is not balanced as intended", l.Layer, l.Baseline)
		}
		if l.Accuracy < l.Baseline+0.1 || l.Loss > l.BaselineLoss/2 || l.F1 < 0.7 {
			t.Errorf("%s: accuracy %.3f (baseline %.3f), loss %.3f (baseline %.3f), F1 %.3f: the probe does not read an easy label",
				l.Layer, l.Accuracy, l.Baseline, l.Loss, l.BaselineLoss, l.F1)
		}
	}
	// Unlabelled documents and a missing layer are errors.
	for _, d := range sel.Docs {
		d.Labels = nil
	}
	if _, err := lm.Probes(sel, ProbeOptions{Layers: lm.Taps, Engine: EngineInterp}); err == nil || !strings.Contains(err.Error(), "labels for") {
		t.Errorf("unlabelled: %v", err)
	}
	if _, err := lm.Probes(sel, ProbeOptions{Engine: EngineInterp}); err == nil || !strings.Contains(err.Error(), "no layers") {
		t.Errorf("no layers: %v", err)
	}
}

// testProbeTask: a built-in task's labels, written as a labels file and
// read back, give the same probes.
func testProbeTask(t *testing.T, ckpt, corpus string) {
	lm, err := OpenLM(ckpt, "")
	if err != nil {
		t.Fatal(err)
	}
	lead := lm.Ctx / 2
	docs, err := lm.TaskDocs("string", corpus, 2000, ProbeWindows, lead)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := SelectWindows(docs, lm.Ctx, lead, ProbeWindows, 2000, ProbeHoldOut)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "string.labels")
	if err := SaveLabels(path, "task string", sel.Docs, lm.Pieces); err != nil {
		t.Fatal(err)
	}
	fromFile, err := ReadLabels(path, lm.Tokenizer, lm.Pieces)
	if err != nil {
		t.Fatal(err)
	}
	sel2, err := SelectWindows(fromFile, lm.Ctx, lead, ProbeWindows, 2000, ProbeHoldOut)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := PickLayers("in,1", lm.Taps)
	if err != nil {
		t.Fatal(err)
	}
	var reps [2]*ProbeReport
	for i, s := range []*Selection{sel, sel2} {
		if reps[i], err = lm.Probes(s, ProbeOptions{Layers: layers, Engine: EngineInterp}); err != nil {
			t.Fatal(err)
		}
		reps[i].Layers[0].Predict, reps[i].Layers[1].Predict = nil, nil
	}
	if reps[0].TrainTokens < 1000 || reps[0].HeldOutTokens < 300 {
		t.Errorf("read %d + %d tokens for a budget of 2000", reps[0].TrainTokens, reps[0].HeldOutTokens)
	}
	if !(reps[0].TrainPositive > 0.05 && reps[0].TrainPositive < 0.5) {
		t.Errorf("%.3f of the tokens inside strings", reps[0].TrainPositive)
	}
	if !reflect.DeepEqual(reps[0], reps[1]) {
		t.Errorf("the task and its labels file differ:\n%+v\n%+v", reps[0], reps[1])
	}
	if len(reps[0].Layers) != 2 || reps[0].Layers[0].Layer != "h_in" || reps[0].Layers[1].Layer != "h1.out" {
		t.Errorf("layers %+v", reps[0].Layers)
	}
	if _, err := lm.TaskDocs("comment", corpus, 2000, 1, 1); err == nil || !strings.Contains(err.Error(), `-task must be string or ident, got "comment"`) {
		t.Errorf("unknown task: %v", err)
	}
}

// testSAE trains a small SAE on the tiny model's last layer, checks its
// metrics and checkpoint, and reads features back with SAETop: the
// held-out tokens it searches are the ones the metrics were measured on,
// and a feature's contexts come largest first.
func testSAE(t *testing.T, ckpt, corpus string) {
	lm, err := OpenLM(ckpt, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "sae")
	m, err := lm.TrainSAE(dir, SAEOptions{Layer: "h1.out", Features: 24, Steps: 60, Batch: 32, LR: 0.01,
		Read: SAERead{Tokens: 3000, Windows: ProbeWindows, Lead: 16}, Data: corpus, Engine: EngineInterp})
	if err != nil {
		t.Fatal(err)
	}
	if m.Features != 24 || m.Tokens < 400 || m.Dead < 0 || m.Dead > 24 || m.DeadFraction != float64(m.Dead)/24 ||
		!(m.L0 > 0 && m.L0 <= 24) || !(m.MSE > 0) || !(m.FVE > 0.2 && m.FVE < 1) {
		t.Errorf("metrics %+v", m)
	}
	ck, err := safetensors.LoadCheckpoint(filepath.Join(dir, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Model != "sae" || !strings.HasPrefix(ck.Config, "d=32,features=24,") || ck.Metadata[saeKeyLayer] != "h1.out" || ck.Metadata[saeKeyLM] == "" {
		t.Errorf("checkpoint %s %s %v", ck.Model, ck.Config, ck.Metadata)
	}
	if b, err := os.ReadFile(filepath.Join(dir, train.CSVFile)); err != nil || strings.Count(string(b), "\n") != 61 {
		t.Errorf("loss.csv: %v, %d lines, want a header and 60 steps", err, strings.Count(string(b), "\n"))
	}
	live := false
	for f := 0; f < 24 && !live; f++ {
		rep, err := SAETop(dir, f, 3, EngineInterp, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tokens != m.Tokens || rep.Layer != "h1.out" || rep.Active > rep.Tokens {
			t.Fatalf("top %d searched %d tokens of %s (%d active); the metrics measured %d", f, rep.Tokens, rep.Layer, rep.Active, m.Tokens)
		}
		if rep.Active == 0 {
			if len(rep.Examples) != 0 {
				t.Errorf("top %d: a dead feature with examples %+v", f, rep.Examples)
			}
			continue
		}
		live = true
		if len(rep.Examples) != min(3, rep.Active) || rep.Max != rep.Examples[0].Activation {
			t.Errorf("top %d: %d examples of %d active, max %v: %+v", f, len(rep.Examples), rep.Active, rep.Max, rep.Examples)
		}
		for i, ex := range rep.Examples {
			if i > 0 && ex.Activation > rep.Examples[i-1].Activation {
				t.Errorf("top %d: examples out of order: %+v", f, rep.Examples)
			}
			tok := strings.NewReplacer("\n", "⏎", "\t", " ").Replace(ex.Token)
			if !(ex.Activation > 0) || !strings.Contains(ex.Context, "⟦"+tok+"⟧") || !strings.HasPrefix(ex.Doc, "f") || ex.Line < 1 {
				t.Errorf("top %d: example %+v", f, ex)
			}
		}
	}
	if !live {
		t.Error("no live feature among the 24")
	}
	for _, c := range []struct {
		run  func() error
		want string
	}{
		{func() error { _, err := SAETop(dir, 24, 3, EngineInterp, nil); return err }, "-top 24: the SAE has features 0…23"},
		{func() error { _, err := SAETop(dir, -1, 3, EngineInterp, nil); return err }, "-top -1: the SAE has features 0…23"},
		{func() error { _, err := SAETop(ckpt, 1, 3, EngineInterp, nil); return err }, "not an SAE written by mlc sae -o"},
		{func() error { _, err := lm.TrainSAE(dir, SAEOptions{Layer: "h5.out"}); return err }, `the model has no layer "h5.out"`},
		{func() error { _, err := lm.TrainSAE(dir, SAEOptions{Layer: "h1.out", Lambda: -1}); return err }, "-lambda must be >= 0"},
	} {
		if err := c.run(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}
