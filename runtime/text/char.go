package text

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// CharTokenizer is a character-level tokenizer over Unicode code points
// (runes of UTF-8 text), so a model sees "é" or "→" as one token as a reader
// would.
//
// Ids 0..n-1 are the n characters of its vocabulary in increasing code point
// order; ids n..n+255 are byte-fallback tokens for the bytes 0x00..0xFF.
// Encode uses a character's own id when it has one and the fallback tokens of
// its UTF-8 bytes otherwise (and for bytes that are not valid UTF-8), so any
// byte sequence round-trips exactly. The fallback costs 256 ids that text
// like the training corpus rarely uses, in exchange for every id decoding on
// its own: a model cannot emit an id sequence that fails to decode.
type CharTokenizer struct {
	chars []rune
	ascii [utf8.RuneSelf]int32 // id of each ASCII character, -1 if not in chars
}

// CharOptions controls which characters TrainChar keeps; the zero value
// keeps every character of the corpus.
type CharOptions struct {
	// MinCount drops characters seen fewer times (they fall back to bytes);
	// 0 means 1.
	MinCount int
	// MaxChars keeps only the most frequent characters (ties: lower code
	// point first); 0 means no limit.
	MaxChars int
}

// TrainChar builds a character vocabulary from the valid UTF-8 characters of
// docs; invalid bytes are left to the byte fallback.
func TrainChar(docs [][]byte, opts CharOptions) (*CharTokenizer, error) {
	if opts.MinCount < 0 {
		return nil, fmt.Errorf("text: train char tokenizer: MinCount is %d, want >= 0", opts.MinCount)
	}
	if opts.MaxChars < 0 {
		return nil, fmt.Errorf("text: train char tokenizer: MaxChars is %d, want >= 0", opts.MaxChars)
	}
	minCount := max(opts.MinCount, 1)
	var asciiCount [utf8.RuneSelf]int
	other := map[rune]int{}
	for _, doc := range docs {
		for i := 0; i < len(doc); {
			if c := doc[i]; c < utf8.RuneSelf {
				asciiCount[c]++
				i++
				continue
			}
			r, size := decodeRune(doc[i:])
			if r >= 0 {
				other[r]++
			}
			i += size
		}
	}
	type charCount struct {
		r rune
		n int
	}
	var kept []charCount
	for c, n := range asciiCount {
		if n >= minCount {
			kept = append(kept, charCount{rune(c), n})
		}
	}
	for r, n := range other {
		if n >= minCount {
			kept = append(kept, charCount{r, n})
		}
	}
	if opts.MaxChars > 0 && len(kept) > opts.MaxChars {
		slices.SortFunc(kept, func(a, b charCount) int {
			if c := cmp.Compare(b.n, a.n); c != 0 {
				return c
			}
			return cmp.Compare(a.r, b.r)
		})
		kept = kept[:opts.MaxChars]
	}
	chars := make([]rune, len(kept))
	for i, k := range kept {
		chars[i] = k.r
	}
	slices.Sort(chars)
	return newChar(chars)
}

// NewChar returns the tokenizer whose vocabulary is chars, which must be
// valid, distinct code points (in any order).
func NewChar(chars []rune) (*CharTokenizer, error) {
	c := slices.Clone(chars)
	slices.Sort(c)
	for i, r := range c {
		if !utf8.ValidRune(r) {
			return nil, fmt.Errorf("text: new char tokenizer: %U is not a valid character", r)
		}
		if i > 0 && c[i-1] == r {
			return nil, fmt.Errorf("text: new char tokenizer: %U appears twice", r)
		}
	}
	return newChar(c)
}

// newChar builds the tokenizer from sorted, distinct, valid runes.
func newChar(chars []rune) (*CharTokenizer, error) {
	t := &CharTokenizer{chars: chars}
	for i := range t.ascii {
		t.ascii[i] = -1
	}
	for id, r := range chars {
		if r < utf8.RuneSelf {
			t.ascii[r] = int32(id)
		}
	}
	return t, nil
}

// Chars returns the vocabulary's characters in id order.
func (t *CharTokenizer) Chars() []rune { return slices.Clone(t.chars) }

