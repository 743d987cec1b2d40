package main

import (
	"bytes"
	"cmp"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/corpus"
	"github.com/mlc-dev/mlc/runtime/text"
)

// What mlc probe and mlc sae share: text documents cut into the tokens of
// a trained language model, windows of them run through the frozen model,
// and the rows of its tapped activations (the residual stream after each
// block) gathered per token.

// lmDoc is one document in the tokens of a model's tokenizer.
type lmDoc struct {
	name string
	text []byte
	ids  []int32
	off  []int // off[i] is the byte offset where token i starts; off[len(ids)] == len(text)
	// labels are the probes' 0/1 label of each token (nil elsewhere).
	labels []bool
}

// tokenBytes lists the bytes each token id stands for.
func tokenBytes(tok text.Tokenizer) ([][]byte, error) {
	out := make([][]byte, tok.VocabSize())
	for id := range out {
		b, err := tok.Decode([]int{id})
		if err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, nil
}

// tokenize encodes data and records where each token starts. The probes
// label tokens by their bytes, so a tokenizer whose tokens do not
// concatenate back to the text cannot be used.
func tokenizeDoc(tok text.Tokenizer, pieces [][]byte, name string, data []byte) (*lmDoc, error) {
	d := &lmDoc{name: name, text: data}
	pos := 0
	for _, id := range tok.Encode(data) {
		p := pieces[id]
		if !bytes.HasPrefix(data[pos:], p) {
			return nil, fmt.Errorf("%s: the tokenizer's tokens do not spell out the text at byte %d", name, pos)
		}
		d.ids = append(d.ids, int32(id))
		d.off = append(d.off, pos)
		pos += len(p)
	}
	if pos != len(data) {
		return nil, fmt.Errorf("%s: the tokenizer's tokens cover %d of %d bytes", name, pos, len(data))
	}
	d.off = append(d.off, pos)
	return d, nil
}

// corpusDocs reads the text at path (default: the Go standard library's
// source) and returns its files in a fixed pseudo-random order (by a hash
// of each path), so that the first few files are spread over the whole
// tree and the same files come first on every machine. maxBytes caps what
// is read (corpus.Options.MaxBytes); 0 reads everything.
func corpusDocs(path string, maxBytes int64) ([]corpus.File, string, error) {
	c, err := corpus.Load(path, corpus.Options{MaxBytes: maxBytes})
	if err != nil {
		return nil, "", err
	}
	files := append(slices.Clone(c.Train.Files), c.Val.Files...)
	if len(files) == 0 {
		return nil, "", fmt.Errorf("%s: no text", c.Root)
	}
	if len(c.Train.Files) == 1 && len(c.Val.Files) == 1 && c.Train.Files[0].Path == c.Val.Files[0].Path {
		// A single file: corpus.Load split it by position; it is one document.
		files = []corpus.File{{Path: c.Train.Files[0].Path, Data: append(slices.Clone(c.Train.Files[0].Data), c.Val.Files[0].Data...)}}
	}
	slices.SortFunc(files, func(a, b corpus.File) int {
		return cmp.Or(cmp.Compare(pathHash(a.Path), pathHash(b.Path)), strings.Compare(a.Path, b.Path))
	})
	return files, c.Root, nil
}

func pathHash(p string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(p))
	return h.Sum64()
}

// tokWindow is a run of at most ctx tokens of one document, which the model
// reads on its own from its first token; the analyses read the rows of
// positions from..n-1 only, so that every token read has context before it.
type tokWindow struct {
	doc, start, n, from int
}

// docWindows cuts a document of ntok tokens into windows of ctx tokens whose
// read parts tile it: the first window is read from its first token, every
// later one starts lead tokens before its read part, so each token is read
// with at least lead tokens of context (or all of them since the start of
// the file). At most perDoc windows are kept (0: all), evenly spaced over
// the document so that one long file does not dominate and the windows are
// not all file headers.
func docWindows(doc, ntok, ctx, lead, perDoc int) []tokWindow {
	lead = min(max(lead, 0), ctx-1)
	var all []tokWindow
	for s := 0; s < ntok; {
		w := tokWindow{doc: doc, start: max(s-lead, 0)}
		w.from = s - w.start
		w.n = min(ctx, ntok-w.start)
		all = append(all, w)
		s = w.start + w.n
	}
	if perDoc <= 0 || len(all) <= perDoc {
		return all
	}
	out := make([]tokWindow, perDoc)
	for i := range out {
		out[i] = all[i*len(all)/perDoc]
	}
	return out
}

// tokSelection is the documents an analysis reads and the windows it takes
// from each, split by document into a training and a held-out part.
type tokSelection struct {
	docs           []*lmDoc
	train, heldOut []tokWindow
}

