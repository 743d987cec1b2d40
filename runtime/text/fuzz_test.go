package text

import (
	"bytes"
	"sync"
	"testing"
)

// fuzzCorpus is Go-like text with some UTF-8, to train small tokenizers on.
var fuzzCorpus = [][]byte{
	[]byte("package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := 0; i < 10; i++ {\n\t\tfmt.Println(i, \"héllo, 世界\")\n\t}\n}\n"),
	[]byte("if err != nil {\n\treturn nil, err\n}\nif err != nil {\n\treturn err\n}\n"),
}

var fuzzTokenizers = sync.OnceValues(func() (*BPE, *CharTokenizer) {
	bpe, err := TrainBPE(fuzzCorpus, BPEOptions{VocabSize: 320, MinCount: 1})
	if err != nil {
		panic(err)
	}
	char, err := TrainChar(fuzzCorpus, CharOptions{})
	if err != nil {
		panic(err)
	}
	return bpe, char
})

func checkRoundTrip(t *testing.T, tok Tokenizer, b []byte) {
	ids := tok.Encode(b)
	for _, id := range ids {
		if id < 0 || id >= tok.VocabSize() {
			t.Fatalf("Encode(%q) gave id %d outside [0, %d)", b, id, tok.VocabSize())
		}
	}
	out, err := tok.Decode(ids)
	if err != nil {
		t.Fatalf("Decode(Encode(%q)): %v", b, err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("Decode(Encode(%q)) = %q", b, out)
	}
}

func FuzzBPERoundTrip(f *testing.F) {
	bpe, _ := fuzzTokenizers()
	if len(bpe.Merges()) < 30 {
		f.Fatalf("fuzz tokenizer learned only %d merges", len(bpe.Merges()))
	}
	f.Add([]byte("func main() {}"))
	f.Fuzz(func(t *testing.T, b []byte) { checkRoundTrip(t, bpe, b) })
}

func FuzzCharRoundTrip(f *testing.F) {
	_, char := fuzzTokenizers()
	f.Add([]byte("héllo\xff"))
	f.Fuzz(func(t *testing.T, b []byte) { checkRoundTrip(t, char, b) })
}

// FuzzLoad feeds Load arbitrary bytes: it must return an error or a
// tokenizer whose saved form loads back to the same tokenizer.
func FuzzLoad(f *testing.F) {
	bpe, char := fuzzTokenizers()
	gpt2 := toyGPT2(f, [][2]string{{"a", "b"}, {" ", "ab"}})
	for _, tok := range []Tokenizer{bpe, char, gpt2} {
		data, err := tok.MarshalJSON()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		saved, err := tok.MarshalJSON()
		if err != nil {
			t.Fatalf("loaded tokenizer does not save: %v", err)
		}
		back, err := Load(bytes.NewReader(saved))
		if err != nil {
			t.Fatalf("saved form of a loaded tokenizer does not load: %v\n%s", err, saved)
		}
		if back.Fingerprint() != tok.Fingerprint() {
			t.Fatalf("fingerprint changed by save/load")
		}
		checkRoundTrip(t, tok, data)
	})
}
