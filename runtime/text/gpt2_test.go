package text

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// toyGPT2 writes a GPT-2-format vocabulary (encoder.json, vocab.bpe) of the
// 256 bytes, in byte order, and the given merges of raw text, and loads it.
func toyGPT2Files(merges [][2]string) (encoder, vocab []byte) {
	enc := map[string]int{}
	for b := range 256 {
		enc[gpt2String([]byte{byte(b)})] = b
	}
	var v strings.Builder
	v.WriteString("#version: 0.2\n")
	for _, m := range merges {
		l, r := gpt2String([]byte(m[0])), gpt2String([]byte(m[1]))
		if _, ok := enc[l+r]; !ok {
			enc[l+r] = len(enc)
		}
		v.WriteString(l + " " + r + "\n")
	}
	encoder, _ = json.Marshal(enc)
	return encoder, []byte(v.String())
}

func toyGPT2(t testing.TB, merges [][2]string) *GPT2 {
	t.Helper()
	enc, vocab := toyGPT2Files(merges)
	tok, err := LoadGPT2(bytes.NewReader(enc), bytes.NewReader(vocab))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGPT2ByteAlphabet: GPT-2's bytes_to_unicode keeps the 188 printable
// Latin-1 bytes and maps the other 68, in order, to U+0100..U+0143.
func TestGPT2ByteAlphabet(t *testing.T) {
	for _, tc := range []struct {
		b    byte
		want rune
	}{{'!', '!'}, {'~', '~'}, {0xA1, '¡'}, {0xFF, 'ÿ'}, {0, 0x100}, {' ', 'Ġ'}, {'\n', 'Ċ'}, {'\t', 'ĉ'}, {0x7F, 0x100 + 33}, {0xAD, 0x143}} {
		if got := gpt2ByteRunes[tc.b]; got != tc.want {
			t.Errorf("byte 0x%02X → %U, want %U", tc.b, got, tc.want)
		}
	}
	if len(gpt2RuneBytes) != 256 {
		t.Errorf("%d distinct characters for 256 bytes", len(gpt2RuneBytes))
	}
}

// TestGPT2Words: the pre-tokenizer cuts as GPT-2's pattern does, worked out
// by hand from the pattern (TestGPT2MatchesJavaScript checks the same cuts
// against JavaScript's regular expression engine where node is installed).
func TestGPT2Words(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"it's they're I'll we've I'm he'd don't", []string{"it", "'s", " they", "'re", " I", "'ll", " we", "'ve", " I", "'m", " he", "'d", " don", "'t"}},
		{"'sorry' 'S", []string{"'s", "orry", "'", " '", "S"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a   \n\n  b", []string{"a", "   \n\n ", " b"}},
		{"x\n\tfoo", []string{"x", "\n", "\t", "foo"}},
		{"x \t y", []string{"x", " \t", " y"}},
		{"end  ", []string{"end", "  "}},
		{" ", []string{" "}},
		{"x := f(a, b) // 42", []string{"x", " :=", " f", "(", "a", ",", " b", ")", " //", " 42"}},
		{"v1.2.3", []string{"v", "1", ".", "2", ".", "3"}},
		{"abc123def", []string{"abc", "123", "def"}},
		{"héllo 世界", []string{"héllo", " 世界"}},
		{"e\u0301t\u00e9", []string{"e", "\u0301", "t\u00e9"}}, // a combining mark is not a letter
		{"½ Ⅻ ١٢", []string{"½", " Ⅻ", " ١٢"}},                 // No, Nl, Nd
		{"a\u00a0b", []string{"a", "\u00a0", "b"}},             // no-break space is \s but not ' '
		{"a\u3000\u3000b", []string{"a", "\u3000", "\u3000", "b"}},
		{"a\u0085b", []string{"a", "\u0085", "b"}}, // NEL: not \s in JavaScript, not a letter
		{"a\ufeff b", []string{"a", "\ufeff", " b"}},
		{"x \u0085y \ufeffz \u00a0w \u2003v", []string{"x", " \u0085", "y", " ", "\ufeff", "z", " ", "\u00a0", "w", " ", "\u2003", "v"}},
		{"bad\xff\xfebytes", []string{"bad", "\xff\xfe", "bytes"}},
		{"x \xffy", []string{"x", " \xff", "y"}},
		{"<|endoftext|>", []string{"<|", "endoftext", "|>"}},
		{"😀😀 ok", []string{"😀😀", " ok"}},
		{"''s", []string{"''", "s"}},
		{"'", []string{"'"}},
		{"'r", []string{"'", "r"}},
	} {
		var got []string
		for w := range GPT2Words([]byte(tc.in)) {
			got = append(got, string(w))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("GPT2Words(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestGPT2MergeOrder: merges apply by rank, each rank everywhere in the word
// left to right before the pairs it forms are looked at, and a pair's rank
// depends on its tokens' bytes, not on how they were made.
func TestGPT2MergeOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		merges [][2]string
		in     string
		want   []string
	}{
		{"by rank, not position", [][2]string{{"b", "c"}, {"a", "b"}}, "abc", []string{"a", "bc"}},
		{"left to right", [][2]string{{"a", "a"}}, "aaa", []string{"aa", "a"}},
		{"all occurrences", [][2]string{{"a", "a"}, {"aa", "aa"}}, "aaaaa", []string{"aaaa", "a"}},
		{"no merge across words", [][2]string{{"a", " "}}, "a a", []string{"a", " ", "a"}},
		// (a,b), rank 2, makes "ab"; (ab,a) has the lower rank 1 but waits
		// until the pass of (a,b) is over: "ab" "aba", not "aba" "b" "a".
		{"pass before lower ranks it forms", [][2]string{{"x", "y"}, {"ab", "a"}, {"a", "b"}}, "ababa", []string{"ab", "aba"}},
		// "abc" is made by (ab,c) and, here, by (a,bc); (abc,d) applies to
		// it all the same.
		{"tokens are strings", [][2]string{{"b", "c"}, {"a", "b"}, {"ab", "c"}, {"abc", "d"}, {"a", "bc"}}, "abcd", []string{"abcd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := toyGPT2(t, tc.merges)
			ids := tok.Encode([]byte(tc.in))
			var got []string
			for _, id := range ids {
				got = append(got, tok.TokenString(id))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Encode(%q) = %q, want %q", tc.in, got, tc.want)
			}
			checkRoundTrip(t, tok, []byte(tc.in))
		})
	}
}

func TestGPT2SaveLoad(t *testing.T) {
	tok := toyGPT2(t, [][2]string{{"a", "b"}, {" ", "ab"}, {"\n", "\n"}, {"é"[:1], "é"[1:]}})
	var _ Tokenizer = tok
	data, err := tok.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, data)
	}
	if back.Fingerprint() != tok.Fingerprint() || len(tok.Fingerprint()) != 64 {
		t.Errorf("fingerprint %s changed by save/load to %s", tok.Fingerprint(), back.Fingerprint())
	}
	sample := []byte("ab ab\n\n\nété\xff")
	if a, b := tok.Encode(sample), back.Encode(sample); !slices.Equal(a, b) || len(a) >= len(sample) {
		t.Errorf("loaded tokenizer encodes %v, original %v", b, a)
	}
	other := toyGPT2(t, [][2]string{{"a", "b"}, {" ", "ab"}, {"\n", "\n"}})
	if other.Fingerprint() == tok.Fingerprint() {
		t.Error("dropping a merge kept the fingerprint")
	}
	if id, ok := tok.ID(gpt2String([]byte(" ab"))); !ok || tok.TokenString(id) != " ab" {
		t.Errorf("ID(Ġab) = %d, %v", id, ok)
	}
}

func TestLoadGPT2Errors(t *testing.T) {
	enc, vocab := toyGPT2Files([][2]string{{"a", "b"}})
	good := string(enc)
	for _, tc := range []struct {
		name, enc, vocab, want string
	}{
		{"empty encoder", "", "", "encoder.json: want a JSON object from token to id: EOF"},
		{"null encoder", "null", "", "want a JSON object from token to id, got null"},
		{"not an object", `[1]`, "", "encoder.json: want a JSON object"},
		{"trailing", good + "{}", "", "unexpected data after the JSON object"},
		{"float id", `{"a":0.5}`, "", "cannot unmarshal number 0.5"},
		{"id range", strings.Replace(good, `"ab":256`, `"ab":300`, 1), "", `token "ab" has id 300, outside [0, 257)`},
		{"shared id", strings.Replace(good, `"ab":256`, `"ab":97`, 1), "", "id 97 is given to both"},
		{"alphabet", strings.Replace(good, `"ab":256`, `"a b":256`, 1), "", `token "a b" has U+0020, which is not in GPT-2's byte alphabet`},
		{"missing byte", `{"a":0}`, "", "byte 0x00 (written Ā) is not a token"},
		{"one field", good, "#version: 0.2\na\n", `vocab.bpe line 2: "a" has 1 fields, want 2`},
		{"three fields", good, "a b c\n", `vocab.bpe line 1: "a b c" has 3 fields`},
		{"unknown token", good, "a ŀŀ\n", `merge 1 (a ŀŀ): "ŀŀ" is not a token`},
		{"unknown result", good, "b a\n", `merge 1 (b a): "ba" is not a token`},
		{"repeat", good, "a b\na b\n", "merge 2 (a b) repeats merge 1"},
		{"not utf-8", good, "a \xff\n", "vocab.bpe is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.vocab
			if v == "" && tc.enc == good {
				v = string(vocab)
			}
			_, err := LoadGPT2(strings.NewReader(tc.enc), strings.NewReader(v))
			if err == nil || !strings.HasPrefix(err.Error(), "text: load gpt2: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadGPT2(strings.NewReader(good), strings.NewReader(string(vocab))); err != nil {
		t.Errorf("the unedited files: %v", err)
	}
	if _, err := LoadGPT2Dir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "encoder.json") {
		t.Errorf("LoadGPT2Dir of an empty directory: %v", err)
	}
}

func TestLoadGPT2SavedErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"kind":"gpt2","version":1,"merges":[]}`, `missing "vocab"`},
		{`{"kind":"gpt2","version":1,"vocab":[]}`, `missing "merges"`},
		{`{"kind":"gpt2","version":1,"vocab":["a"],"merges":[]}`, "byte 0x00 (written Ā) is not a token"},
		{`{"kind":"gpt2","version":1,"vocab":["a","a"],"merges":[]}`, `token "a" is both id 0 and id 1`},
		{`{"kind":"gpt2","version":1,"vocab":[],"merges":["ab"]}`, `merge 0 is "ab", want "left right"`},
		{`{"kind":"gpt2","version":1,"vocab":[],"merges":[],"split":"code"}`, `unknown field "split"`},
	} {
		_, err := Load(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s): %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// FuzzLoadGPT2: LoadGPT2 returns an error or a tokenizer that round-trips
// its input and survives save and load, never panics.
func FuzzLoadGPT2(f *testing.F) {
	enc, vocab := toyGPT2Files([][2]string{{"a", "b"}, {"ab", "c"}, {" ", "x"}})
	f.Add(enc, vocab)
	f.Add([]byte(`{"a":0}`), []byte("a b"))
	f.Fuzz(func(t *testing.T, enc, vocab []byte) {
		tok, err := LoadGPT2(bytes.NewReader(enc), bytes.NewReader(vocab))
		if err != nil {
			return
		}
		saved, err := tok.MarshalJSON()
		if err != nil {
			t.Fatalf("loaded tokenizer does not save: %v", err)
		}
		back, err := Load(bytes.NewReader(saved))
		if err != nil {
			t.Fatalf("saved form does not load: %v\n%s", err, saved)
		}
		if back.Fingerprint() != tok.Fingerprint() {
			t.Fatal("fingerprint changed by save/load")
		}
		checkRoundTrip(t, tok, vocab)
		checkRoundTrip(t, tok, enc)
	})
}