// selectWindows takes documents in order until their windows hold budget
// tokens (0: every document); every k-th document taken is held out, so
// no held-out token shares a file with a training token.
func selectWindows(docs []*lmDoc, ctx, lead, perDoc, budget, k int) (*tokSelection, error) {
	s := &tokSelection{}
	total := 0
	for _, d := range docs {
		if budget > 0 && total >= budget {
			break
		}
		if len(d.ids) == 0 {
			continue
		}
		i := len(s.docs)
		s.docs = append(s.docs, d)
		ws := docWindows(i, len(d.ids), ctx, lead, perDoc)
		for _, w := range ws {
			total += w.n - w.from
		}
		if i%k == k-1 {
			s.heldOut = append(s.heldOut, ws...)
		} else {
			s.train = append(s.train, ws...)
		}
	}
	if len(s.train) == 0 || len(s.heldOut) == 0 {
		return nil, fmt.Errorf("need at least %d documents with text to hold one out by file; got %d", k, len(s.docs))
	}
	return s, nil
}

// counts gives the documents and tokens of each part.
func (s *tokSelection) counts() (trainDocs, heldDocs, trainTok, heldTok int) {
	seen := map[int]bool{}
	for _, w := range s.train {
		trainTok += w.n - w.from
		if !seen[w.doc] {
			seen[w.doc] = true
			trainDocs++
		}
	}
	for _, w := range s.heldOut {
		heldTok += w.n - w.from
		if !seen[w.doc] {
			seen[w.doc] = true
			heldDocs++
		}
	}
	return
}

// tokRef names one token: document and position.
type tokRef struct{ doc, tok int32 }

// actRows are the rows of tapped activations, one per token, in the order of
// the windows they were collected from.
type actRows struct {
	d    int
	rows []tokRef
	x    map[string][]float32 // by tap: [len(rows), d], row-major
}

func (a *actRows) row(tap string, i int) []float32 { return a.x[tap][i*a.d : (i+1)*a.d] }

// lmShape checks that the model's Predict takes one i32 input [batch, ctx]
// (a causal LM's token ids) and returns its name, batch and ctx.
func lmShape(p *graph.Program) (string, int, int, error) {
	ins := p.Predict.Inputs()
	if len(ins) != 1 || ins[0].Type.DType != graph.I32 || ins[0].Type.Shape.Rank() != 2 {
		var names []string
		for _, in := range ins {
			names = append(names, in.Name+" "+in.Type.String())
		}
		return "", 0, 0, fmt.Errorf("%s: mlc reads activations of models whose Predict takes token ids [batch, ctx] only; it takes %s", p.Name, strings.Join(names, ", "))
	}
	s := ins[0].Type.Shape
	return ins[0].Name, s[0], s[1], nil
}

// collectActs runs the windows through the model, a batch at a time, and
// gathers each tap's row for every token of every tokWindow. Padding after a
// short tokWindow is never read: the model is causal, so it cannot change the
// rows before it.
func collectActs(c *cli, t *trainedModel, docs []*lmDoc, ws []tokWindow, taps []string) (*actRows, error) {
	input, B, T, err := lmShape(t.prog)
	if err != nil {
		return nil, err
	}
	a := &actRows{x: map[string][]float32{}}
	batches := (len(ws) + B - 1) / B
	f, ok := c.stderr.(*os.File)
	progress := ok && term.IsTerminal(int(f.Fd())) && batches > 1
	for bi := range batches {
		part := ws[bi*B : min(len(ws), (bi+1)*B)]
		idsB := make([]int32, B*T)
		for r, w := range part {
			copy(idsB[r*T:], docs[w.doc].ids[w.start:w.start+w.n])
		}
		res, err := t.predict(map[string]runtime.JSONTensor{input: data.IDs(idsB, B, T)})
		if err != nil {
			return nil, err
		}
		for _, tap := range taps {
			j, ok := res.Taps[tap]
			if !ok {
				return nil, fmt.Errorf("the runner returned no tap %q", tap)
			}
			if len(j.Shape) != 3 || j.Shape[0] != B || j.Shape[1] != T {
				return nil, fmt.Errorf("tap %q has shape %v; want [%d, %d, d], a value per token", tap, j.Shape, B, T)
			}
			d := j.Shape[2]
			if a.d == 0 {
				a.d = d
			} else if d != a.d {
				return nil, fmt.Errorf("tap %q is %d wide, the others %d", tap, d, a.d)
			}
			for r, w := range part {
				for p := w.from; p < w.n; p++ {
					for _, v := range j.Data[(r*T+p)*d : (r*T+p+1)*d] {
						a.x[tap] = append(a.x[tap], float32(v))
					}
				}
			}
		}
		for _, w := range part {
			for p := w.from; p < w.n; p++ {
				a.rows = append(a.rows, tokRef{doc: int32(w.doc), tok: int32(w.start + p)})
			}
		}
		if progress {
			fmt.Fprintf(c.stderr, "\rrunning %s over the text: batch %d/%d", t.m.Name, bi+1, batches)
		}
	}
	if progress {
		fmt.Fprintln(c.stderr)
	}
	return a, nil
}

