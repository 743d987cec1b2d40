package data

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/corpus"
)

// The case task trains an encoder-decoder (seq2seq) to write a Go
// identifier of the corpus in snake_case: "ReadFileHeader" →
// "read_file_header", "HTTPServer" → "http_server", "utf8Len" → "utf8_len".
// The model has to find the word boundaries (a lower-case letter or digit
// before an upper-case one; the last capital of an acronym when a
// lower-case letter follows), insert the underscores, so shifting every
// later character, and lower every letter: it needs the whole source
// (encoder) and what it has written so far (decoder).
//
// Tokens are bytes: the source is the identifier's bytes then CasePad; the
// decoder reads CaseStart and the target's bytes, and predicts the target's
// bytes and CaseEnd, then CasePad at the positions after it. Identifiers are
// drawn uniformly from the distinct ones of the corpus (ASCII, with at
// least one capital, that fit the model's src_ctx and ctx); a fixed tenth of
// them, chosen by a hash of the name, are held out for validation, so the
// validation score is on identifiers never seen in training.

// CasePad, CaseStart and CaseEnd are the case task's padding, start and end
// ids: bytes that no identifier holds.
const (
	CasePad, CaseStart, CaseEnd = 0, 1, 2
	caseValPercent              = 10
)

// SnakeCase writes a Go identifier in snake_case (see the case task above).
func SnakeCase(id string) string {
	var b strings.Builder
	isUpper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	isLower := func(c byte) bool { return c >= 'a' && c <= 'z' }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '_' {
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			continue
		}
		if isUpper(c) && i > 0 && b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			prev := id[i-1]
			if isLower(prev) || isDigit(prev) || isUpper(prev) && i+1 < len(id) && isLower(id[i+1]) {
				b.WriteByte('_')
			}
		}
		if isUpper(c) {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return strings.TrimSuffix(b.String(), "_")
}

// caseWord reports whether id is a candidate: ASCII letters, digits and
// '_', with a capital (otherwise the task is a copy).
func caseWord(id string) bool {
	upper := false
	for i := range len(id) {
		c := id[i]
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		default:
			return false
		}
	}
	return upper
}

// CaseSource encodes an identifier as the model's source: its bytes then
// CasePad up to srcCtx. It fails with a one-line error on what the task
// does not cover.
func CaseSource(id string, srcCtx int) ([]int32, error) {
	switch {
	case id == "":
		return nil, fmt.Errorf("the input is empty: give a Go identifier such as readFileHeader")
	case len(id) > srcCtx:
		return nil, fmt.Errorf("the input %q has %d bytes, more than the model's source length src_ctx = %d", id, len(id), srcCtx)
	}
	out := make([]int32, srcCtx)
	for i := range len(id) {
		c := id[i]
		if c <= CaseEnd || c >= 0x80 {
			return nil, fmt.Errorf("the input %q holds byte %#x at %d: the model reads ASCII text", id, c, i)
		}
		out[i] = int32(c)
	}
	return out, nil
}

// CaseOutput is the text of generated target ids: the bytes before the
// first CaseEnd (or CasePad), and whether an end was found.
func CaseOutput(ids []int32) (string, bool) {
	var b strings.Builder
	for _, id := range ids {
		if id == CaseEnd || id == CasePad {
			return b.String(), true
		}
		if id == CaseStart || id < 0 || id > 0xff {
			continue
		}
		b.WriteByte(byte(id))
	}
	return b.String(), false
}

// caseData feeds the case task.
type caseData struct {
	train, val          []string // identifiers
	batch, srcCtx, ctx  int
	rng                 runtime.RNG
	valSet              []Batch
	vocab               int
	fingerprintOfCorpus string
}

func newCaseData(c *corpus.Corpus, o Options) (Dataset, error) {
	d := &caseData{batch: o.Config("batch"), srcCtx: o.Config("src_ctx"), ctx: o.Config("ctx"), vocab: o.Config("vocab"),
		rng: runtime.RNG{State: runtime.SeedFor(o.Seed, "data")}}
	switch {
	case d.vocab < 128:
		return nil, fmt.Errorf("the case task's tokens are ASCII bytes: the model's vocab must be at least 128, got %d", d.vocab)
	case d.srcCtx < 2 || d.ctx < 3:
		return nil, fmt.Errorf("the case task needs src_ctx ≥ 2 and ctx ≥ 3, got %d and %d", d.srcCtx, d.ctx)
	}
	seen := map[string]bool{}
	for _, set := range []*corpus.Set{&c.Train, &c.Val} {
		for _, doc := range set.Docs() {
			identifiers(doc, func(id string) {
				if seen[id] || !caseWord(id) || len(id) > d.srcCtx || len(SnakeCase(id))+1 > d.ctx {
					return
				}
				seen[id] = true
				h := fnv.New32a()
				h.Write([]byte(id))
				if h.Sum32()%100 < caseValPercent {
					d.val = append(d.val, id)
				} else {
					d.train = append(d.train, id)
				}
			})
		}
	}
	slices.Sort(d.train)
	slices.Sort(d.val)
	if len(d.train) < 100 || len(d.val) < d.batch {
		return nil, fmt.Errorf("%s: too few identifiers for the case task (%d training, %d validation) with src_ctx %d and ctx %d", c.Root, len(d.train), len(d.val), d.srcCtx, d.ctx)
	}
	o.Log("case task: %d training and %d held-out identifiers (ASCII, with a capital, ≤ %d bytes), written in snake_case\n", len(d.train), len(d.val), d.srcCtx)
	return d, nil
}

