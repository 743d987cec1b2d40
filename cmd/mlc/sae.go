package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/models/sae"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

// mlc sae: a sparse autoencoder (the zoo's sae model) trained through its
// generated code on one layer's residual stream of a trained language
// model, its dictionary's health measured on held-out files, and the
// contexts that activate a feature most. See docs/sae.md.

func init() {
	register(verb{
		name:  "sae",
		usage: "mlc sae -ckpt DIR -layer L [-model M] [-features M] [-lambda λ] [-steps N] [-batch B] [-lr R] [-tokens N] [-data PATH] [-seed S] -o DIR2 [-json] | mlc sae -ckpt DIR2 -top FEATURE [-k K] [-json]",
		doc:   "train a sparse autoencoder on a language model's activations, or show the contexts that activate one of its features most",
		run:   cmdSAE,
	})
}

// SAE defaults. Collecting activations is the slow part (the language
// model runs over every token), so the token budget is moderate; the
// steps make about ten passes over it.
const (
	saeTokens  = 32768
	saeHoldOut = 5 // every 5th document is held out
	saeSteps   = 1500
	saeLR      = 1e-3
	saeLog     = 100 // steps between log lines
)

// The SAE checkpoint's own metadata: where its activations came from, so
// that -top can read the same held-out tokens again.
const (
	saeKeyLM      = "sae.lm"      // the language model's checkpoint directory
	saeKeyLayer   = "sae.layer"   // the tap
	saeKeyScale   = "sae.scale"   // activations are multiplied by this before the SAE
	saeKeyData    = "sae.data"    // -data ("" for the default corpus)
	saeKeyRead    = "sae.read"    // tokens, windows and lead of the selection, as JSON
	saeKeyMetrics = "sae.metrics" // the held-out metrics, as JSON
)

// saeRead is how the tokens were chosen.
type saeRead struct {
	Tokens  int `json:"tokens"`
	Windows int `json:"windows"`
	Lead    int `json:"lead"`
}

// saeMetrics describe a dictionary on held-out activations.
type saeMetrics struct {
	Tokens       int     `json:"tokens"`
	Features     int     `json:"features"`
	Dead         int     `json:"dead"`          // features never active on the held-out tokens
	DeadFraction float64 `json:"dead_fraction"` // Dead / Features
	L0           float64 `json:"l0"`            // mean number of active features per token
	L1           float64 `json:"l1"`            // mean Σ_i h_i per token
	MSE          float64 `json:"mse"`           // mean (x̂ − x)² per element, in the scaled units
	FVE          float64 `json:"fve"`           // fraction of variance explained: 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖²
}

// saeStats accumulates saeMetrics over rows of codes, inputs and
// reconstructions.
type saeStats struct {
	fired            []bool
	rows, active     int
	l1, sqErr, sumSq float64
	sum              []float64
}

func newSAEStats(features, d int) *saeStats {
	return &saeStats{fired: make([]bool, features), sum: make([]float64, d)}
}

func (s *saeStats) add(codes, x, xhat []float64) {
	s.rows++
	for i, h := range codes {
		if h > 0 {
			s.active++
			s.fired[i] = true
		}
		s.l1 += math.Abs(h)
	}
	for j := range x {
		e := xhat[j] - x[j]
		s.sqErr += e * e
		s.sum[j] += x[j]
		s.sumSq += x[j] * x[j]
	}
}

func (s *saeStats) metrics() saeMetrics {
	m := saeMetrics{Tokens: s.rows, Features: len(s.fired)}
	for _, f := range s.fired {
		if !f {
			m.Dead++
		}
	}
	m.DeadFraction = float64(m.Dead) / float64(max(len(s.fired), 1))
	if s.rows == 0 {
		return m
	}
	n := float64(s.rows)
	m.L0, m.L1 = float64(s.active)/n, s.l1/n
	m.MSE = s.sqErr / (n * float64(len(s.sum)))
	sst := s.sumSq // Σ‖x − x̄‖² = Σ‖x‖² − n‖x̄‖²
	for _, v := range s.sum {
		sst -= v * v / n
	}
	if sst > 0 {
		m.FVE = 1 - s.sqErr/sst
	}
	return m
}

