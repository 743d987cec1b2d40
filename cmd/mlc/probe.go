package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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

// mlc probe: linear probes on a frozen language model. It runs the model
// over labelled text, collects the residual stream at each tapped layer,
// trains a logistic regression on a training split (a small model that
// mlc compiles and trains through generated code like any other) and
// reports its accuracy on held-out files next to the majority-class
// baseline. A layer whose probe beats the baseline holds the labelled
// property in a linearly readable form. See docs/probes.md.

func init() {
	register(verb{
		name:  "probe",
		usage: "mlc probe -ckpt DIR [-model M] (-task string|ident [-data PATH] | -labels FILE) [-layer all|in|L|L,L] [-tokens N] [-windows N] [-steps N] [-lr R] [-write-labels FILE] [-json]",
		doc:   "train linear probes on a trained language model's hidden states and report held-out accuracy per layer",
		run:   cmdProbe,
	})
}

// probeTasks are the built-in labellings of Go source, from go/scanner.
var probeTasks = map[string]struct {
	tok   token.Token
	about string
}{
	"string": {token.STRING, "inside a string literal (interpreted or raw, quotes included)"},
	"ident":  {token.IDENT, "part of an identifier (keywords are not identifiers)"},
}

// Probe defaults: enough tokens that the held-out accuracy is measured to
// about ±0.5%, few enough that collecting them from the default gpt takes
// about a minute and a half on two cores.
const (
	probeTokens  = 32768
	probeWindows = 4   // windows per document
	probeHoldOut = 4   // every 4th document is held out
	probeSteps   = 300 // full-batch Adam steps
	probeLR      = 0.05
)

type probeLayer struct {
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

	predict func(row int) bool // the trained probe's decision on a row of x
}

type probeReport struct {
	Model           string       `json:"model"`
	Checkpoint      string       `json:"ckpt"`
	Task            string       `json:"task,omitempty"`
	Labels          string       `json:"labels,omitempty"`
	TrainDocs       int          `json:"train_docs"`
	HeldOutDocs     int          `json:"held_out_docs"`
	TrainTokens     int          `json:"train_tokens"`
	HeldOutTokens   int          `json:"held_out_tokens"`
	TrainPositive   float64      `json:"train_positive"` // fraction of label 1
	HeldOutPositive float64      `json:"held_out_positive"`
	Layers          []probeLayer `json:"layers"`
}