func (d *caseData) Fixed() bool              { return false }
func (d *caseData) Files() map[string][]byte { return nil }
func (d *caseData) Meta() map[string]string  { return nil }
func (d *caseData) State() string            { return rngState(&d.rng) }
func (d *caseData) Restore(s string) error   { return restoreRNG(&d.rng, s) }
func (d *caseData) Next() (Batch, error)     { return d.batchOf(d.draw(d.train)), nil }
func (d *caseData) draw(from []string) []string {
	ids := make([]string, d.batch)
	for i := range ids {
		ids[i] = from[d.rng.Uint64()%uint64(len(from))]
	}
	return ids
}

// batchOf encodes identifiers as src, ids and targets.
func (d *caseData) batchOf(words []string) Batch {
	src := make([]int32, d.batch*d.srcCtx)
	ids, targets := make([]int32, d.batch*d.ctx), make([]int32, d.batch*d.ctx)
	for b, w := range words {
		s, _ := CaseSource(w, d.srcCtx) // the words fit: newCaseData chose them
		copy(src[b*d.srcCtx:], s)
		t := SnakeCase(w)
		row, tgt := ids[b*d.ctx:(b+1)*d.ctx], targets[b*d.ctx:(b+1)*d.ctx]
		row[0] = CaseStart
		for i := range len(t) {
			row[i+1], tgt[i] = int32(t[i]), int32(t[i])
		}
		tgt[len(t)] = CaseEnd // the rest stays CasePad
	}
	return Batch{"src": IDs(src, d.batch, d.srcCtx), "ids": IDs(ids, d.batch, d.ctx), "targets": IDs(targets, d.batch, d.ctx)}
}

// Validation is every held-out identifier up to valBatches batches, in a
// fixed order (the last batch filled up from the start).
func (d *caseData) Validation() []Batch {
	if d.valSet != nil {
		return d.valSet
	}
	n := min(valBatches, (len(d.val)+d.batch-1)/d.batch)
	for i := range n {
		words := make([]string, d.batch)
		for j := range words {
			words[j] = d.val[(i*d.batch+j)%len(d.val)]
		}
		d.valSet = append(d.valSet, d.batchOf(words))
	}
	return d.valSet
}

// Score counts the sequences of a batch whose every target, up to and
// including CaseEnd, is the argmax of the logits: the exact matches of
// teacher-forced prediction, which are exactly those greedy decoding gets
// right (each step then reads the tokens the targets hold).
func (d *caseData) Score(batch Batch, outputs map[string]runtime.JSONTensor) (correct, total int, err error) {
	return ExactMatch(batch["targets"], outputs["logits"], CaseEnd)
}

// ScoreName names what Score counts.
func (d *caseData) ScoreName() string { return "exact match" }

// ExactMatch counts the rows of targets [B, T] whose tokens, up to and
// including the first end id, are all the argmax of logits [B, T, V].
func ExactMatch(targets, logits runtime.JSONTensor, end int32) (correct, total int, err error) {
	if len(targets.Shape) != 2 || len(logits.Shape) != 3 || logits.Shape[0] != targets.Shape[0] || logits.Shape[1] != targets.Shape[1] {
		return 0, 0, fmt.Errorf("exact match: want targets [B, T] and logits [B, T, V], got %v and %v", targets.Shape, logits.Shape)
	}
	B, T, V := logits.Shape[0], logits.Shape[1], logits.Shape[2]
	for b := range B {
		ok := true
		for t := range T {
			row := logits.Data[(b*T+t)*V : (b*T+t+1)*V]
			best := 0
			for v := range row {
				if row[v] > row[best] {
					best = v
				}
			}
			want := int32(targets.Data[b*T+t])
			if int32(best) != want {
				ok = false
				break
			}
			if want == end {
				break
			}
		}
		if ok {
			correct++
		}
	}
	return correct, B, nil
}
