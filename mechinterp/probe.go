package mechinterp

import (
	"bufio"
	"bytes"
	"fmt"
	"go/scanner"
	"go/token"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/text"
)

// Linear probes on a frozen language model: run the model over labelled
// text, collect the residual stream at each tapped layer, train a logistic
// regression on a training split (a small model that mlc compiles and
// trains like any other) and report its accuracy on held-out files next to
// the majority-class baseline. A layer whose probe beats the baseline holds
// the labelled property in a linearly readable form. See docs/probes.md.

// Task is a built-in labelling of Go source, from go/scanner.
type Task struct {
	Token token.Token
	About string // what label 1 means
}

// Tasks are the built-in labellings by name.
var Tasks = map[string]Task{
	"string": {token.STRING, "inside a string literal (interpreted or raw, quotes included)"},
	"ident":  {token.IDENT, "part of an identifier (keywords are not identifiers)"},
}

// Probe defaults: enough tokens that the held-out accuracy is measured to
// about ±0.5%, few enough that collecting them from the default gpt takes
// about a minute and a half on two cores.
const (
	ProbeTokens  = 32768
	ProbeWindows = 4   // windows per document
	ProbeHoldOut = 4   // every 4th document is held out
	ProbeSteps   = 300 // full-batch Adam steps
	ProbeLR      = 0.05
)

// ProbeResult is one layer's probe, measured on the held-out rows.
type ProbeResult struct {
	Layer    string  `json:"layer"`
	Accuracy float64 `json:"accuracy"` // held out
	Baseline float64 `json:"baseline"` // majority class of the training split, on the held-out split
	F1       float64 `json:"f1"`       // held out, of the positive class
	// Held-out cross-entropy (nats per token) of the probe and of the
	// training split's class frequencies: accuracy hides how much better
	// than the baseline a probe is when one class is rare.
	Loss          float64 `json:"loss"`
	BaselineLoss  float64 `json:"baseline_loss"`
	TrainAccuracy float64 `json:"train_accuracy"`
	TrainLoss     float64 `json:"train_loss"`

	// Predict is the trained probe's decision on a row of the x it was
	// trained on.
	Predict func(row int) bool `json:"-"`
}

// ProbeReport is the result of Probes.
type ProbeReport struct {
	Model           string        `json:"model"`
	Checkpoint      string        `json:"ckpt"`
	Task            string        `json:"task,omitempty"`
	Labels          string        `json:"labels,omitempty"`
	TrainDocs       int           `json:"train_docs"`
	HeldOutDocs     int           `json:"held_out_docs"`
	TrainTokens     int           `json:"train_tokens"`
	HeldOutTokens   int           `json:"held_out_tokens"`
	TrainPositive   float64       `json:"train_positive"` // fraction of label 1
	HeldOutPositive float64       `json:"held_out_positive"`
	Layers          []ProbeResult `json:"layers"`
}

// ProbeOptions configure Probes.
type ProbeOptions struct {
	Layers []string // the taps to probe (PickLayers)
	Steps  int      // full-batch Adam steps of each probe (0: ProbeSteps)
	LR     float64  // their learning rate (0: ProbeLR)
	Engine Engine   // runs the language model and the probes
	// Task and Labels only name the labelling in the report.
	Task, Labels string
	// Log prints progress lines; Progress is called after each batch of the
	// language model. Either may be nil.
	Log      func(format string, args ...any)
	Progress Progress
}

