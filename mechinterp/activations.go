package mechinterp

import (
	"bytes"
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime/corpus"
	"github.com/mlc-dev/mlc/runtime/text"
)

// What probes and SAEs share: text documents cut into the tokens of a
// trained language model, windows of them run through the frozen model,
// and the rows of its tapped activations (the residual stream after each
// block) gathered per token.

// Doc is one document in the tokens of a model's tokenizer.
type Doc struct {
	Name string
	Text []byte
	IDs  []int32
	Off  []int // Off[i] is the byte offset where token i starts; Off[len(IDs)] == len(Text)
	// Labels are the probes' 0/1 label of each token (nil when unlabelled).
	Labels []bool
}

// TokenBytes lists the bytes each token id stands for.
func TokenBytes(tok text.Tokenizer) ([][]byte, error) {
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

// TokenizeDoc encodes data and records where each token starts. The probes
// label tokens by their bytes, so a tokenizer whose tokens do not
// concatenate back to the text cannot be used.
func TokenizeDoc(tok text.Tokenizer, pieces [][]byte, name string, data []byte) (*Doc, error) {
	d := &Doc{Name: name, Text: data}
	pos := 0
	for _, id := range tok.Encode(data) {
		p := pieces[id]
		if !bytes.HasPrefix(data[pos:], p) {
			return nil, fmt.Errorf("%s: the tokenizer's tokens do not spell out the text at byte %d", name, pos)
		}
		d.IDs = append(d.IDs, int32(id))
		d.Off = append(d.Off, pos)
		pos += len(p)
	}
	if pos != len(data) {
		return nil, fmt.Errorf("%s: the tokenizer's tokens cover %d of %d bytes", name, pos, len(data))
	}
	d.Off = append(d.Off, pos)
	return d, nil
}

// CorpusFiles reads the text at path (default: the Go standard library's
// source) and returns its files in a fixed pseudo-random order (by a hash
// of each path), so that the first few files are spread over the whole
// tree and the same files come first on every machine. maxBytes caps what
// is read (corpus.Options.MaxBytes); 0 reads everything.
func CorpusFiles(path string, maxBytes int64) ([]corpus.File, string, error) {
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

// Window is a run of at most ctx tokens of one document, which the model
// reads on its own from its first token; the analyses read the rows of
// positions From..N-1 only, so that every token read has context before it.
type Window struct {
	Doc, Start, N, From int
}

// DocWindows cuts a document of ntok tokens into windows of ctx tokens
// whose read parts tile it: the first window is read from its first token,
// every later one starts lead tokens before its read part, so each token is
// read with at least lead tokens of context (or all of them since the start
// of the file). At most perDoc windows are kept (0: all), evenly spaced
// over the document so that one long file does not dominate and the
// windows are not all file headers.
func DocWindows(doc, ntok, ctx, lead, perDoc int) []Window {
	lead = min(max(lead, 0), ctx-1)
	var all []Window
	for s := 0; s < ntok; {
		w := Window{Doc: doc, Start: max(s-lead, 0)}
		w.From = s - w.Start
		w.N = min(ctx, ntok-w.Start)
		all = append(all, w)
		s = w.Start + w.N
	}
	if perDoc <= 0 || len(all) <= perDoc {
		return all
	}
	out := make([]Window, perDoc)
	for i := range out {
		out[i] = all[i*len(all)/perDoc]
	}
	return out
}

// Selection is the documents an analysis reads and the windows it takes
// from each, split by document into a training and a held-out part.
type Selection struct {
	Docs           []*Doc
	Train, HeldOut []Window
}

// SelectWindows takes documents in order until their windows hold budget
// tokens (0: every document); every k-th document taken is held out, so
// no held-out token shares a file with a training token.
func SelectWindows(docs []*Doc, ctx, lead, perDoc, budget, k int) (*Selection, error) {
	if k < 2 {
		return nil, fmt.Errorf("hold out every k-th document: k must be at least 2, got %d", k)
	}
	s := &Selection{}
	total := 0
	for _, d := range docs {
		if budget > 0 && total >= budget {
			break
		}
		if len(d.IDs) == 0 {
			continue
		}
		i := len(s.Docs)
		s.Docs = append(s.Docs, d)
		ws := DocWindows(i, len(d.IDs), ctx, lead, perDoc)
		for _, w := range ws {
			total += w.N - w.From
		}
		if i%k == k-1 {
			s.HeldOut = append(s.HeldOut, ws...)
		} else {
			s.Train = append(s.Train, ws...)
		}
	}
	if len(s.Train) == 0 || len(s.HeldOut) == 0 {
		return nil, fmt.Errorf("need at least %d documents with text to hold one out by file; got %d", k, len(s.Docs))
	}
	return s, nil
}

// All is the training windows followed by the held-out ones.
func (s *Selection) All() []Window {
	return append(slices.Clone(s.Train), s.HeldOut...)
}

// Counts gives the documents and tokens of each part.
func (s *Selection) Counts() (trainDocs, heldDocs, trainTok, heldTok int) {
	seen := map[int]bool{}
	for _, w := range s.Train {
		trainTok += w.N - w.From
		if !seen[w.Doc] {
			seen[w.Doc] = true
			trainDocs++
		}
	}
	for _, w := range s.HeldOut {
		heldTok += w.N - w.From
		if !seen[w.Doc] {
			seen[w.Doc] = true
			heldDocs++
		}
	}
	return
}

// TokRef names one token: document and position.
type TokRef struct{ Doc, Tok int32 }

// Activations are the rows of tapped activations, one per token, in the
// order of the windows they were collected from.
type Activations struct {
	D    int                  // the width of a row
	Rows []TokRef             // the token of each row
	X    map[string][]float32 // by tap: [len(Rows), D], row-major
}

// Row is row i of a tap.
func (a *Activations) Row(tap string, i int) []float32 { return a.X[tap][i*a.D : (i+1)*a.D] }

// LMShape checks that the program's Predict takes one i32 input [batch,
// ctx] (a causal LM's token ids) and returns its name, batch and ctx.
func LMShape(p *graph.Program) (string, int, int, error) {
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

// Progress is told, after each batch a model runs over the text, the
// model's name, the batches done and the batches in all.
type Progress func(model string, done, total int)

// Collect runs the windows through the model, a batch at a time, and
// gathers each tap's row for every token of every window. Padding after a
// short window is never read: the model is causal, so it cannot change the
// rows before it. progress, when not nil, is called after each batch.
func Collect(p Predictor, prog *graph.Program, docs []*Doc, ws []Window, taps []string, progress Progress) (*Activations, error) {
	input, B, T, err := LMShape(prog)
	if err != nil {
		return nil, err
	}
	a := &Activations{X: map[string][]float32{}}
	batches := (len(ws) + B - 1) / B
	for bi := range batches {
		part := ws[bi*B : min(len(ws), (bi+1)*B)]
		idsB := make([]int32, B*T)
		for r, w := range part {
			if w.Doc < 0 || w.Doc >= len(docs) || w.Start < 0 || w.From < 0 || w.N > T || w.Start+w.N > len(docs[w.Doc].IDs) {
				return nil, fmt.Errorf("window %+v does not fit its document or the model's context %d", w, T)
			}
			copy(idsB[r*T:], docs[w.Doc].IDs[w.Start:w.Start+w.N])
		}
		res, err := p.Predict(data.Batch{input: data.IDs(idsB, B, T)})
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
			if a.D == 0 {
				a.D = d
			} else if d != a.D {
				return nil, fmt.Errorf("tap %q is %d wide, the others %d", tap, d, a.D)
			}
			for r, w := range part {
				for p := w.From; p < w.N; p++ {
					for _, v := range j.Data[(r*T+p)*d : (r*T+p+1)*d] {
						a.X[tap] = append(a.X[tap], float32(v))
					}
				}
			}
		}
		for _, w := range part {
			for p := w.From; p < w.N; p++ {
				a.Rows = append(a.Rows, TokRef{Doc: int32(w.Doc), Tok: int32(w.Start + p)})
			}
		}
		if progress != nil {
			progress(prog.Name, bi+1, batches)
		}
	}
	return a, nil
}

// CorpusDocs reads the corpus at path (default: the Go standard library's
// source) and tokenizes its files in CorpusFiles' order until they hold the
// tokens that SelectWindows will read (0: every file).
func (lm *LM) CorpusDocs(path string, tokens, windows, lead int) ([]*Doc, error) {
	files, _, err := CorpusFiles(path, corpusBytes(tokens))
	if err != nil {
		return nil, err
	}
	var docs []*Doc
	n := 0
	for _, f := range files {
		if tokens > 0 && n >= tokens {
			break
		}
		d, err := TokenizeDoc(lm.Tokenizer, lm.Pieces, f.Path, f.Data)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
		for _, w := range DocWindows(0, len(d.IDs), lm.Ctx, lead, windows) {
			n += w.N - w.From
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

// PickLayers resolves a layer spec against the model's residual-stream
// taps: "all", "in" (or "h_in"), a block number l (h{l}.out), a tap name,
// or a comma-separated list of these.
func PickLayers(spec string, taps []string) ([]string, error) {
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

// Activations runs the model over the selection's windows ws and collects
// the given taps (see Collect): it compiles the checkpoint's model with
// those taps and starts it on the engine for the run.
func (lm *LM) Activations(docs []*Doc, ws []Window, taps []string, engine Engine, progress Progress) (*Activations, error) {
	t, err := lm.Start(taps, engine)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return Collect(t, t.Program, docs, ws, taps, progress)
}