// ckptInfo is what the analyses need to know about a language model's
// checkpoint before they compile it.
type ckptInfo struct {
	model  string
	taps   []string // residual-stream taps, in layer order
	ctx    int
	tok    text.Tokenizer
	pieces [][]byte // the bytes of each token id
}

func inspectCheckpoint(dir, model string) (*ckptInfo, error) {
	oc, err := openCheckpoint(dir, model, "")
	if err != nil {
		return nil, err
	}
	taps, err := checkpointTaps(oc)
	if err != nil {
		return nil, err
	}
	info := &ckptInfo{model: oc.st.Model, taps: taps, ctx: configInt(oc.m, "ctx")}
	if info.tok, err = oc.tokenizer(); err != nil {
		return nil, err
	}
	if info.tok == nil || info.ctx <= 0 {
		return nil, fmt.Errorf("%s: %s was not trained on text; probes and SAEs read a language model's activations", oc.path, oc.st.Model)
	}
	if info.pieces, err = tokenBytes(info.tok); err != nil {
		return nil, err
	}
	return info, nil
}

// corpusLMDocs reads the corpus at path (default: the Go standard
// library's source) and tokenizes its files in corpusDocs' order until they
// hold the tokens that selectWindows will read (0: every file).
func corpusLMDocs(path string, info *ckptInfo, tokens, windows, lead int) ([]*lmDoc, error) {
	files, _, err := corpusDocs(path, corpusBytes(tokens))
	if err != nil {
		return nil, err
	}
	var docs []*lmDoc
	n := 0
	for _, f := range files {
		if tokens > 0 && n >= tokens {
			break
		}
		d, err := tokenizeDoc(info.tok, info.pieces, f.Path, f.Data)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
		for _, w := range docWindows(0, len(d.ids), info.ctx, lead, windows) {
			n += w.n - w.from
		}
	}
	return docs, nil
}

// corpusBytes is how much text to read for a token budget. corpus.Load
// stops at the first file that would pass its cap, and the windows take only
// a part of each file, so the cap is generous: the files are only
// tokenized until the budget is met.
func corpusBytes(tokens int) int64 {
	if tokens == 0 {
		return 0
	}
	return max(16<<20, int64(tokens)*64)
}

// layerTap matches the taps that hold the residual stream: the embedding
// (h_in, before the first block) and the output of block l (h{l}.out).
var layerTap = regexp.MustCompile(`^h(_in|[0-9]+\.out)$`)

// checkpointTaps lists the residual-stream taps of the model a checkpoint
// was trained as, in layer order, without compiling it.
func checkpointTaps(oc *openedCheckpoint) ([]string, error) {
	st, m := oc.st, oc.m
	g := m.forward()
	var taps []string
	for _, o := range g.Taps() {
		if layerTap.MatchString(o.Name) {
			taps = append(taps, o.Name)
		}
	}
	if len(taps) == 0 {
		return nil, fmt.Errorf("%s taps no residual stream (h_in, h0.out, …): nothing to read activations from", st.Model)
	}
	return taps, nil
}

// pickLayers resolves -layer against the model's residual-stream taps:
// "all", "in" (or "h_in"), a block number l (h{l}.out), a tap name, or a
// comma-separated list of these.
func pickLayers(spec string, taps []string) ([]string, error) {
	if spec == "all" {
		return taps, nil
	}
	var out []string
	for _, s := range strings.Split(spec, ",") {
		s = strings.TrimSpace(s)
		name := s
		if s == "in" {
			name = "h_in"
		} else if l, err := strconv.Atoi(s); err == nil {
			name = "h" + strconv.Itoa(l) + ".out"
		}
		if !slices.Contains(taps, name) {
			return nil, fmt.Errorf("-layer %q: the model has no layer %q (layers: all, in, 0…%d, or a tap: %s)", spec, s, len(taps)-2, strings.Join(taps, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// float32JSON converts float32 rows for the runner.
func float32JSON(xs []float32) []runtime.JSONFloat {
	out := make([]runtime.JSONFloat, len(xs))
	for i, v := range xs {
		out[i] = runtime.JSONFloat(v)
	}
	return out
}

// startCompiled builds a compiled program's runner and starts it.
func startCompiled(res *compile.Result, seed uint64) (*compile.Server, error) {
	bin, err := compile.BuildRunner(res.Program)
	if err != nil {
		return nil, err
	}
	return compile.StartServer(bin, seed)
}