// Probes runs the language model over the selection's windows, training
// ones first, and trains a probe on each layer's activations to predict the
// documents' labels, measuring it on the held-out windows.
func (lm *LM) Probes(sel *Selection, opts ProbeOptions) (*ProbeReport, error) {
	if opts.Steps == 0 {
		opts.Steps = ProbeSteps
	}
	if opts.LR == 0 {
		opts.LR = ProbeLR
	}
	if sel == nil || len(sel.Train) == 0 || len(sel.HeldOut) == 0 {
		return nil, fmt.Errorf("the selection needs training and held-out windows (SelectWindows)")
	}
	if len(opts.Layers) == 0 {
		return nil, fmt.Errorf("no layers to probe")
	}
	for _, d := range sel.Docs {
		if len(d.Labels) != len(d.IDs) {
			return nil, fmt.Errorf("%s: %d labels for %d tokens", d.Name, len(d.Labels), len(d.IDs))
		}
	}
	logf := orNop(opts.Log)
	rep := ProbeReport{Model: lm.Settings.Model, Checkpoint: lm.Dir, Task: opts.Task, Labels: opts.Labels}
	rep.TrainDocs, rep.HeldOutDocs, rep.TrainTokens, rep.HeldOutTokens = sel.Counts()
	start := time.Now()
	a, err := lm.Activations(sel.Docs, sel.All(), opts.Layers, opts.Engine, opts.Progress)
	if err != nil {
		return nil, err
	}
	logf("collected %d tokens × %d layers in %s\n", len(a.Rows), len(opts.Layers), time.Since(start).Round(time.Millisecond))
	y := make([]bool, len(a.Rows))
	for i, r := range a.Rows {
		y[i] = sel.Docs[r.Doc].Labels[r.Tok]
	}
	nTrain := rep.TrainTokens
	rep.TrainPositive, rep.HeldOutPositive = fraction(y[:nTrain]), fraction(y[nTrain:])
	if rep.TrainPositive == 0 || rep.TrainPositive == 1 {
		return nil, fmt.Errorf("every training token is labelled %d: there is nothing for a probe to learn", int(rep.TrainPositive))
	}

	start = time.Now()
	pr, err := NewProber(nTrain, a.D, opts.Steps, opts.LR, opts.Engine)
	if err != nil {
		return nil, err
	}
	for _, l := range opts.Layers {
		res, err := pr.Probe(a.X[l], y, nTrain, a.D)
		if err != nil {
			return nil, fmt.Errorf("probe of %s: %w", l, err)
		}
		res.Layer = l
		rep.Layers = append(rep.Layers, *res)
	}
	logf("trained %d probes in %s\n", len(opts.Layers), time.Since(start).Round(time.Millisecond))
	return &rep, nil
}

func fraction(y []bool) float64 {
	n := 0
	for _, v := range y {
		if v {
			n++
		}
	}
	return float64(n) / float64(max(len(y), 1))
}

// TotalTokens counts the tokens of docs.
func TotalTokens(docs []*Doc) int {
	n := 0
	for _, d := range docs {
		n += len(d.IDs)
	}
	return n
}

// TaskDocs reads the corpus at path (see CorpusDocs) and labels each token
// by a built-in task.
func (lm *LM) TaskDocs(task, path string, tokens, windows, lead int) ([]*Doc, error) {
	t, ok := Tasks[task]
	if !ok {
		return nil, fmt.Errorf("-task must be string or ident, got %q", task)
	}
	docs, err := lm.CorpusDocs(path, tokens, windows, lead)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		d.Labels = TokenLabels(d, ScanLabels(d.Text, t.Token))
	}
	return docs, nil
}

// ScanLabels marks the bytes of src that belong to a token of kind want,
// as go/scanner reads src as Go source. Text that is not valid Go is
// scanned as well as it can be (errors are ignored).
func ScanLabels(src []byte, want token.Token) []bool {
	labels := make([]bool, len(src))
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(file, src, func(token.Position, string) {}, scanner.ScanComments)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok != want {
			continue
		}
		start := file.Offset(pos)
		end := start + len(lit)
		if tok == token.STRING && src[start] == '`' {
			// The scanner drops carriage returns from a raw string's lit:
			// find the closing quote in the source instead.
			end = len(src)
			if i := bytes.IndexByte(src[start+1:], '`'); i >= 0 {
				end = start + 1 + i + 1
			}
		}
		for i := start; i < min(end, len(src)); i++ {
			labels[i] = true
		}
	}
	return labels
}

// TokenLabels labels each token by its first byte that is not white space
// (its first byte when it is all white space). BPE tokens often start with
// the space before a word (" err"), and a token can straddle a boundary
// ("(\"" opens a string after a parenthesis): this rule labels " err" by its
// identifier and "(\"" as outside the string, where the token begins.
func TokenLabels(d *Doc, byteLabels []bool) []bool {
	out := make([]bool, len(d.IDs))
	for i := range d.IDs {
		s, e := d.Off[i], d.Off[i+1]
		j := s
		for j < e && isSpaceByte(d.Text[j]) {
			j++
		}
		if j == e {
			j = s
		}
		out[i] = byteLabels[j]
	}
	return out
}