func cmdProbe(c *cli, args []string) error {
	fs := c.flags("probe")
	model := fs.String("model", "", "model name (default: the checkpoint's)")
	ckpt := fs.String("ckpt", "", "directory of a language model's checkpoint written by mlc train (required)")
	layer := fs.String("layer", "all", "layers to probe: all, in (the embeddings), a block number L (its output), or a comma-separated list")
	labelsPath := fs.String("labels", "", "labels file: documents as the model's tokens with a 0/1 label each (see docs/probes.md)")
	task := fs.String("task", "", "built-in labelling of Go source: string (inside a string literal) or ident (part of an identifier)")
	data := fs.String("data", "", "text for -task, a file or a directory (default: the Go standard library's source)")
	tokens := fs.Int("tokens", probeTokens, "tokens to read, training and held-out together (0: every document)")
	windows := fs.Int("windows", probeWindows, "windows of the model's context to read from each document, spread over it (0: all)")
	lead := fs.Int("lead", -1, "tokens of context the model reads before the first token of a window that is read (default: half the context)")
	steps := fs.Int("steps", probeSteps, "full-batch training steps of each probe (Adam)")
	lr := fs.Float64("lr", probeLR, "learning rate of the probes")
	writeLabels := fs.String("write-labels", "", "write the -task labelling of the documents read to this labels file and stop")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if (*task == "") == (*labelsPath == "") {
		return fmt.Errorf("give one of -task string|ident or -labels FILE")
	}
	if _, ok := probeTasks[*task]; *task != "" && !ok {
		return fmt.Errorf("-task must be string or ident, got %q", *task)
	}
	if *writeLabels != "" && *task == "" {
		return fmt.Errorf("-write-labels writes a -task's labels; give -task")
	}
	if *data != "" && *task == "" {
		return fmt.Errorf("-data is the text of a -task; a labels file holds its own text")
	}
	if *tokens < 0 || *windows < 0 || *steps <= 0 || !(*lr > 0) {
		return fmt.Errorf("-tokens and -windows must be >= 0, -steps and -lr positive")
	}
	info, err := inspectCheckpoint(*ckpt, *model)
	if err != nil {
		return err
	}
	layers, err := pickLayers(*layer, info.taps)
	if err != nil {
		return err
	}

	if *lead < 0 {
		*lead = info.ctx / 2
	}
	var docs []*lmDoc
	if *task != "" {
		if docs, err = taskDocs(*task, *data, info, *tokens, *windows, *lead); err != nil {
			return err
		}
	} else if docs, err = readLabels(*labelsPath, info.tok, info.pieces); err != nil {
		return err
	}
	sel, err := selectWindows(docs, info.ctx, *lead, *windows, *tokens, probeHoldOut)
	if err != nil {
		return err
	}
	if *writeLabels != "" {
		if err := saveLabels(*writeLabels, "task "+*task+", 1 = the token is "+probeTasks[*task].about, sel.docs, info.pieces); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "wrote %d documents (%d tokens) labelled by task %s to %s\n", len(sel.docs), totalTokens(sel.docs), *task, *writeLabels)
		return nil
	}

	rep := probeReport{Model: info.model, Checkpoint: *ckpt, Task: *task, Labels: *labelsPath}
	rep.TrainDocs, rep.HeldOutDocs, rep.TrainTokens, rep.HeldOutTokens = sel.counts()
	start := time.Now()
	t, err := loadTrained(*ckpt, trainedOptions{model: *model, taps: layers})
	if err != nil {
		return err
	}
	defer t.Close()
	a, err := collectActs(c, t, sel.docs, append(append([]tokWindow{}, sel.train...), sel.heldOut...), layers)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "collected %d tokens × %d layers in %s\n", len(a.rows), len(layers), time.Since(start).Round(time.Millisecond))
	y := make([]bool, len(a.rows))
	for i, r := range a.rows {
		y[i] = sel.docs[r.doc].labels[r.tok]
	}
	nTrain := rep.TrainTokens
	rep.TrainPositive, rep.HeldOutPositive = fraction(y[:nTrain]), fraction(y[nTrain:])
	if rep.TrainPositive == 0 || rep.TrainPositive == 1 {
		return fmt.Errorf("every training token is labelled %d: there is nothing for a probe to learn", int(rep.TrainPositive))
	}

	start = time.Now()
	pr, err := newProber(nTrain, a.d, *steps, *lr)
	if err != nil {
		return err
	}
	for _, l := range layers {
		res, err := pr.probe(a.x[l], y, nTrain, a.d)
		if err != nil {
			return fmt.Errorf("probe of %s: %w", l, err)
		}
		res.Layer = l
		rep.Layers = append(rep.Layers, *res)
	}
	fmt.Fprintf(c.stderr, "trained %d probes in %s\n", len(layers), time.Since(start).Round(time.Millisecond))
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printProbe(c, &rep)
	return nil
}

func printProbe(c *cli, rep *probeReport) {
	what := "labels " + rep.Labels
	if rep.Task != "" {
		what = "task " + rep.Task + ": is the token " + probeTasks[rep.Task].about
	}
	fmt.Fprintf(c.stdout, "linear probes on %s (%s), %s\n", rep.Model, rep.Checkpoint, what)
	fmt.Fprintf(c.stdout, "training: %d tokens from %d files, %.1f%% positive; held out: %d tokens from %d other files, %.1f%% positive\n",
		rep.TrainTokens, rep.TrainDocs, 100*rep.TrainPositive, rep.HeldOutTokens, rep.HeldOutDocs, 100*rep.HeldOutPositive)
	fmt.Fprintf(c.stdout, "%-8s %9s %9s %7s %8s %8s %10s\n", "layer", "accuracy", "baseline", "F1", "loss", "baseline", "train acc")
	for _, l := range rep.Layers {
		fmt.Fprintf(c.stdout, "%-8s %9.4f %9.4f %7.3f %8.4f %8.4f %10.4f\n", l.Layer, l.Accuracy, l.Baseline, l.F1, l.Loss, l.BaselineLoss, l.TrainAccuracy)
	}
	fmt.Fprintln(c.stdout, "(accuracy, F1 of the positive class and cross-entropy loss in nats/token on the held-out files;")
	fmt.Fprintln(c.stdout, " the baselines predict the training split's majority class and class frequencies)")
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

func totalTokens(docs []*lmDoc) int {
	n := 0
	for _, d := range docs {
		n += len(d.ids)
	}
	return n
}

// taskDocs reads the corpus and labels each token by a built-in task.
func taskDocs(task, data string, info *ckptInfo, tokens, windows, lead int) ([]*lmDoc, error) {
	docs, err := corpusLMDocs(data, info, tokens, windows, lead)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		d.labels = tokenLabels(d, scanLabels(d.text, probeTasks[task].tok))
	}
	return docs, nil
}

