package text

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/golden"
)

// bpeSeed is bpe_seed.json.
type bpeSeed struct {
	Corpus string `json:"corpus"`
	Merges []struct {
		Step   int         `json:"step"`
		Pair   [2]string   `json:"pair"`
		Merged string      `json:"merged"`
		Count  int64       `json:"count"`
		Tied   [][2]string `json:"tied_candidates_in_first_occurrence_order"`
	} `json:"merges"`
	Segmentation10 [][]string          `json:"corpus_segmentation_after_10_merges"`
	After10        map[string][]string `json:"tokenization_after_10_merges"`
	After5         map[string][]string `json:"tokenization_after_5_merges"`
}

func loadSeed(t *testing.T) bpeSeed {
	t.Helper()
	var s bpeSeed
	if err := golden.Load("bpe_seed.json", &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Merges) != 10 {
		t.Fatalf("bpe_seed.json has %d merges, want 10", len(s.Merges))
	}
	return s
}

// names maps token ids to their strings.
func names(tok Tokenizer, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tok.TokenString(id)
	}
	return out
}

func trainSeed(t *testing.T, corpus string, merges int) *BPE {
	t.Helper()
	tok, err := TrainBPE([][]byte{[]byte(corpus)}, BPEOptions{VocabSize: 256 + merges, Split: SplitSpace})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tok.Merges()); got != merges {
		t.Fatalf("trained %d merges, want %d", got, merges)
	}
	return tok
}

func TestBPEGoldenMerges(t *testing.T) {
	seed := loadSeed(t)
	tok := trainSeed(t, seed.Corpus, 10)
	for i, m := range tok.Merges() {
		want := seed.Merges[i]
		got := [2]string{tok.TokenString(m.Left), tok.TokenString(m.Right)}
		if got != want.Pair || m.Count != want.Count {
			t.Errorf("merge %d: got %q count %d, want %q count %d", want.Step, got, m.Count, want.Pair, want.Count)
		}
		if s := tok.TokenString(256 + i); s != want.Merged {
			t.Errorf("merge %d makes %q, want %q", want.Step, s, want.Merged)
		}
	}
}

// TestBPEReferenceTies checks the test's own reference trainer, which
// follows the rule literally, against every tied candidate in the golden
// file; TestBPEMatchesReference then holds the fast trainer to it.
func TestBPEReferenceTies(t *testing.T) {
	seed := loadSeed(t)
	steps, _ := refTrain(refWords([][]byte{[]byte(seed.Corpus)}, SplitSpace), 10, 1)
	if len(steps) != 10 {
		t.Fatalf("reference made %d merges, want 10", len(steps))
	}
	tokens := refTokens(steps)
	str := func(p [2]int) [2]string { return [2]string{tokens[p[0]], tokens[p[1]]} }
	for i, s := range steps {
		want := seed.Merges[i]
		if got := str(s.pair); got != want.Pair || s.count != want.Count {
			t.Errorf("step %d: reference merged %q count %d, want %q count %d", want.Step, got, s.count, want.Pair, want.Count)
		}
		var tied [][2]string
		for _, p := range s.tied {
			tied = append(tied, str(p))
		}
		if !slices.Equal(tied, want.Tied) {
			t.Errorf("step %d: tied candidates %q, want %q", want.Step, tied, want.Tied)
		}
	}
}

func TestBPEGoldenTokenization(t *testing.T) {
	seed := loadSeed(t)
	for _, tc := range []struct {
		merges int
		want   map[string][]string
	}{
		{5, seed.After5},
		{10, seed.After10},
	} {
		tok := trainSeed(t, seed.Corpus, tc.merges)
		if len(tc.want) == 0 {
			t.Fatalf("no golden tokenization after %d merges", tc.merges)
		}
		for word, want := range tc.want {
			if got := names(tok, tok.Encode([]byte(word))); !slices.Equal(got, want) {
				t.Errorf("after %d merges, %q encodes as %q, want %q", tc.merges, word, got, want)
			}
		}
	}
}

func TestBPEGoldenCorpusSegmentation(t *testing.T) {
	seed := loadSeed(t)
	tok := trainSeed(t, seed.Corpus, 10)
	var want []string
	for i, word := range seed.Segmentation10 {
		if i > 0 {
			want = append(want, " ")
		}
		want = append(want, word...)
	}
	if got := names(tok, tok.Encode([]byte(seed.Corpus))); !slices.Equal(got, want) {
		t.Errorf("corpus encodes as\n%q\nwant\n%q", got, want)
	}
}

// refWords cuts docs into words of byte ids, as the trainer does.
func refWords(docs [][]byte, split Split) [][]int {
	var words [][]int
	for _, doc := range docs {
		for w := range split.Words(doc) {
			ids := make([]int, len(w))
			for i, c := range w {
				ids[i] = int(c)
			}
			words = append(words, ids)
		}
	}
	return words
}

type refStep struct {
	pair  [2]int
	count int64
	tied  [][2]int // pairs with the top count, in first-occurrence order
}