func cmdSAE(c *cli, args []string) error {
	fs := c.flags("sae")
	model := fs.String("model", "", "language model name (default: the checkpoint's)")
	ckpt := fs.String("ckpt", "", "training: the language model's checkpoint directory; -top: the SAE's (-o of the training run)")
	layer := fs.String("layer", "", "layer whose residual stream to encode: in (the embeddings), a block number L (its output) or a tap name")
	features := fs.Int("features", 0, "dictionary size m (default: 4 × the model's width)")
	lambda := fs.Float64("lambda", sae.DefaultConfig().Lambda, "strength λ of the L1 penalty")
	steps := fs.Int("steps", saeSteps, "training steps")
	batch := fs.Int("batch", sae.DefaultConfig().Batch, "activations per step")
	lr := fs.Float64("lr", saeLR, "Adam's learning rate")
	tokens := fs.Int("tokens", saeTokens, "tokens to read, training and held-out together (0: every document)")
	windows := fs.Int("windows", probeWindows, "windows of the model's context to read from each document (0: all)")
	lead := fs.Int("lead", -1, "tokens of context before the first token read of a window (default: half the context)")
	data := fs.String("data", "", "text, a file or a directory (default: the Go standard library's source)")
	seed := fs.Uint64("seed", 0, "seed of the initialisation and the batch order")
	out := fs.String("o", "", "directory to write the SAE's checkpoint, loss.csv and loss.png to")
	top := fs.Int("top", -1, "show the held-out contexts that activate this feature most (with -ckpt of an SAE)")
	k := fs.Int("k", 10, "contexts to show with -top")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *top >= 0 {
		if *out != "" || *layer != "" {
			return fmt.Errorf("-top reads a trained SAE: give -ckpt of its directory, without -o or -layer")
		}
		if *k <= 0 {
			return fmt.Errorf("-k must be positive, got %d", *k)
		}
		return saeTop(c, *ckpt, *top, *k, *asJSON)
	}
	switch {
	case *out == "":
		return fmt.Errorf("give -o DIR to train an SAE, or -top FEATURE to read one")
	case *layer == "":
		return fmt.Errorf("-layer is required: in, a block number or a tap name")
	case *features < 0 || *steps <= 0 || *batch <= 0 || !(*lr > 0) || *tokens < 0 || *windows < 0:
		return fmt.Errorf("-features, -tokens and -windows must be >= 0; -steps, -batch and -lr positive")
	case !(*lambda >= 0):
		return fmt.Errorf("-lambda must be >= 0, got %v", *lambda)
	}
	info, err := inspectCheckpoint(*ckpt, *model)
	if err != nil {
		return err
	}
	taps, err := pickLayers(*layer, info.taps)
	if err != nil {
		return err
	}
	if len(taps) != 1 {
		return fmt.Errorf("-layer %q names %d layers; an SAE encodes one", *layer, len(taps))
	}
	if *lead < 0 {
		*lead = info.ctx / 2
	}
	read := saeRead{Tokens: *tokens, Windows: *windows, Lead: *lead}
	start := time.Now()
	act, sel, err := saeActivations(c, *ckpt, *model, info, taps[0], *data, read, true)
	if err != nil {
		return err
	}
	trainDocs, heldDocs, nTrain, nHeld := sel.counts()
	fmt.Fprintf(c.stderr, "collected %d tokens of %s in %s\n", len(act.rows), taps[0], time.Since(start).Round(time.Millisecond))
	d := act.d
	if *features == 0 {
		*features = 4 * d
	}
	x := act.x[taps[0]]
	// Scale the activations to a mean squared norm of d (mean square 1 per
	// element), so that λ and the learning rate mean the same at every layer
	// of every model; the scale is saved and applied again by -top.
	ss := 0.0
	for _, v := range x[:nTrain*d] {
		ss += float64(v) * float64(v)
	}
	scale := math.Sqrt(float64(d) * float64(nTrain) / ss)
	if ss == 0 || math.IsInf(scale, 0) || math.IsNaN(scale) {
		return fmt.Errorf("the activations of %s are all zero", taps[0])
	}
	for i := range x {
		x[i] *= float32(scale)
	}

	cfg := fmt.Sprintf("d=%d,features=%d,lambda=%s,batch=%d", d, *features, strconv.FormatFloat(*lambda, 'g', -1, 64), *batch)
	opt, err := passes.OptimizerConfig{Kind: "adam", LR: *lr}.Defaults()
	if err != nil {
		return err
	}
	res, err := compile.Zoo("sae", cfg, compile.Options{Float: graph.F32, Optimizer: opt})
	if err != nil {
		return err
	}
	srv, err := startCompiled(res, *seed)
	if err != nil {
		return err
	}
	defer srv.Close()
	// b_dec starts at the mean activation, so the codes start by explaining
	// the variation around it rather than the offset.
	mean := make([]runtime.JSONFloat, d)
	for i := range nTrain {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += runtime.JSONFloat(v) / runtime.JSONFloat(nTrain)
		}
	}
	if _, err := srv.Do(compile.RunRequest{Cmd: "set", Params: map[string]runtime.JSONTensor{"b_dec": {Shape: []int{d}, Data: mean}}}); err != nil {
		return err
	}

	fmt.Fprintf(c.stderr, "training an SAE (%s) on %s of %s: %d tokens from %d files; %d held-out tokens from %d other files\n",
		cfg, taps[0], *ckpt, nTrain, trainDocs, nHeld, heldDocs)
	start = time.Now()
	r := rand.New(rand.NewPCG(*seed, 0x5ae))
	order := r.Perm(nTrain)
	next := 0
	losses := make([]float64, 0, *steps)
	xb := runtime.JSONTensor{Shape: []int{*batch, d}, Data: make([]runtime.JSONFloat, *batch*d)}
	for step := range *steps {
		for b := range *batch {
			if next == nTrain { // a new pass over the data, in a new order
				r.Shuffle(nTrain, func(i, j int) { order[i], order[j] = order[j], order[i] })
				next = 0
			}
			row := order[next]
			next++
			for j, v := range x[row*d : (row+1)*d] {
				xb.Data[b*d+j] = runtime.JSONFloat(v)
			}
		}
		out, err := srv.Do(compile.RunRequest{Cmd: "step", Inputs: map[string]runtime.JSONTensor{"x": xb}})
		if err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		l := float64(out.Losses[0])
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("step %d: the loss is %v; try a smaller -lr", step, l)
		}
		losses = append(losses, l)
		if step%saeLog == 0 || step == *steps-1 {
			fmt.Fprintf(c.stderr, "step %6d  loss %.6f\n", step, l)
		}
	}
	fmt.Fprintf(c.stderr, "trained %d steps in %s\n", *steps, time.Since(start).Round(time.Millisecond))

	st := newSAEStats(*features, d)
	err = saeEncode(srv, x[nTrain*d:], d, *batch, func(_ int, codes, xr, xhat []float64) { st.add(codes, xr, xhat) })
	if err != nil {
		return err
	}
	m := st.metrics()
	readJSON, err1 := jsonString(read)
	metricsJSON, err2 := jsonString(m)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("the held-out metrics: %w", err)
	}
	if err := saveSAE(*out, srv, res.Program, *steps, losses, map[string]string{
		saeKeyLM: absPath(*ckpt), saeKeyLayer: taps[0], saeKeyScale: strconv.FormatFloat(scale, 'g', -1, 64),
		saeKeyData: *data, saeKeyRead: readJSON, saeKeyMetrics: metricsJSON,
	}); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	fmt.Fprintf(c.stdout, "held out (%d tokens): dead features %d of %d (%.1f%%), mean L0 %.2f, mean L1 %.3f, reconstruction MSE %.5f, variance explained %.3f\n",
		m.Tokens, m.Dead, m.Features, 100*m.DeadFraction, m.L0, m.L1, m.MSE, m.FVE)
	fmt.Fprintf(c.stdout, "saved %s\n", filepath.Join(*out, ckptFile))
	return nil
}

