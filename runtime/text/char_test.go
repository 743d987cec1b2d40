package text

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestTrainChar(t *testing.T) {
	docs := [][]byte{[]byte("hello, wörld"), []byte("hé\xffllo")}
	for _, tc := range []struct {
		name string
		opts CharOptions
		want string
	}{
		{"all", CharOptions{}, " ,dehlorwéö"},
		{"min count 2", CharOptions{MinCount: 2}, "hlo"}, // l:5 h:2 o:2, the rest once
		{"max chars 2, ties by code point", CharOptions{MaxChars: 2}, "hl"},
		{"max chars 4, ties by code point", CharOptions{MaxChars: 4}, " hlo"},
	} {
		tok, err := TrainChar(docs, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := string(tok.Chars()); got != tc.want {
			t.Errorf("%s: chars %q, want %q", tc.name, got, tc.want)
		}
		if got, want := tok.VocabSize(), len([]rune(tc.want))+256; got != want {
			t.Errorf("%s: vocab size %d, want %d", tc.name, got, want)
		}
	}
}

func TestCharEncode(t *testing.T) {
	tok, err := NewChar([]rune("ba\u00e9\ufffd"))
	if err != nil {
		t.Fatal(err)
	}
	// Vocabulary in code point order: a=0 b=1 é=2 U+FFFD=3; bytes from 4.
	const fb = 4
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"abé", []int{0, 1, 2}},
		{"c", []int{fb + 'c'}},
		{"ü", []int{fb + 0xC3, fb + 0xBC}},                 // a character not in the vocabulary
		{"a\xffb", []int{0, fb + 0xFF, 1}},                 // invalid UTF-8
		{"\ufffd\xef\xbf", []int{3, fb + 0xEF, fb + 0xBF}}, // a real U+FFFD, then a cut one
		{"", []int{}},
	} {
		got := tok.Encode([]byte(tc.in))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.in, got, tc.want)
		}
		back, err := tok.Decode(got)
		if err != nil || string(back) != tc.in {
			t.Errorf("Decode(Encode(%q)) = %q, %v", tc.in, back, err)
		}
	}
}

func TestCharRoundTripAllBytes(t *testing.T) {
	tok, err := TrainChar([][]byte{[]byte("the quick brown fox ☃")}, CharOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var in []byte
	for i := range 256 {
		in = append(in, byte(i), byte(255-i), 'o')
	}
	out, err := tok.Decode(tok.Encode(in))
	if err != nil || !bytes.Equal(out, in) {
		t.Errorf("round trip failed: %v", err)
	}
}

func TestCharDecodeErrorsAndNames(t *testing.T) {
	tok, err := NewChar([]rune("ab"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Decode([]int{0, 258}); err == nil || !strings.Contains(err.Error(), "token 1 is id 258, outside the vocabulary [0, 258)") {
		t.Errorf("Decode of id 258: error %v", err)
	}
	for id, want := range map[int]string{0: "a", 1: "b", 2: "<0x00>", 257: "<0xFF>", 258: "<invalid id 258>", -1: "<invalid id -1>"} {
		if got := tok.TokenString(id); got != want {
			t.Errorf("TokenString(%d) = %q, want %q", id, got, want)
		}
	}
}

func TestCharOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		run  func() error
		want string
	}{
		{func() error { _, err := TrainChar(nil, CharOptions{MinCount: -1}); return err }, "MinCount is -1"},
		{func() error { _, err := TrainChar(nil, CharOptions{MaxChars: -2}); return err }, "MaxChars is -2"},
		{func() error { _, err := NewChar([]rune{'a', 0xD800}); return err }, "U+D800 is not a valid character"},
		{func() error { _, err := NewChar([]rune("aba")); return err }, "U+0061 appears twice"},
	} {
		if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
