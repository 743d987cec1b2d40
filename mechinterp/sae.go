package mechinterp

import (
	"cmp"
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

// A sparse autoencoder (the zoo's sae model) trained through mlc on one
// layer's residual stream of a trained language model, its dictionary's
// health measured on held-out files, and the contexts that activate a
// feature most. See docs/sae.md.

// SAE defaults. Collecting activations is the slow part (the language
// model runs over every token), so the token budget is moderate; the
// steps make about ten passes over it.
const (
	SAETokens  = 32768
	SAEHoldOut = 5 // every 5th document is held out
	SAESteps   = 1500
	SAELR      = 1e-3
	saeLog     = 100 // steps between log lines
)

// The SAE checkpoint's own metadata: where its activations came from, so
// that SAETop can read the same held-out tokens again.
const (
	saeKeyLM      = "sae.lm"      // the language model's checkpoint directory
	saeKeyLayer   = "sae.layer"   // the tap
	saeKeyScale   = "sae.scale"   // activations are multiplied by this before the SAE
	saeKeyData    = "sae.data"    // the text ("" for the default corpus)
	saeKeyRead    = "sae.read"    // tokens, windows and lead of the selection, as JSON
	saeKeyMetrics = "sae.metrics" // the held-out metrics, as JSON
)

// SAERead is how the tokens were chosen.
type SAERead struct {
	Tokens  int `json:"tokens"`
	Windows int `json:"windows"`
	Lead    int `json:"lead"`
}

// SAEMetrics describe a dictionary on held-out activations.
type SAEMetrics struct {
	Tokens       int     `json:"tokens"`
	Features     int     `json:"features"`
	Dead         int     `json:"dead"`          // features never active on the held-out tokens
	DeadFraction float64 `json:"dead_fraction"` // Dead / Features
	L0           float64 `json:"l0"`            // mean number of active features per token
	L1           float64 `json:"l1"`            // mean Σ_i h_i per token
	MSE          float64 `json:"mse"`           // mean (x̂ − x)² per element, in the scaled units
	FVE          float64 `json:"fve"`           // fraction of variance explained: 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖²
}

// SAEStats accumulates SAEMetrics over rows of codes, inputs and
// reconstructions.
type SAEStats struct {
	fired            []bool
	rows, active     int
	l1, sqErr, sumSq float64
	sum              []float64
}

// NewSAEStats starts the statistics of a dictionary of the given number of
// features on rows of width d.
func NewSAEStats(features, d int) *SAEStats {
	return &SAEStats{fired: make([]bool, features), sum: make([]float64, d)}
}

// Add counts one row: its codes, input and reconstruction.
func (s *SAEStats) Add(codes, x, xhat []float64) {
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

// Metrics are the statistics of the rows added so far.
func (s *SAEStats) Metrics() SAEMetrics {
	m := SAEMetrics{Tokens: s.rows, Features: len(s.fired)}
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

// SAEOptions configure TrainSAE.
type SAEOptions struct {
	Layer    string  // the tap whose activations to encode (one of LM.Taps)
	Features int     // dictionary size m (0: 4 × the model's width)
	Lambda   float64 // strength λ of the L1 penalty
	Steps    int     // training steps (0: SAESteps)
	Batch    int     // activations per step (0: the sae model's default)
	LR       float64 // Adam's learning rate (0: SAELR)
	Read     SAERead // which tokens to read
	Data     string  // the text, a file or a directory ("": the Go standard library's source)
	Seed     uint64  // of the initialisation and the batch order
	Engine   Engine  // runs the language model and the SAE
	// Log prints progress lines; Progress is called after each batch of the
	// language model. Either may be nil.
	Log      func(format string, args ...any)
	Progress Progress
}

// TrainSAE trains an SAE on the activations at opts.Layer, measures it on
// the held-out files and writes its checkpoint (of model sae, which
// mlc run -model sae -params reads), loss.csv and loss.png to dir.
func (lm *LM) TrainSAE(dir string, opts SAEOptions) (*SAEMetrics, error) {
	if opts.Steps == 0 {
		opts.Steps = SAESteps
	}
	if opts.LR == 0 {
		opts.LR = SAELR
	}
	if opts.Batch == 0 {
		opts.Batch = sae.DefaultConfig().Batch
	}
	switch {
	case dir == "":
		return nil, fmt.Errorf("no directory to write the SAE to")
	case !slices.Contains(lm.Taps, opts.Layer):
		return nil, fmt.Errorf("the model has no layer %q (layers: %s)", opts.Layer, strings.Join(lm.Taps, ", "))
	case opts.Features < 0 || opts.Steps < 0 || opts.Batch < 0 || !(opts.LR > 0) || opts.Read.Tokens < 0 || opts.Read.Windows < 0:
		return nil, fmt.Errorf("-features, -tokens and -windows must be >= 0; -steps, -batch and -lr positive")
	case !(opts.Lambda >= 0):
		return nil, fmt.Errorf("-lambda must be >= 0, got %v", opts.Lambda)
	}
	logf := orNop(opts.Log)
	tap := opts.Layer
	start := time.Now()
	act, sel, err := lm.saeActivations(tap, opts.Data, opts.Read, true, opts.Engine, opts.Progress)
	if err != nil {
		return nil, err
	}
	trainDocs, heldDocs, nTrain, nHeld := sel.Counts()
	logf("collected %d tokens of %s in %s\n", len(act.Rows), tap, time.Since(start).Round(time.Millisecond))
	d := act.D
	features := opts.Features
	if features == 0 {
		features = 4 * d
	}
	x := act.X[tap]
	// Scale the activations to a mean squared norm of d (mean square 1 per
	// element), so that λ and the learning rate mean the same at every layer
	// of every model; the scale is saved and applied again by SAETop.
	ss := 0.0
	for _, v := range x[:nTrain*d] {
		ss += float64(v) * float64(v)
	}
	scale := math.Sqrt(float64(d) * float64(nTrain) / ss)
	if ss == 0 || math.IsInf(scale, 0) || math.IsNaN(scale) {
		return nil, fmt.Errorf("the activations of %s are all zero", tap)
	}
	for i := range x {
		x[i] *= float32(scale)
	}

	cfg := fmt.Sprintf("d=%d,features=%d,lambda=%s,batch=%d", d, features, strconv.FormatFloat(opts.Lambda, 'g', -1, 64), opts.Batch)
	opt, err := passes.OptimizerConfig{Kind: "adam", LR: opts.LR}.Defaults()
	if err != nil {
		return nil, err
	}
	res, err := compile.Zoo("sae", cfg, compile.Options{Float: graph.F32, Optimizer: opt})
	if err != nil {
		return nil, err
	}
	m, err := newTrainer(res.Program, "", opts.Engine, opts.Seed)
	if err != nil {
		return nil, err
	}
	defer m.close()
	// b_dec starts at the mean activation, so the codes start by explaining
	// the variation around it rather than the offset.
	mean := make([]runtime.JSONFloat, d)
	for i := range nTrain {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += runtime.JSONFloat(v) / runtime.JSONFloat(nTrain)
		}
	}
	if err := m.Restore(&train.Snapshot{Params: map[string]runtime.JSONTensor{"b_dec": {Shape: []int{d}, Data: mean}}}); err != nil {
		return nil, err
	}

	logf("training an SAE (%s) on %s of %s: %d tokens from %d files; %d held-out tokens from %d other files\n",
		cfg, tap, lm.Dir, nTrain, trainDocs, nHeld, heldDocs)
	start = time.Now()
	r := rand.New(rand.NewPCG(opts.Seed, 0x5ae))
	order := r.Perm(nTrain)
	next := 0
	losses := make([]float64, 0, opts.Steps)
	xb := runtime.JSONTensor{Shape: []int{opts.Batch, d}, Data: make([]runtime.JSONFloat, opts.Batch*d)}
	for step := range opts.Steps {
		for b := range opts.Batch {
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
		out, err := m.Train(map[string]runtime.JSONTensor{"x": xb}, 1)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		if len(out.Losses) == 0 {
			return nil, fmt.Errorf("step %d: no loss", step)
		}
		l := out.Losses[0]
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return nil, fmt.Errorf("step %d: the loss is %v; try a smaller -lr", step, l)
		}
		losses = append(losses, l)
		if step%saeLog == 0 || step == opts.Steps-1 {
			logf("step %6d  loss %.6f\n", step, l)
		}
	}
	logf("trained %d steps in %s\n", opts.Steps, time.Since(start).Round(time.Millisecond))

	st := NewSAEStats(features, d)
	err = saeEncode(m, x[nTrain*d:], d, opts.Batch, func(_ int, codes, xr, xhat []float64) { st.Add(codes, xr, xhat) })
	if err != nil {
		return nil, err
	}
	met := st.Metrics()
	readJSON, err1 := jsonString(opts.Read)
	metricsJSON, err2 := jsonString(met)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("the held-out metrics: %w", err)
	}
	if err := saveSAE(dir, m, res.Program, opts.Steps, losses, map[string]string{
		saeKeyLM: absPath(lm.Dir), saeKeyLayer: tap, saeKeyScale: strconv.FormatFloat(scale, 'g', -1, 64),
		saeKeyData: opts.Data, saeKeyRead: readJSON, saeKeyMetrics: metricsJSON,
	}); err != nil {
		return nil, err
	}
	return &met, nil
}

// saeActivations reads the tokens an SAE trains and is measured on (all of
// them, or only the held-out ones) and returns their activations at tap,
// the training rows first.
func (lm *LM) saeActivations(tap, data string, read SAERead, withTrain bool, engine Engine, progress Progress) (*Activations, *Selection, error) {
	docs, err := lm.CorpusDocs(data, read.Tokens, read.Windows, read.Lead)
	if err != nil {
		return nil, nil, err
	}
	sel, err := SelectWindows(docs, lm.Ctx, read.Lead, read.Windows, read.Tokens, SAEHoldOut)
	if err != nil {
		return nil, nil, err
	}
	ws := sel.HeldOut
	if withTrain {
		ws = sel.All()
	}
	a, err := lm.Activations(sel.Docs, ws, []string{tap}, engine, progress)
	return a, sel, err
}

// saeEncode runs the SAE's Predict over rows of x ([n, d]) a batch at a
// time (the last batch padded with zero rows, which are not reported) and
// hands each row's codes, input and reconstruction to fn.
func saeEncode(m train.Model, x []float32, d, batch int, fn func(row int, codes, x, xhat []float64)) error {
	n := len(x) / d
	xb := runtime.JSONTensor{Shape: []int{batch, d}, Data: make([]runtime.JSONFloat, batch*d)}
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		clear(xb.Data)
		for i, v := range x[lo*d : hi*d] {
			xb.Data[i] = runtime.JSONFloat(v)
		}
		outs, err := m.Predict(map[string]runtime.JSONTensor{"x": xb})
		if err != nil {
			return err
		}
		codes, recon := outs["codes"], outs["recon"]
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
// with its provenance, and the loss curve.
func saveSAE(dir string, m train.Model, prog *graph.Program, steps int, losses []float64, meta map[string]string) error {
	snap, err := m.Snapshot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ck := &safetensors.Checkpoint{
		Model: "sae", Config: prog.Config, DType: prog.Float.String(), Version: compile.Version,
		Step: int64(steps), Params: train.ToSafetensors(snap.Params, prog.Float), Metadata: meta,
	}
	if err := safetensors.SaveCheckpoint(filepath.Join(dir, train.CheckpointFile), ck); err != nil {
		return err
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"step", "loss", "val_loss"})
	for i, l := range losses {
		_ = w.Write([]string{strconv.Itoa(i), strconv.FormatFloat(l, 'g', -1, 64), ""})
	}
	w.Flush()
	csvPath := filepath.Join(dir, train.CSVFile)
	if err := compile.WriteFileAtomic(csvPath, []byte(b.String())); err != nil {
		return err
	}
	return train.PlotCurve(csvPath, filepath.Join(dir, train.PlotFile), "sae")
}

// SAEExample is one context of a feature.
type SAEExample struct {
	Activation float64 `json:"activation"`
	Doc        string  `json:"doc"`
	Line       int     `json:"line"`
	Token      string  `json:"token"`
	Context    string  `json:"context"` // text around the token, which is marked ⟦…⟧
}

// SAETopReport is what SAETop finds.
type SAETopReport struct {
	Feature  int          `json:"feature"`
	Layer    string       `json:"layer"`
	Tokens   int          `json:"tokens"`   // held-out tokens searched
	Active   int          `json:"active"`   // of them, those on which the feature is active
	Max      float64      `json:"max"`      // its largest activation
	Examples []SAEExample `json:"examples"` // the k largest, largest first
}

// SAETop reads an SAE that TrainSAE wrote to dir and the held-out tokens it
// was measured on, encodes them and returns the k that activate one
// feature most.
func SAETop(dir string, feature, k int, engine Engine, progress Progress) (*SAETopReport, error) {
	if dir == "" {
		return nil, fmt.Errorf("-ckpt DIR is required")
	}
	if k <= 0 {
		return nil, fmt.Errorf("-k must be positive, got %d", k)
	}
	path := filepath.Join(dir, train.CheckpointFile)
	ck, err := safetensors.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if ck.Model != "sae" || ck.Metadata[saeKeyLM] == "" {
		return nil, fmt.Errorf("%s: not an SAE written by mlc sae -o", path)
	}
	var read SAERead
	if err := json.Unmarshal([]byte(ck.Metadata[saeKeyRead]), &read); err != nil {
		return nil, fmt.Errorf("%s: bad %s metadata: %v", path, saeKeyRead, err)
	}
	scale, err := strconv.ParseFloat(ck.Metadata[saeKeyScale], 64)
	if err != nil {
		return nil, fmt.Errorf("%s: bad %s metadata: %v", path, saeKeyScale, err)
	}
	entry, err := models.Lookup("sae")
	if err != nil {
		return nil, err
	}
	anyCfg, err := entry.Config(ck.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := *anyCfg.(*sae.Config)
	e, err := compile.Zoo("sae", ck.Config, compile.Options{Float: graph.F32})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if feature < 0 || feature >= cfg.Features {
		return nil, fmt.Errorf("-top %d: the SAE has features 0…%d", feature, cfg.Features-1)
	}
	lmDir, tap := ck.Metadata[saeKeyLM], ck.Metadata[saeKeyLayer]
	lm, err := OpenLM(lmDir, "")
	if err != nil {
		return nil, fmt.Errorf("the SAE's language model: %w", err)
	}
	act, sel, err := lm.saeActivations(tap, ck.Metadata[saeKeyData], read, false, engine, progress)
	if err != nil {
		return nil, err
	}
	if act.D != cfg.D {
		return nil, fmt.Errorf("%s of %s is %d wide; the SAE encodes %d", tap, lmDir, act.D, cfg.D)
	}
	x := act.X[tap]
	for i := range x {
		x[i] *= float32(scale)
	}
	m, err := newTrainer(e.Program, "", engine, 0)
	if err != nil {
		return nil, err
	}
	defer m.close()
	if err := m.Restore(&train.Snapshot{Params: train.FromSafetensors(ck.Params)}); err != nil {
		return nil, err
	}
	rep := &SAETopReport{Feature: feature, Layer: tap, Tokens: len(act.Rows)}
	type hit struct {
		row int
		v   float64
	}
	var hits []hit
	err = saeEncode(m, x, cfg.D, cfg.Batch, func(row int, codes, _, _ []float64) {
		if v := codes[feature]; v > 0 {
			hits = append(hits, hit{row, v})
		}
	})
	if err != nil {
		return nil, err
	}
	rep.Active = len(hits)
	slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(b.v, a.v) })
	for i, h := range hits {
		if i == 0 {
			rep.Max = h.v
		}
		if i == k {
			break
		}
		ref := act.Rows[h.row]
		doc := sel.Docs[ref.Doc]
		rep.Examples = append(rep.Examples, SAEExample{
			Activation: h.v, Doc: doc.Name, Line: 1 + strings.Count(string(doc.Text[:doc.Off[ref.Tok]]), "\n"),
			Token: string(lm.Pieces[doc.IDs[ref.Tok]]), Context: TokenContext(doc, int(ref.Tok), 48, 24),
		})
	}
	return rep, nil
}

// TokenContext shows token tok of doc with up to before bytes of text
// before it and after bytes after it, on one line: the token between ⟦ and
// ⟧, newlines as ⏎ and tabs as spaces.
func TokenContext(d *Doc, tok, before, after int) string {
	s, e := d.Off[tok], d.Off[tok+1]
	lo, hi := max(s-before, 0), min(e+after, len(d.Text))
	for lo < s && !utf8.RuneStart(d.Text[lo]) {
		lo++
	}
	for hi < len(d.Text) && !utf8.RuneStart(d.Text[hi]) {
		hi++
	}
	show := func(b []byte) string {
		return strings.NewReplacer("\n", "⏎", "\t", " ", "\r", "").Replace(string(b))
	}
	return show(d.Text[lo:s]) + "⟦" + show(d.Text[s:e]) + "⟧" + show(d.Text[e:hi])
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