// saeActivations reads the tokens an SAE trains and is measured on (all of
// them, or only the held-out ones) and returns their activations at tap,
// the training rows first.
func saeActivations(c *cli, lm, model string, info *ckptInfo, tap, data string, read saeRead, withTrain bool) (*actRows, *tokSelection, error) {
	docs, err := corpusLMDocs(data, info, read.Tokens, read.Windows, read.Lead)
	if err != nil {
		return nil, nil, err
	}
	sel, err := selectWindows(docs, info.ctx, read.Lead, read.Windows, read.Tokens, saeHoldOut)
	if err != nil {
		return nil, nil, err
	}
	t, err := loadTrained(lm, trainedOptions{model: model, taps: []string{tap}})
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	ws := sel.heldOut
	if withTrain {
		ws = append(append([]tokWindow{}, sel.train...), sel.heldOut...)
	}
	a, err := collectActs(c, t, sel.docs, ws, []string{tap})
	return a, sel, err
}

// saeEncode runs the SAE's Predict over rows of x ([n, d]) a batch at a
// time (the last batch padded with zero rows, which are not reported) and
// hands each row's codes, input and reconstruction to fn.
func saeEncode(srv *compile.Server, x []float32, d, batch int, fn func(row int, codes, x, xhat []float64)) error {
	n := len(x) / d
	xb := runtime.JSONTensor{Shape: []int{batch, d}, Data: make([]runtime.JSONFloat, batch*d)}
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		clear(xb.Data)
		for i, v := range x[lo*d : hi*d] {
			xb.Data[i] = runtime.JSONFloat(v)
		}
		res, err := srv.Do(compile.RunRequest{Cmd: "predict", Inputs: map[string]runtime.JSONTensor{"x": xb}})
		if err != nil {
			return err
		}
		codes, recon := res.Outputs["codes"], res.Outputs["recon"]
		if len(codes.Shape) != 2 || codes.Shape[0] != batch || len(recon.Data) != batch*d {
			return fmt.Errorf("the SAE returned codes %v and a reconstruction of %d values for a batch of %d", codes.Shape, len(recon.Data), batch)
		}
		m := codes.Shape[1]
		for i := range hi - lo {
			fn(lo+i, f64s(codes.Data[i*m:(i+1)*m]), f64s(xb.Data[i*d:(i+1)*d]), f64s(recon.Data[i*d:(i+1)*d]))
		}
	}
	return nil
}