// refTrain is BPE training written the slow, literal way: recount every
// pair over every word occurrence in corpus order at each step.
func refTrain(words [][]int, maxMerges int, minCount int64) ([]refStep, [][]int) {
	var steps []refStep
	for len(steps) < maxMerges {
		counts := map[[2]int]int64{}
		var order [][2]int
		for _, w := range words {
			for j := 0; j+1 < len(w); j++ {
				p := [2]int{w[j], w[j+1]}
				if _, seen := counts[p]; !seen {
					order = append(order, p)
				}
				counts[p]++
			}
		}
		var top int64
		for _, p := range order {
			top = max(top, counts[p])
		}
		if top == 0 || top < minCount {
			break
		}
		s := refStep{count: top}
		for _, p := range order {
			if counts[p] == top {
				s.tied = append(s.tied, p)
			}
		}
		s.pair = s.tied[0]
		z := 256 + len(steps)
		for i, w := range words {
			words[i] = refMerge(w, s.pair, z)
		}
		steps = append(steps, s)
	}
	return steps, words
}

// refMerge replaces p by z in w, left to right without overlap.
func refMerge(w []int, p [2]int, z int) []int {
	var out []int
	for j := 0; j < len(w); j++ {
		if j+1 < len(w) && w[j] == p[0] && w[j+1] == p[1] {
			out = append(out, z)
			j++
		} else {
			out = append(out, w[j])
		}
	}
	return out
}

// refTokens spells out the tokens a list of merges makes.
func refTokens(steps []refStep) []string {
	var tokens []string
	for b := range 256 {
		tokens = append(tokens, string([]byte{byte(b)}))
	}
	for _, s := range steps {
		tokens = append(tokens, tokens[s.pair[0]]+tokens[s.pair[1]])
	}
	return tokens
}

// refEncode encodes one word by applying every merge in order, each left to
// right over the whole word.
func refEncode(merges []Merge, w []byte) []int {
	ids := make([]int, len(w))
	for i, c := range w {
		ids[i] = int(c)
	}
	for i, m := range merges {
		ids = refMerge(ids, [2]int{m.Left, m.Right}, 256+i)
	}
	return ids
}

// randomCorpus draws words from a tiny alphabet, so pairs tie often and the
// tie-break decides many merges.
func randomCorpus(r *rand.Rand, alphabet string, n int) []byte {
	var b bytes.Buffer
	for range n {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.Bytes()
}

func TestBPEMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		split    Split
		alphabet string
		size     int
		minCount int64
	}{
		{SplitSpace, "ab ", 40, 1},
		{SplitSpace, "abc ", 200, 1},
		{SplitSpace, "aab  ", 300, 2},
		{SplitCode, "ab1 .=\n", 300, 1},
		{SplitCode, "xyz+-  \t", 500, 3},
	} {
		for trial := range 40 {
			docs := [][]byte{randomCorpus(r, tc.alphabet, tc.size), randomCorpus(r, tc.alphabet, tc.size/2)}
			name := fmt.Sprintf("%s/%q/%d", tc.split, tc.alphabet, trial)
			words := refWords(docs, tc.split)
			steps, segs := refTrain(words, 1000, tc.minCount)
			tok, err := TrainBPE(docs, BPEOptions{VocabSize: 256 + 1000, Split: tc.split, MinCount: tc.minCount})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got := tok.Merges()
			if len(got) != len(steps) {
				t.Errorf("%s: %d merges, reference makes %d", name, len(got), len(steps))
				continue
			}
			for i, s := range steps {
				if g := got[i]; [2]int{g.Left, g.Right} != s.pair || g.Count != s.count {
					t.Errorf("%s: merge %d is %v count %d, reference %v count %d (tied %v)", name, i, [2]int{g.Left, g.Right}, g.Count, s.pair, s.count, s.tied)
					break
				}
			}
			// Encoding a training word must give its training segmentation.
			i := 0
			for _, doc := range docs {
				for w := range tc.split.Words(doc) {
					if e := tok.Encode(w); !slices.Equal(e, segs[i]) {
						t.Errorf("%s: %q encodes as %v, training left it as %v", name, w, e, segs[i])
					}
					i++
				}
			}
		}
	}
}

func TestBPEEncodeMatchesMergeOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	docs := [][]byte{randomCorpus(r, "aabbc d", 5000)}
	tok, err := TrainBPE(docs, BPEOptions{VocabSize: 400, Split: SplitCode, MinCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	merges := tok.Merges()
	for trial := range 300 {
		// Unseen text, including long words, where heap order matters.
		w := randomCorpus(r, "aabbc", 1+r.IntN(60))
		if got, want := tok.Encode(w), refEncode(merges, w); !slices.Equal(got, want) {
			t.Fatalf("trial %d: %q encodes as %v, applying merges in order gives %v", trial, w, got, want)
		}
	}
}

func TestBPERoundTrip(t *testing.T) {
	tok, err := TrainBPE([][]byte{[]byte(strings.Repeat("func (t *T) Encode(b []byte) []int { return nil }\n", 50))}, BPEOptions{VocabSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Merges()) == 0 {
		t.Fatal("no merges learned")
	}
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i * 7)
	}
	for _, in := range [][]byte{nil, {}, []byte("func main() {}"), []byte("héllo, 世界\xff\xfe\x00"), all} {
		ids := tok.Encode(in)
		out, err := tok.Decode(ids)
		if err != nil {
			t.Fatalf("decode %q: %v", in, err)
		}
		if !bytes.Equal(out, in) {
			t.Errorf("round trip of %q gave %q", in, out)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Errorf("encode %q gave id %d outside [0, %d)", in, id, tok.VocabSize())
			}
		}
	}
	// Encoding must actually compress the training text.
	if n := len(tok.Encode([]byte("func (t *T) Encode(b []byte) []int { return nil }\n"))); n > 30 {
		t.Errorf("training line encodes to %d tokens, want merges to shorten it", n)
	}
}

func TestBPEDecodeOutOfRange(t *testing.T) {
	tok, err := TrainBPE([][]byte{[]byte("aaaa")}, BPEOptions{VocabSize: 257})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ids  []int
		want string
	}{
		{[]int{97, 257}, "token 1 is id 257, outside the vocabulary [0, 257)"},
		{[]int{-1}, "token 0 is id -1, outside the vocabulary [0, 257)"},
	} {
		_, err := tok.Decode(tc.ids)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%v) error %v, want %q", tc.ids, err, tc.want)
		}
	}
	if got, err := tok.Decode([]int{256, 97}); err != nil || string(got) != "aaa" {
		t.Errorf(`Decode([256 97]) = %q, %v; want "aaa"`, got, err)
	}
}

func TestBPEMaxTokenBytes(t *testing.T) {
	// Merging a run of one byte doubles the token each time; training must
	// stop short of MaxTokenBytes and still round-trip.
	run := bytes.Repeat([]byte("a"), 4*MaxTokenBytes)
	tok, err := TrainBPE([][]byte{run, run}, BPEOptions{VocabSize: 300, Split: SplitSpace})
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for id := range tok.VocabSize() {
		b, _ := tok.Decode([]int{id})
		longest = max(longest, len(b))
	}
	if longest != MaxTokenBytes {
		t.Errorf("longest token has %d bytes, want exactly MaxTokenBytes = %d", longest, MaxTokenBytes)
	}
	if ids := tok.Encode(run); len(ids) != 4 {
		t.Errorf("run of %d bytes encodes to %d tokens, want 4", len(run), len(ids))
	}
}

func TestTrainBPEOptions(t *testing.T) {
	for _, tc := range []struct {
		opts BPEOptions
		want string
	}{
		{BPEOptions{VocabSize: 255}, "VocabSize is 255, want at least 256"},
		{BPEOptions{VocabSize: 300, Split: "words"}, `unknown split "words"`},
		{BPEOptions{VocabSize: 300, MinCount: -1}, "MinCount is -1"},
	} {
		_, err := TrainBPE([][]byte{[]byte("abab")}, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TrainBPE(%+v) error %v, want %q", tc.opts, err, tc.want)
		}
	}
	// MinCount stops training: "ab" occurs twice, nothing else does.
	tok, err := TrainBPE([][]byte{[]byte("ab ab cd")}, BPEOptions{VocabSize: 300, Split: SplitSpace})
	if err != nil {
		t.Fatal(err)
	}
	if m := tok.Merges(); len(m) != 1 || m[0] != (Merge{'a', 'b', 2}) {
		t.Errorf("merges %v, want only [a b] with count 2", m)
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		split Split
		in    string
		want  []string
	}{
		{SplitSpace, "low  lower", []string{"low", " ", " ", "lower"}},
		{SplitSpace, " a\tb\n", []string{" ", "a\tb\n"}},
		{SplitCode, "x := foo_1(y)\n\t// é!", []string{"x", " :=", " foo_1", "(", "y", ")", "\n\t", "//", " é", "!"}},
		{SplitCode, "a  b\n c \n\t\t", []string{"a", " ", " b", "\n", " c", " \n\t\t"}},
		{SplitCode, " ", []string{" "}},
		{SplitCode, "\x00\xff\xfe+", []string{"\x00", "\xff\xfe", "+"}},
		{SplitCode, "", nil},
	} {
		var got []string
		for w := range tc.split.Words([]byte(tc.in)) {
			got = append(got, string(w))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s split of %q = %q, want %q", tc.split, tc.in, got, tc.want)
		}
	}
}

func BenchmarkBPEEncode(b *testing.B) {
	text := bytes.Repeat([]byte("for i := range n {\n\tsum += x[i] * y[i]\n}\n"), 200)
	tok, err := TrainBPE([][]byte{text}, BPEOptions{VocabSize: 320})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}