// scanLabels marks the bytes of src that belong to a token of kind want,
// as go/scanner reads src as Go source. Text that is not valid Go is
// scanned as well as it can be (errors are ignored).
func scanLabels(src []byte, want token.Token) []bool {
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

// tokenLabels labels each token by its first byte that is not white space
// (its first byte when it is all white space). BPE tokens often start with
// the space before a word (" err"), and a token can straddle a boundary
// ("(\"" opens a string after a parenthesis): this rule labels " err" by its
// identifier and "(\"" as outside the string, where the token begins.
func tokenLabels(d *lmDoc, byteLabels []bool) []bool {
	out := make([]bool, len(d.ids))
	for i := range d.ids {
		s, e := d.off[i], d.off[i+1]
		j := s
		for j < e && isSpaceByte(d.text[j]) {
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

// saveLabels writes docs and their labels as a labels file; about says
// what the labels mean.
func saveLabels(path, about string, docs []*lmDoc, pieces [][]byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: %s\n", labelsHeader, about)
	fmt.Fprintf(&b, "# a token is labelled by its first byte that is not white space\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "\ndoc %s\n", d.name)
		for j, id := range d.ids {
			l := '0'
			if d.labels[j] {
				l = '1'
			}
			fmt.Fprintf(&b, "%c\t%s\n", l, strconv.Quote(string(pieces[id])))
		}
	}
	return compile.WriteFileAtomic(path, b.Bytes())
}

// readLabels parses a labels file. Errors name the file and line.
func readLabels(path string, tok text.Tokenizer, pieces [][]byte) ([]*lmDoc, error) {
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
	docs := make([]*lmDoc, len(raw))
	for i, r := range raw {
		if len(r.lines) == 0 {
			return nil, fmt.Errorf("%s:%d: doc %q has no tokens", path, r.no, r.name)
		}
		var all []byte
		for _, l := range r.lines {
			all = append(all, l.text...)
		}
		d, err := tokenizeDoc(tok, pieces, r.name, all)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, r.no, err)
		}
		for j, l := range r.lines {
			if j >= len(d.ids) || !bytes.Equal(l.text, pieces[d.ids[j]]) {
				want := "nothing more"
				if j < len(d.ids) {
					want = strconv.Quote(string(pieces[d.ids[j]]))
				}
				return nil, fmt.Errorf("%s:%d: token %s, but the model's tokenizer has %s here: list the tokenizer's tokens of the text (mlc probe -task string -write-labels FILE writes an example)",
					path, l.no, strconv.Quote(string(l.text)), want)
			}
			d.labels = append(d.labels, l.label)
		}
		if len(d.ids) > len(r.lines) {
			return nil, fmt.Errorf("%s:%d: doc %q: the tokenizer makes %d tokens of its text, the file lists %d", path, r.no, r.name, len(d.ids), len(r.lines))
		}
		docs[i] = d
	}
	return docs, nil
}

// prober trains logistic-regression probes, p(y=1 | x) = σ(x·w + c), on
// standardised activations with full-batch Adam, through the generated code
// of a small mlc model; every layer's probe starts from zero in a fresh
// runner of the same binary.
type prober struct {
	bin   string
	steps int
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

func newProber(n, d, steps int, lr float64) (*prober, error) {
	opt, err := passes.OptimizerConfig{Kind: "adam", LR: lr}.Defaults()
	if err != nil {
		return nil, err
	}
	res, err := compile.Build("probe", "cmd/mlc/probe.go", probeModel(n, d), compile.Options{Float: graph.F64, Optimizer: opt})
	if err != nil {
		return nil, err
	}
	bin, err := compile.BuildRunner(res.Program)
	if err != nil {
		return nil, err
	}
	return &prober{bin: bin, steps: steps}, nil
}

// probe trains on the first nTrain rows of x ([rows, d]) and evaluates on
// the rest. The features are standardised with the training rows' mean and
// standard deviation, so one learning rate suits every layer.
func (p *prober) probe(x []float32, y []bool, nTrain, d int) (*probeLayer, error) {
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
	srv, err := compile.StartServer(p.bin, 0)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	res, err := srv.Do(compile.RunRequest{Cmd: "step", Steps: p.steps, Inputs: map[string]runtime.JSONTensor{"X": X, "y": Y}})
	if err != nil {
		return nil, err
	}
	out := &probeLayer{TrainLoss: float64(res.Losses[len(res.Losses)-1])}
	if res, err = srv.Do(compile.RunRequest{Cmd: "get"}); err != nil {
		return nil, err
	}
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
	out.predict = func(i int) bool { return logit(i) > 0 }
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