func f64s(xs []runtime.JSONFloat) []float64 {
	out := make([]float64, len(xs))
	for i, v := range xs {
		out[i] = float64(v)
	}
	return out
}

// saveSAE writes the SAE's parameters as an mlc checkpoint of model sae
// (mlc run -model sae -params reads it) with its provenance, and the loss
// curve.
func saveSAE(dir string, srv *compile.Server, prog *graph.Program, steps int, losses []float64, meta map[string]string) error {
	res, err := srv.Do(compile.RunRequest{Cmd: "get"})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ck := &safetensors.Checkpoint{
		Model: "sae", Config: prog.Config, DType: prog.Float.String(), Version: compile.Version,
		Step: int64(steps), Params: train.ToSafetensors(res.Params, prog.Float), Metadata: meta,
	}
	if err := safetensors.SaveCheckpoint(filepath.Join(dir, ckptFile), ck); err != nil {
		return err
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"step", "loss", "val_loss"})
	for i, l := range losses {
		_ = w.Write([]string{strconv.Itoa(i), strconv.FormatFloat(l, 'g', -1, 64), ""})
	}
	w.Flush()
	csvPath := filepath.Join(dir, csvFile)
	if err := compile.WriteFileAtomic(csvPath, []byte(b.String())); err != nil {
		return err
	}
	return train.PlotCurve(csvPath, filepath.Join(dir, pngFile), "sae")
}

// saeExample is one context of a feature.
type saeExample struct {
	Activation float64 `json:"activation"`
	Doc        string  `json:"doc"`
	Line       int     `json:"line"`
	Token      string  `json:"token"`
	Context    string  `json:"context"` // text around the token, which is marked ⟦…⟧
}

type saeTopReport struct {
	Feature  int          `json:"feature"`
	Layer    string       `json:"layer"`
	Tokens   int          `json:"tokens"`   // held-out tokens searched
	Active   int          `json:"active"`   // of them, those on which the feature is active
	Max      float64      `json:"max"`      // its largest activation
	Examples []saeExample `json:"examples"` // the k largest, largest first
}

