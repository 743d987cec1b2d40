package text

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxTokenBytes bounds the length of one BPE token. Training skips merges
// that would make a longer token and Load rejects them, so a saved
// tokenizer's size stays proportional to its vocabulary (merging a token
// with itself doubles its length: without a bound, 64 merges could describe
// a 2⁶⁴-byte token).
const MaxTokenBytes = 256

// Merge is one learned BPE merge: the tokens Left and Right, adjacent, become
// the token 256+i, where i is the merge's index.
type Merge struct {
	Left, Right int
	// Count is how often the pair occurred when training chose it (0 when
	// unknown, e.g. loaded from a file without counts).
	Count int64
}

// BPE is a byte-level byte-pair-encoding tokenizer. Ids 0..255 are the bytes
// themselves and id 256+i is the result of merge i, so any byte sequence
// round-trips exactly.
//
// Encode first cuts the input into words with the tokenizer's Split, then
// encodes each word by applying the merges in the order they were learned
// (equivalently: repeatedly merge the leftmost adjacent pair of lowest merge
// index). A BPE is safe for concurrent use.
//
// Tokens are ids, not strings: every merge makes a new id, even when its
// bytes equal an earlier token's (reachable by different merges, as
// (ab, c) and (a, bc) both make "abc"). Such twins are rare and harmless:
// both decode to the same bytes.
type BPE struct {
	split  Split
	merges []Merge
	ranks  map[uint64]int32 // pack(left, right) → merge index
	tokens tokenTable       // the bytes of each id
}