// VocabSize is the number of characters plus the 256 byte-fallback tokens.
func (t *CharTokenizer) VocabSize() int { return len(t.chars) + 256 }

// Encode returns the token ids of b.
func (t *CharTokenizer) Encode(b []byte) []int {
	return t.AppendEncode(make([]int, 0, len(b)), b)
}

// AppendEncode appends the token ids of b to dst.
func (t *CharTokenizer) AppendEncode(dst []int, b []byte) []int {
	fallback := len(t.chars)
	for i := 0; i < len(b); {
		if c := b[i]; c < utf8.RuneSelf {
			if id := t.ascii[c]; id >= 0 {
				dst = append(dst, int(id))
			} else {
				dst = append(dst, fallback+int(c))
			}
			i++
			continue
		}
		r, size := decodeRune(b[i:])
		if r >= 0 {
			if id, ok := slices.BinarySearch(t.chars, r); ok {
				dst = append(dst, id)
				i += size
				continue
			}
		}
		for _, c := range b[i : i+size] {
			dst = append(dst, fallback+int(c))
		}
		i += size
	}
	return dst
}

// Decode returns the bytes of ids.
func (t *CharTokenizer) Decode(ids []int) ([]byte, error) {
	out := make([]byte, 0, len(ids))
	n := len(t.chars)
	for pos, id := range ids {
		switch {
		case id >= 0 && id < n:
			out = utf8.AppendRune(out, t.chars[id])
		case id >= n && id < n+256:
			out = append(out, byte(id-n))
		default:
			return nil, outOfRange(pos, id, n+256)
		}
	}
	return out, nil
}

// TokenString names a token: its character, or <0xNN> for a fallback byte.
func (t *CharTokenizer) TokenString(id int) string {
	n := len(t.chars)
	switch {
	case id >= 0 && id < n:
		return string(t.chars[id])
	case id >= n && id < n+256:
		return fmt.Sprintf("<0x%02X>", id-n)
	}
	return fmt.Sprintf("<invalid id %d>", id)
}

// charFile is the saved form. Chars holds the vocabulary as one string in
// increasing code point order, which keeps the file readable.
type charFile struct {
	Kind      string  `json:"kind"`
	Version   int     `json:"version"`
	VocabSize int     `json:"vocab_size"`
	Chars     *string `json:"chars"`
}

// MarshalJSON is the saved form read back by Load.
func (t *CharTokenizer) MarshalJSON() ([]byte, error) {
	chars := string(t.chars)
	return json.Marshal(charFile{Kind: KindChar, Version: Version, VocabSize: t.VocabSize(), Chars: &chars})
}

// Fingerprint is the hex SHA-256 of the saved form.
func (t *CharTokenizer) Fingerprint() string {
	b, _ := t.MarshalJSON() // cannot fail: a string and ints
	return fingerprint(b)
}

func (f *charFile) tokenizer() (*CharTokenizer, error) {
	if f.Chars == nil {
		return nil, errors.New(`char tokenizer: missing "chars"`)
	}
	var chars []rune
	s := *f.Chars
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, fmt.Errorf("char tokenizer: chars: invalid UTF-8 at byte %d", i)
		}
		if len(chars) > 0 && r <= chars[len(chars)-1] {
			return nil, fmt.Errorf("char tokenizer: chars: %U at byte %d is not after %U (want increasing code points, no repeats)", r, i, chars[len(chars)-1])
		}
		chars = append(chars, r)
		i += size
	}
	if want := len(chars) + 256; f.VocabSize != want {
		return nil, fmt.Errorf("char tokenizer: vocab_size is %d, but %d chars + 256 bytes make %d", f.VocabSize, len(chars), want)
	}
	return newChar(chars)
}

// decodeRune is utf8.DecodeRune that tells an invalid byte (r = -1, size 1)
// apart from a genuine U+FFFD in the text.
func decodeRune(b []byte) (r rune, size int) {
	r, size = utf8.DecodeRune(b)
	if r == utf8.RuneError && size <= 1 {
		return -1, 1
	}
	return r, size
}