// saeTop reads a trained SAE and the held-out tokens it was measured on,
// encodes them and shows the k that activate one feature most.
func saeTop(c *cli, dir string, feature, k int, asJSON bool) error {
	if dir == "" {
		return fmt.Errorf("-ckpt DIR is required")
	}
	path := filepath.Join(dir, ckptFile)
	ck, err := safetensors.LoadCheckpoint(path)
	if err != nil {
		return err
	}
	if ck.Model != "sae" || ck.Metadata[saeKeyLM] == "" {
		return fmt.Errorf("%s: not an SAE written by mlc sae -o", path)
	}
	var read saeRead
	if err := json.Unmarshal([]byte(ck.Metadata[saeKeyRead]), &read); err != nil {
		return fmt.Errorf("%s: bad %s metadata: %v", path, saeKeyRead, err)
	}
	scale, err := strconv.ParseFloat(ck.Metadata[saeKeyScale], 64)
	if err != nil {
		return fmt.Errorf("%s: bad %s metadata: %v", path, saeKeyScale, err)
	}
	entry, err := models.Lookup("sae")
	if err != nil {
		return err
	}
	anyCfg, err := entry.Config(ck.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cfg := *anyCfg.(*sae.Config)
	e, err := compile.Zoo("sae", ck.Config, compile.Options{Float: graph.F32})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if feature >= cfg.Features {
		return fmt.Errorf("-top %d: the SAE has features 0…%d", feature, cfg.Features-1)
	}
	lm, tap := ck.Metadata[saeKeyLM], ck.Metadata[saeKeyLayer]
	info, err := inspectCheckpoint(lm, "")
	if err != nil {
		return fmt.Errorf("the SAE's language model: %w", err)
	}
	act, sel, err := saeActivations(c, lm, "", info, tap, ck.Metadata[saeKeyData], read, false)
	if err != nil {
		return err
	}
	if act.d != cfg.D {
		return fmt.Errorf("%s of %s is %d wide; the SAE encodes %d", tap, lm, act.d, cfg.D)
	}
	x := act.x[tap]
	for i := range x {
		x[i] *= float32(scale)
	}
	srv, err := startCompiled(e, 0)
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := srv.Do(compile.RunRequest{Cmd: "set", Params: train.FromSafetensors(ck.Params)}); err != nil {
		return err
	}
	rep := saeTopReport{Feature: feature, Layer: tap, Tokens: len(act.rows)}
	type hit struct {
		row int
		v   float64
	}
	var hits []hit
	err = saeEncode(srv, x, cfg.D, cfg.Batch, func(row int, codes, _, _ []float64) {
		if v := codes[feature]; v > 0 {
			hits = append(hits, hit{row, v})
		}
	})
	if err != nil {
		return err
	}
	rep.Active = len(hits)
	slices.SortStableFunc(hits, func(a, b hit) int { return -cmpFloat(a.v, b.v) })
	for i, h := range hits {
		if i == 0 {
			rep.Max = h.v
		}
		if i == k {
			break
		}
		ref := act.rows[h.row]
		doc := sel.docs[ref.doc]
		rep.Examples = append(rep.Examples, saeExample{
			Activation: h.v, Doc: doc.name, Line: 1 + strings.Count(string(doc.text[:doc.off[ref.tok]]), "\n"),
			Token: string(info.pieces[doc.ids[ref.tok]]), Context: tokenContext(doc, int(ref.tok), 48, 24),
		})
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(c.stdout, "feature %d of the SAE on %s: active on %d of %d held-out tokens (%.2f%%), max %.3f\n",
		feature, tap, rep.Active, rep.Tokens, 100*float64(rep.Active)/float64(max(rep.Tokens, 1)), rep.Max)
	if len(rep.Examples) == 0 {
		fmt.Fprintln(c.stdout, "(never active on the held-out tokens: a dead feature)")
	}
	for _, ex := range rep.Examples {
		fmt.Fprintf(c.stdout, "%8.3f  %-36s %s\n", ex.Activation, fmt.Sprintf("%s:%d", ex.Doc, ex.Line), ex.Context)
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tokenContext shows token tok of doc with up to before bytes of text
// before it and after bytes after it, on one line: the token between ⟦ and
// ⟧, newlines as ⏎ and tabs as spaces.
func tokenContext(d *lmDoc, tok, before, after int) string {
	s, e := d.off[tok], d.off[tok+1]
	lo, hi := max(s-before, 0), min(e+after, len(d.text))
	for lo < s && !utf8.RuneStart(d.text[lo]) {
		lo++
	}
	for hi < len(d.text) && !utf8.RuneStart(d.text[hi]) {
		hi++
	}
	show := func(b []byte) string {
		return strings.NewReplacer("\n", "⏎", "\t", " ", "\r", "").Replace(string(b))
	}
	return show(d.text[lo:s]) + "⟦" + show(d.text[s:e]) + "⟧" + show(d.text[e:hi])
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
