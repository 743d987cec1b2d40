package text

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func trainedPair(t *testing.T) (*BPE, *CharTokenizer) {
	t.Helper()
	corpus := [][]byte{[]byte("if err != nil {\n\treturn err\n}\n// héllo\n"), []byte("if x != y { return x }\n")}
	bpe, err := TrainBPE(corpus, BPEOptions{VocabSize: 280})
	if err != nil {
		t.Fatal(err)
	}
	char, err := TrainChar(corpus, CharOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return bpe, char
}

func TestSaveLoad(t *testing.T) {
	bpe, char := trainedPair(t)
	sample := []byte("if err != nil { return héllo }\xff")
	for _, tok := range []Tokenizer{bpe, char} {
		data, err := tok.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Load(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Load(%s): %v", data, err)
		}
		if back.Fingerprint() != tok.Fingerprint() {
			t.Errorf("fingerprint changed by save/load: %s vs %s", back.Fingerprint(), tok.Fingerprint())
		}
		again, _ := back.MarshalJSON()
		if !bytes.Equal(again, data) {
			t.Errorf("saved form changed by save/load:\n%s\n%s", data, again)
		}
		if a, b := tok.Encode(sample), back.Encode(sample); !slices.Equal(a, b) {
			t.Errorf("loaded tokenizer encodes %v, original %v", b, a)
		}
	}
	if bpe.Fingerprint() == char.Fingerprint() {
		t.Error("different tokenizers share a fingerprint")
	}
	if got := bpe.Fingerprint(); len(got) != 64 {
		t.Errorf("fingerprint %q is not 64 hex digits", got)
	}
}

func TestFingerprintIgnoresCounts(t *testing.T) {
	bpe, _ := trainedPair(t)
	merges := bpe.Merges()
	for i := range merges {
		merges[i].Count = 0
	}
	bare, err := NewBPE(bpe.Split(), merges)
	if err != nil {
		t.Fatal(err)
	}
	if bare.Fingerprint() != bpe.Fingerprint() {
		t.Error("counts changed the fingerprint")
	}
	withCounts, _ := bpe.MarshalJSON()
	without, _ := bare.MarshalJSON()
	if !bytes.Contains(withCounts, []byte(`"counts"`)) || bytes.Contains(without, []byte(`"counts"`)) {
		t.Errorf("counts should be saved when known and only then:\n%s\n%s", withCounts, without)
	}
	// A different merge list must change it.
	other, err := NewBPE(bpe.Split(), merges[:len(merges)-1])
	if err != nil {
		t.Fatal(err)
	}
	if other.Fingerprint() == bpe.Fingerprint() {
		t.Error("dropping a merge kept the fingerprint")
	}
	code, err := NewBPE(SplitSpace, merges)
	if err != nil {
		t.Fatal(err)
	}
	if code.Split() == bpe.Split() || code.Fingerprint() == bpe.Fingerprint() {
		t.Error("changing the split kept the fingerprint")
	}
}

func TestLoadErrors(t *testing.T) {
	long := `{"kind":"bpe","version":1,"split":"space","vocab_size":265,"merges":[[97,97],[256,256],[257,257],[258,258],[259,259],[260,260],[261,261],[262,262],[263,263]]}`
	for _, tc := range []struct {
		in   string
		want string
	}{
		{``, "empty input, want a tokenizer JSON object"},
		{"{", "not a tokenizer JSON object: unexpected EOF"},
		{`[1,2]`, "not a tokenizer JSON object"},
		{`null`, `missing "kind"`},
		{`{}`, `missing "kind"`},
		{`{"kind":"wordpiece","version":1}`, `unknown kind "wordpiece"`},
		{`{"kind":"bpe","version":2}`, "bpe tokenizer has version 2, this build reads version 1"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":256,"merges":[],"extra":1}`, `unknown field "extra"`},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":256,"merges":[]} {}`, "unexpected data after the JSON object"},
		{`{"kind":"bpe","version":1,"vocab_size":256,"merges":[]}`, `missing "split"`},
		{`{"kind":"bpe","version":1,"split":"lines","vocab_size":256,"merges":[]}`, `unknown split "lines"`},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":256}`, `missing "merges"`},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":300,"merges":[[97,98]]}`, "vocab_size is 300, but 256 bytes + 1 merges make 257"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":257,"merges":[[97]]}`, "merge 0 has 1 ids, want 2"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":257,"merges":[[97,256]]}`, "merge 0 makes id 256 from [97, 256], but only ids below 256 exist"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":257,"merges":[[-1,3]]}`, "merge 0 makes id 256 from [-1, 3]"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":258,"merges":[[97,98],[97,98]]}`, "merge 1 repeats merge 0 [97, 98]"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":257,"merges":[[97,98]],"counts":[1,2]}`, "2 counts for 1 merges"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":257,"merges":[[97,98]],"counts":[-3]}`, "merge 0 has count -3"},
		{`{"kind":"bpe","version":1,"split":"code","vocab_size":257,"merges":[[97.5,98]]}`, "cannot unmarshal number 97.5"},
		{long, "merge 8 makes a token of 512 bytes, more than MaxTokenBytes = 256"},
		{`{"kind":"char","version":1,"vocab_size":258}`, `missing "chars"`},
		{`{"kind":"char","version":1,"vocab_size":258,"chars":"ba"}`, "U+0061 at byte 1 is not after U+0062"},
		{`{"kind":"char","version":1,"vocab_size":258,"chars":"aa"}`, "U+0061 at byte 1 is not after U+0061"},
		{`{"kind":"char","version":1,"vocab_size":300,"chars":"ab"}`, "vocab_size is 300, but 2 chars + 256 bytes make 258"},
		{`{"kind":"char","version":1,"vocab_size":258,"chars":"ab","merges":[]}`, `unknown field "merges"`},
	} {
		_, err := Load(strings.NewReader(tc.in))
		if err == nil {
			t.Errorf("Load(%s) succeeded, want error containing %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "text: load tokenizer: ") {
			t.Errorf("Load(%s) error:\n  %v\nwant it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestLoadTooLarge(t *testing.T) {
	_, err := Load(bytes.NewReader(make([]byte, maxLoadBytes+1)))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error %v, want a size limit error", err)
	}
}