// pack makes one map key of a pair of token ids.
func pack(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// newBPE checks merges and builds the tokenizer.
func newBPE(split Split, merges []Merge) (*BPE, error) {
	if err := split.check(); err != nil {
		return nil, err
	}
	t := &BPE{
		split:  split,
		merges: merges,
		ranks:  make(map[uint64]int32, len(merges)),
		tokens: make([][]byte, 256, 256+len(merges)),
	}
	for b := range 256 {
		t.tokens[b] = []byte{byte(b)}
	}
	for i, m := range merges {
		id := 256 + i
		if m.Left < 0 || m.Left >= id || m.Right < 0 || m.Right >= id {
			return nil, fmt.Errorf("merge %d makes id %d from [%d, %d], but only ids below %d exist before it", i, id, m.Left, m.Right, id)
		}
		if m.Count < 0 {
			return nil, fmt.Errorf("merge %d has count %d, want >= 0", i, m.Count)
		}
		k := pack(int32(m.Left), int32(m.Right))
		if j, dup := t.ranks[k]; dup {
			return nil, fmt.Errorf("merge %d repeats merge %d [%d, %d]", i, j, m.Left, m.Right)
		}
		l, r := t.tokens[m.Left], t.tokens[m.Right]
		if len(l)+len(r) > MaxTokenBytes {
			return nil, fmt.Errorf("merge %d makes a token of %d bytes, more than MaxTokenBytes = %d", i, len(l)+len(r), MaxTokenBytes)
		}
		t.ranks[k] = int32(i)
		tok := make([]byte, 0, len(l)+len(r))
		t.tokens = append(t.tokens, append(append(tok, l...), r...))
	}
	return t, nil
}

// NewBPE returns the tokenizer with the given merges (as returned by Merges).
func NewBPE(split Split, merges []Merge) (*BPE, error) {
	t, err := newBPE(split, append([]Merge(nil), merges...))
	if err != nil {
		return nil, fmt.Errorf("text: new bpe: %w", err)
	}
	return t, nil
}

// Split is how the tokenizer cuts text into words.
func (t *BPE) Split() Split { return t.split }

// Merges returns the merges in the order they were learned.
func (t *BPE) Merges() []Merge { return append([]Merge(nil), t.merges...) }

// VocabSize is 256 plus the number of merges.
func (t *BPE) VocabSize() int { return len(t.tokens) }

// TokenString is the token's bytes, with bytes that are not valid UTF-8
// shown as <0xNN>.
func (t *BPE) TokenString(id int) string {
	return t.tokens.tokenString(id)
}

// Decode returns the bytes of ids.
func (t *BPE) Decode(ids []int) ([]byte, error) {
	return t.tokens.decode(ids)
}

// Encode returns the token ids of b.
func (t *BPE) Encode(b []byte) []int {
	return t.AppendEncode(make([]int, 0, len(b)/3+1), b)
}

// AppendEncode appends the token ids of b to dst.
func (t *BPE) AppendEncode(dst []int, b []byte) []int {
	var e bpeEncoder
	for w := range t.split.Words(b) {
		dst = e.word(t, dst, w)
	}
	return dst
}

// bpeEncoder holds one Encode call's scratch, reused across its words. The
// word's symbols form a linked list (so a merge is O(1)) and candidate merges
// sit in a heap ordered by (merge index, position), which applies merges in
// learned order and, for one merge, left to right.
type bpeEncoder struct {
	ids        []int32 // symbol at each position, -1 once merged into its left neighbour
	next, prev []int32 // linked list of live positions, -1 at the ends
	heap       candHeap
}

type bpeCand struct{ rank, pos int32 }

func (c bpeCand) less(d bpeCand) bool {
	return c.rank < d.rank || c.rank == d.rank && c.pos < d.pos
}

func (e *bpeEncoder) word(t *BPE, dst []int, w []byte) []int {
	if len(w) == 1 || len(t.merges) == 0 {
		for _, c := range w {
			dst = append(dst, int(c))
		}
		return dst
	}
	n := len(w)
	e.ids, e.next, e.prev = resize(e.ids, n), resize(e.next, n), resize(e.prev, n)
	for i, c := range w {
		e.ids[i] = int32(c)
		e.next[i] = int32(i + 1)
		e.prev[i] = int32(i - 1)
	}
	e.next[n-1] = -1
	e.heap = e.heap[:0]
	for i := 0; i+1 < n; i++ {
		e.consider(t, int32(i), int32(i+1))
	}
	for len(e.heap) > 0 {
		c := e.heap.pop()
		m := t.merges[c.rank]
		j := e.next[c.pos]
		// The candidate is stale if either symbol has changed since it was pushed.
		if e.ids[c.pos] != int32(m.Left) || j < 0 || e.ids[j] != int32(m.Right) {
			continue
		}
		e.ids[c.pos] = 256 + c.rank
		e.ids[j] = -1
		k := e.next[j]
		e.next[c.pos] = k
		if k >= 0 {
			e.prev[k] = c.pos
			e.consider(t, c.pos, k)
		}
		if p := e.prev[c.pos]; p >= 0 {
			e.consider(t, p, c.pos)
		}
	}
	for i := int32(0); i >= 0; i = e.next[i] {
		dst = append(dst, int(e.ids[i]))
	}
	return dst
}

// consider pushes the merge of the symbols at positions i and j, if any.
func (e *bpeEncoder) consider(t *BPE, i, j int32) {
	r, ok := t.ranks[pack(e.ids[i], e.ids[j])]
	if !ok {
		return
	}
	e.heap.push(bpeCand{r, i})
}

// candHeap is a binary min-heap of candidate merges by (rank, position).
type candHeap []bpeCand

func (hp *candHeap) push(c bpeCand) {
	*hp = append(*hp, c)
	h := *hp
	for k := len(h) - 1; k > 0; {
		parent := (k - 1) / 2
		if !h[k].less(h[parent]) {
			break
		}
		h[k], h[parent] = h[parent], h[k]
		k = parent
	}
}

func (hp *candHeap) pop() bpeCand {
	h := *hp
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for k := 0; ; {
		l := 2*k + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(h[k]) {
			break
		}
		h[k], h[m] = h[m], h[k]
		k = m
	}
	*hp = h
	return top
}

func resize(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// bpeFile is the saved form: merge i is [left, right] and makes id 256+i.
// Counts are training statistics, kept when known; they do not change
// encoding, so Fingerprint leaves them out.
type bpeFile struct {
	Kind      string  `json:"kind"`
	Version   int     `json:"version"`
	Split     Split   `json:"split"`
	VocabSize int     `json:"vocab_size"`
	Merges    [][]int `json:"merges"`
	Counts    []int64 `json:"counts,omitempty"`
}

// MarshalJSON is the saved form read back by Load.
func (t *BPE) MarshalJSON() ([]byte, error) { return t.marshal(true) }

// Fingerprint is the hex SHA-256 of the saved form without counts, so two
// tokenizers that encode alike have the same fingerprint.
func (t *BPE) Fingerprint() string {
	b, _ := t.marshal(false) // cannot fail: ints and a string
	return fingerprint(b)
}

func (t *BPE) marshal(withCounts bool) ([]byte, error) {
	f := bpeFile{Kind: KindBPE, Version: Version, Split: t.split, VocabSize: t.VocabSize(), Merges: make([][]int, len(t.merges))}
	known := false
	for i, m := range t.merges {
		f.Merges[i] = []int{m.Left, m.Right}
		known = known || m.Count != 0
	}
	if withCounts && known {
		f.Counts = make([]int64, len(t.merges))
		for i, m := range t.merges {
			f.Counts[i] = m.Count
		}
	}
	return json.Marshal(f)
}

func (f *bpeFile) tokenizer() (*BPE, error) {
	if f.Split == "" {
		return nil, errors.New(`bpe tokenizer: missing "split"`)
	}
	if f.Merges == nil {
		return nil, errors.New(`bpe tokenizer: missing "merges"`)
	}
	if f.Counts != nil && len(f.Counts) != len(f.Merges) {
		return nil, fmt.Errorf("bpe tokenizer: %d counts for %d merges", len(f.Counts), len(f.Merges))
	}
	if want := 256 + len(f.Merges); f.VocabSize != want {
		return nil, fmt.Errorf("bpe tokenizer: vocab_size is %d, but 256 bytes + %d merges make %d", f.VocabSize, len(f.Merges), want)
	}
	merges := make([]Merge, len(f.Merges))
	for i, m := range f.Merges {
		if len(m) != 2 {
			return nil, fmt.Errorf("bpe tokenizer: merge %d has %d ids, want 2 ([left, right])", i, len(m))
		}
		merges[i] = Merge{Left: m[0], Right: m[1]}
		if f.Counts != nil {
			merges[i].Count = f.Counts[i]
		}
	}
	t, err := newBPE(f.Split, merges)
	if err != nil {
		return nil, fmt.Errorf("bpe tokenizer: %w", err)
	}
	return t, nil
}