func isSpaceByte(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// The labels file (docs/probes.md): UTF-8 text, one item per line.
//
//	# comment                  ignored, as are blank lines
//	doc NAME                   starts a document
//	1	"\"fmt\""               a token: its label (0 or 1), a tab or space,
//	                           and its bytes as a Go string literal
//
// A document's tokens must be exactly the model's tokenizer's tokens of
// their concatenation, so that the model sees the text it was trained on
// and each label sits on the token it was meant for.
const labelsHeader = "# mlc probe labels"

// SaveLabels writes docs and their labels as a labels file; about says
// what the labels mean.
func SaveLabels(path, about string, docs []*Doc, pieces [][]byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: %s\n", labelsHeader, about)
	fmt.Fprintf(&b, "# a token is labelled by its first byte that is not white space\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "\ndoc %s\n", d.Name)
		for j, id := range d.IDs {
			l := '0'
			if d.Labels[j] {
				l = '1'
			}
			fmt.Fprintf(&b, "%c\t%s\n", l, strconv.Quote(string(pieces[id])))
		}
	}
	return compile.WriteFileAtomic(path, b.Bytes())
}

// ReadLabels parses a labels file. Errors name the file and line.
func ReadLabels(path string, tok text.Tokenizer, pieces [][]byte) ([]*Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type line struct {
		no    int
		label bool
		text  []byte
	}
	type rawDoc struct {
		name  string
		no    int
		lines []line
	}
	var raw []*rawDoc
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	no := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", path, no, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		no++
		s := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if name, ok := strings.CutPrefix(s, "doc "); ok {
			name = strings.TrimSpace(name)
			if name == "" {
				return nil, bad("doc without a name")
			}
			if prev, ok := seen[name]; ok {
				return nil, bad("doc %q again (first at line %d)", name, prev)
			}
			seen[name] = no
			raw = append(raw, &rawDoc{name: name, no: no})
			continue
		}
		if len(raw) == 0 {
			return nil, bad("a token before the first \"doc NAME\" line")
		}
		label, rest, ok := strings.Cut(s, "\t")
		if !ok {
			label, rest, ok = strings.Cut(s, " ")
		}
		if !ok {
			return nil, bad("want a label (0 or 1), a tab and the token as a Go string literal, got %q", s)
		}
		if label != "0" && label != "1" {
			return nil, bad("label %q: want 0 or 1", label)
		}
		txt, err := strconv.Unquote(strings.TrimSpace(rest))
		if err != nil {
			return nil, bad("token %s: not a Go string literal (%v)", strings.TrimSpace(rest), err)
		}
		if txt == "" {
			return nil, bad("empty token")
		}
		d := raw[len(raw)-1]
		d.lines = append(d.lines, line{no: no, label: label == "1", text: []byte(txt)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", path, no+1, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: no documents (a labels file starts each with a \"doc NAME\" line)", path)
	}
	docs := make([]*Doc, len(raw))
	for i, r := range raw {
		if len(r.lines) == 0 {
			return nil, fmt.Errorf("%s:%d: doc %q has no tokens", path, r.no, r.name)
		}
		var all []byte
		for _, l := range r.lines {
			all = append(all, l.text...)
		}
		d, err := TokenizeDoc(tok, pieces, r.name, all)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, r.no, err)
		}
		for j, l := range r.lines {
			if j >= len(d.IDs) || !bytes.Equal(l.text, pieces[d.IDs[j]]) {
				want := "nothing more"
				if j < len(d.IDs) {
					want = strconv.Quote(string(pieces[d.IDs[j]]))
				}
				return nil, fmt.Errorf("%s:%d: token %s, but the model's tokenizer has %s here: list the tokenizer's tokens of the text (mlc probe -task string -write-labels FILE writes an example)",
					path, l.no, strconv.Quote(string(l.text)), want)
			}
			d.Labels = append(d.Labels, l.label)
		}
		if len(d.IDs) > len(r.lines) {
			return nil, fmt.Errorf("%s:%d: doc %q: the tokenizer makes %d tokens of its text, the file lists %d", path, r.no, r.name, len(d.IDs), len(r.lines))
		}
		docs[i] = d
	}
	return docs, nil
}

// Prober trains logistic-regression probes, p(y=1 | x) = σ(x·w + c), on
// standardised activations with full-batch Adam, through a small mlc model
// compiled once (f64) and run on the chosen engine; every probe starts
// from zero in a fresh instance of it.
type Prober struct {
	n, d   int
	steps  int
	prog   *graph.Program
	bin    string // the built runner, on EngineGen
	engine Engine
}

// probeModel is the probe in the DSL: n rows of width d, labels y ∈ {0, 1}.
func probeModel(n, d int) func(b *dsl.Builder) {
	return func(b *dsl.Builder) {
		X := b.Input("X", n, d)
		y := b.Input("y", n, 1)
		w := b.Param("w", dsl.Zeros(), d, 1)
		c := b.Param("c", dsl.Zeros(), 1)
		z := X.MatMul(w).Add(c).As("z")
		b.Output("p", z.Sigmoid())
		b.Loss(dsl.BCEWithLogits(z, y))
	}
}

// NewProber compiles the probe for n training rows of width d, trained for
// steps full-batch steps of Adam at learning rate lr.
func NewProber(n, d, steps int, lr float64, engine Engine) (*Prober, error) {
	if n <= 0 || d <= 0 || steps <= 0 || !(lr > 0) {
		return nil, fmt.Errorf("a probe needs training rows, a width, steps and a learning rate that are positive; got %d, %d, %d and %v", n, d, steps, lr)
	}
	if _, err := ParseEngine(string(engine)); err != nil {
		return nil, err
	}
	opt, err := passes.OptimizerConfig{Kind: "adam", LR: lr}.Defaults()
	if err != nil {
		return nil, err
	}
	res, err := compile.Build("probe", "mechinterp/probe.go", probeModel(n, d), compile.Options{Float: graph.F64, Optimizer: opt})
	if err != nil {
		return nil, err
	}
	p := &Prober{n: n, d: d, steps: steps, prog: res.Program, engine: engine}
	if engine != EngineInterp {
		if p.bin, err = compile.BuildRunner(res.Program); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Probe trains on the first nTrain rows of x ([rows, d]) labelled y and
// evaluates on the rest. The features are standardised with the training
// rows' mean and standard deviation, so one learning rate suits every
// layer.
func (p *Prober) Probe(x []float32, y []bool, nTrain, d int) (*ProbeResult, error) {
	switch {
	case nTrain != p.n || d != p.d:
		return nil, fmt.Errorf("the prober was compiled for %d rows of %d, got %d of %d", p.n, p.d, nTrain, d)
	case len(x) != len(y)*d:
		return nil, fmt.Errorf("%d values for %d labelled rows of %d", len(x), len(y), d)
	case len(y) <= nTrain:
		return nil, fmt.Errorf("no held-out rows: %d rows, %d for training", len(y), nTrain)
	}
	mean, std := make([]float64, d), make([]float64, d)
	for i := range nTrain {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(nTrain)
	}
	for i := range nTrain {
		for j, v := range x[i*d : (i+1)*d] {
			std[j] += (float64(v) - mean[j]) * (float64(v) - mean[j])
		}
	}
	for j := range std {
		std[j] = math.Max(math.Sqrt(std[j]/float64(nTrain)), 1e-6)
	}
	feat := func(i, j int) float64 { return (float64(x[i*d+j]) - mean[j]) / std[j] }
	X := runtime.JSONTensor{Shape: []int{nTrain, d}, Data: make([]runtime.JSONFloat, nTrain*d)}
	Y := runtime.JSONTensor{Shape: []int{nTrain, 1}, Data: make([]runtime.JSONFloat, nTrain)}
	for i := range nTrain {
		for j := range d {
			X.Data[i*d+j] = runtime.JSONFloat(feat(i, j))
		}
		if y[i] {
			Y.Data[i] = 1
		}
	}
	m, err := newTrainer(p.prog, p.bin, p.engine, 0)
	if err != nil {
		return nil, err
	}
	defer m.close()
	steps, err := m.Train(map[string]runtime.JSONTensor{"X": X, "y": Y}, p.steps)
	if err != nil {
		return nil, err
	}
	if len(steps.Losses) == 0 || steps.Diverged {
		return nil, fmt.Errorf("the probe's training diverged")
	}
	out := &ProbeResult{TrainLoss: steps.Losses[len(steps.Losses)-1]}
	snap, err := m.Snapshot()
	if err != nil {
		return nil, err
	}
	res := snap
	w, c := res.Params["w"].Data, res.Params["c"].Data
	if len(w) != d || len(c) != 1 {
		return nil, fmt.Errorf("the runner returned parameters of %d and %d values, want %d and 1", len(w), len(c), d)
	}
	logit := func(i int) float64 {
		z := float64(c[0])
		for j := range d {
			z += float64(w[j]) * feat(i, j)
		}
		return z
	}
	out.Predict = func(i int) bool { return logit(i) > 0 }
	rows := len(y)
	prior := fraction(y[:nTrain])
	majority := prior > 0.5
	var right, trainRight, base, tp, fp, fn int
	for i := range rows {
		z := logit(i)
		got := z > 0
		if i >= nTrain {
			// −log σ(±z) = softplus(∓z), in a form that does not overflow.
			if !y[i] {
				z = -z
			}
			out.Loss += math.Max(-z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
			if y[i] {
				out.BaselineLoss -= math.Log(prior)
			} else {
				out.BaselineLoss -= math.Log(1 - prior)
			}
		}
		if i < nTrain {
			if got == y[i] {
				trainRight++
			}
			continue
		}
		if got == y[i] {
			right++
		}
		if majority == y[i] {
			base++
		}
		switch {
		case got && y[i]:
			tp++
		case got && !y[i]:
			fp++
		case !got && y[i]:
			fn++
		}
	}
	held := float64(rows - nTrain)
	out.Accuracy, out.Baseline = float64(right)/held, float64(base)/held
	out.Loss /= held
	out.BaselineLoss /= held
	out.TrainAccuracy = float64(trainRight) / float64(nTrain)
	if tp > 0 {
		out.F1 = 2 * float64(tp) / float64(2*tp+fp+fn)
	}
	return out, nil
}
