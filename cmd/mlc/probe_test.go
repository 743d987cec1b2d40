package main

import (
	"encoding/json"
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeScanLabels: go/scanner's spans, byte by byte, on a snippet with
// an interpreted and a raw string (with a carriage return, which the
// scanner drops from the literal it returns), a quoted word in a comment
// and a rune literal, neither of which is a string.
func TestProbeScanLabels(t *testing.T) {
	src := "x := \"a b\" + `r\r\nq` // \"c\"\nvar y_1 = 'z'\n"
	mark := func(parts ...string) string {
		m := []byte(strings.Repeat(".", len(src)))
		from := 0
		for _, p := range parts {
			i := strings.Index(src[from:], p) + from
			for j := i; j < i+len(p); j++ {
				m[j] = '^'
			}
			from = i + len(p)
		}
		return string(m)
	}
	for _, c := range []struct {
		tok  token.Token
		want string
	}{
		{token.STRING, mark(`"a b"`, "`r\r\nq`")},
		{token.IDENT, mark("x", "y_1")},
	} {
		got := []byte(strings.Repeat(".", len(src)))
		for i, l := range scanLabels([]byte(src), c.tok) {
			if l {
				got[i] = '^'
			}
		}
		if string(got) != c.want {
			t.Errorf("%s:\n%q\n%q got\n%q want", c.tok, src, got, c.want)
		}
	}
}

// TestProbeTokenLabels: a token takes the label of its first byte that is
// not white space, or of its first byte when it is all white space.
func TestProbeTokenLabels(t *testing.T) {
	pieces := []string{"f", "(", " \"", "s", " t", "\"),", "\n\t", " x"}
	d := &lmDoc{}
	for _, p := range pieces {
		d.off = append(d.off, len(d.text))
		d.text = append(d.text, p...)
		d.ids = append(d.ids, 0)
	}
	d.off = append(d.off, len(d.text))
	for _, c := range []struct {
		task string
		want string
	}{
		{"string", "00111100"},
		{"ident", "10000001"},
	} {
		got := ""
		for _, l := range tokenLabels(d, scanLabels(d.text, probeTasks[c.task].tok)) {
			got += map[bool]string{false: "0", true: "1"}[l]
		}
		if got != c.want {
			t.Errorf("%s over %q: %s, want %s", c.task, pieces, got, c.want)
		}
	}
}

// TestProbeLabelsFile: a labels file round-trips, and every mistake is
// reported with the file and line.
func TestProbeLabelsFile(t *testing.T) {
	tok, pieces := byteTokenizer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "l.labels")
	good := "# comment\n\ndoc a.go\n1\t\"x\"\n0 \" \"\n0\t\"=\"\ndoc b\n1\t\"\\n\"\n"
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := readLabels(path, tok, pieces)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].name != "a.go" || string(docs[0].text) != "x =" || docs[1].name != "b" || string(docs[1].text) != "\n" {
		t.Fatalf("read %d docs: %+v", len(docs), docs)
	}
	if got := docs[0].labels; len(got) != 3 || !got[0] || got[1] || got[2] {
		t.Errorf("labels %v", got)
	}
	// Written back, it reads the same.
	out := filepath.Join(dir, "out.labels")
	if err := saveLabels(out, "a test labelling", docs, pieces); err != nil {
		t.Fatal(err)
	}
	again, err := readLabels(out, tok, pieces)
	if err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		if again[i].name != docs[i].name || string(again[i].text) != string(docs[i].text) || len(again[i].labels) != len(docs[i].labels) {
			t.Fatalf("round trip: doc %d %+v, want %+v", i, again[i], docs[i])
		}
		for j := range docs[i].labels {
			if again[i].labels[j] != docs[i].labels[j] {
				t.Errorf("round trip: doc %d token %d label changed", i, j)
			}
		}
	}

	cases := []struct {
		name, text, want string
	}{
		{"token before doc", "# x\n1\t\"a\"\n", ":2: a token before the first \"doc NAME\" line"},
		{"bad label", "doc a\n2\t\"a\"\n", `:2: label "2": want 0 or 1`},
		{"no separator", "doc a\n1\n", `:2: want a label (0 or 1), a tab and the token as a Go string literal, got "1"`},
		{"not quoted", "doc a\n1\tab\n", ":2: token ab: not a Go string literal"},
		{"empty token", "doc a\n0\t\"\"\n", ":2: empty token"},
		{"doc without name", "doc a\n0\t\"a\"\ndoc  \n", ":3: doc without a name"},
		{"doc twice", "doc a\n0\t\"a\"\n\ndoc a\n", `:4: doc "a" again (first at line 1)`},
		{"doc without tokens", "doc a\n0\t\"a\"\ndoc b\n", `:3: doc "b" has no tokens`},
		{"not the tokenizer's tokens", "doc a\n0\t\"a\"\n1\t\"bc\"\n", `:3: token "bc", but the model's tokenizer has "b" here`},
		{"no docs", "# nothing\n", ": no documents"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".labels")
			if err := os.WriteFile(p, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readLabels(p, tok, pieces)
			if err == nil || !strings.HasPrefix(err.Error(), p+c.want) {
				t.Errorf("error %v\nwant %s%s…", err, p, c.want)
			}
		})
	}
	if _, err := readLabels(filepath.Join(dir, "missing"), tok, pieces); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

func TestProbeBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"probe", "-ckpt", "x"}, "mlc probe: give one of -task string|ident or -labels FILE"},
		{[]string{"probe", "-ckpt", "x", "-task", "string", "-labels", "f"}, "mlc probe: give one of -task string|ident or -labels FILE"},
		{[]string{"probe", "-ckpt", "x", "-task", "comment"}, `mlc probe: -task must be string or ident, got "comment"`},
		{[]string{"probe", "-ckpt", "x", "-labels", "f", "-write-labels", "g"}, "mlc probe: -write-labels writes a -task's labels; give -task"},
		{[]string{"probe", "-ckpt", "x", "-labels", "f", "-data", "d"}, "mlc probe: -data is the text of a -task"},
		{[]string{"probe", "-ckpt", "x", "-task", "string", "-steps", "0"}, "mlc probe: -tokens and -windows must be >= 0, -steps and -lr positive"},
		{[]string{"probe", "-task", "string"}, "mlc probe: -ckpt DIR is required"},
		{[]string{"probe", "-task", "string", "-ckpt", "/nonexistent"}, "/nonexistent/checkpoint.safetensors"},
	}
	for _, c := range cases {
		code, out, errs := runCLI(c.args...)
		if code != 1 || out != "" || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", c.args, code, out, errs, c.want)
		}
	}
}

func runProbe(t *testing.T, args ...string) *probeReport {
	t.Helper()
	code, out, errs := runCLI(append([]string{"probe", "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("probe %v: exit %d: %s", args, code, errs)
	}
	var rep probeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("probe %v: %v\n%s", args, err, out)
	}
	return &rep
}

// testProbeSynthetic: on an easy labelling, "the token starts with a
// lowercase letter" (a property of the token alone, so the embeddings hold
// it), the probes read every token of the corpus once and beat the
// majority class by a wide margin at every layer.
func testProbeSynthetic(t *testing.T, ckpt, corpus string) {
	info, err := inspectCheckpoint(ckpt, "")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := corpusLMDocs(corpus, info, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range docs {
		for i := range d.ids {
			s := strings.TrimLeft(string(d.text[d.off[i]:d.off[i+1]]), " \t\n")
			d.labels = append(d.labels, s != "" && 'a' <= s[0] && s[0] <= 'z')
		}
		total += len(d.ids)
	}
	path := filepath.Join(t.TempDir(), "letters.labels")
	if err := saveLabels(path, "1 = the token starts with a lowercase letter", docs, info.pieces); err != nil {
		t.Fatal(err)
	}
	rep := runProbe(t, "-ckpt", ckpt, "-labels", path, "-tokens", "0", "-windows", "0")
	if rep.TrainTokens+rep.HeldOutTokens != total || rep.HeldOutDocs != len(docs)/probeHoldOut || rep.TrainDocs != len(docs)-len(docs)/probeHoldOut {
		t.Errorf("read %d+%d tokens from %d+%d docs; want all %d tokens of %d docs, one in %d held out",
			rep.TrainTokens, rep.HeldOutTokens, rep.TrainDocs, rep.HeldOutDocs, total, len(docs), probeHoldOut)
	}
	if len(rep.Layers) != 3 {
		t.Fatalf("%d layers, want 3 (h_in, h0.out, h1.out)", len(rep.Layers))
	}
	for _, l := range rep.Layers {
		if !(l.Baseline > 0.5 && l.Baseline < 0.9) {
			t.Errorf("%s: baseline %.3f: the labelling is not balanced as intended", l.Layer, l.Baseline)
		}
		if l.Accuracy < l.Baseline+0.1 || l.Loss > l.BaselineLoss/2 || l.F1 < 0.7 {
			t.Errorf("%s: accuracy %.3f (baseline %.3f), loss %.3f (baseline %.3f), F1 %.3f: the probe does not read an easy label",
				l.Layer, l.Accuracy, l.Baseline, l.Loss, l.BaselineLoss, l.F1)
		}
	}
}

// testProbeTask: -task string runs, and -write-labels writes the same
// labelling as a labels file, on which the probes give the same figures.
func testProbeTask(t *testing.T, ckpt, corpus string) {
	path := filepath.Join(t.TempDir(), "string.labels")
	code, out, errs := runCLI("probe", "-ckpt", ckpt, "-task", "string", "-data", corpus, "-tokens", "2000", "-write-labels", path)
	if code != 0 || !strings.Contains(out, "labelled by task string to "+path) {
		t.Fatalf("-write-labels: exit %d\n%s%s", code, out, errs)
	}
	fromTask := runProbe(t, "-ckpt", ckpt, "-task", "string", "-data", corpus, "-tokens", "2000", "-layer", "in,1")
	fromFile := runProbe(t, "-ckpt", ckpt, "-labels", path, "-tokens", "2000", "-layer", "in,1")
	if fromTask.TrainTokens < 1000 || fromTask.HeldOutTokens < 300 {
		t.Errorf("read %d + %d tokens for a budget of 2000", fromTask.TrainTokens, fromTask.HeldOutTokens)
	}
	if !(fromTask.TrainPositive > 0.05 && fromTask.TrainPositive < 0.5) {
		t.Errorf("%.3f of the tokens inside strings", fromTask.TrainPositive)
	}
	fromFile.Labels, fromFile.Task = "", fromTask.Task
	a, _ := json.Marshal(fromTask)
	b, _ := json.Marshal(fromFile)
	if string(a) != string(b) {
		t.Errorf("-task and its labels file differ:\n%s\n%s", a, b)
	}
	if len(fromTask.Layers) != 2 || fromTask.Layers[0].Layer != "h_in" || fromTask.Layers[1].Layer != "h1.out" {
		t.Errorf("layers %+v", fromTask.Layers)
	}
	// The text report has a row per layer.
	code, out, _ = runCLI("probe", "-ckpt", ckpt, "-task", "string", "-data", corpus, "-tokens", "2000", "-layer", "in,1")
	if code != 0 || !strings.Contains(out, "\nh_in ") || !strings.Contains(out, "\nh1.out ") || !strings.Contains(out, "baseline") {
		t.Errorf("text report:\n%s", out)
	}
}

// FuzzReadLabels: any file content gives documents or an error naming the
// file, never a panic; what it accepts writes back to a file that reads the
// same.
func FuzzReadLabels(f *testing.F) {
	f.Add([]byte("# comment\n\ndoc a.go\n1\t\"x\"\n0 \" \"\n0\t\"=\"\ndoc b\n1\t\"\\n\"\n"))
	f.Add([]byte("doc a\n2\t\"a\"\n"))
	f.Add([]byte("doc a\n0\t\"\\xff\\x00\"\n"))
	tok, pieces := byteTokenizer(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, fmt.Sprintf("in-%p.labels", t))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p)
		docs, err := readLabels(p, tok, pieces)
		if err != nil {
			if !strings.HasPrefix(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		out := p + ".out"
		defer os.Remove(out)
		if err := saveLabels(out, "fuzz", docs, pieces); err != nil {
			t.Fatal(err)
		}
		again, err := readLabels(out, tok, pieces)
		if err != nil {
			t.Fatalf("written back, it does not read: %v", err)
		}
		if len(again) != len(docs) {
			t.Fatalf("%d docs written back as %d", len(docs), len(again))
		}
		for i := range docs {
			if again[i].name != docs[i].name || string(again[i].text) != string(docs[i].text) || fmt.Sprint(again[i].labels) != fmt.Sprint(docs[i].labels) {
				t.Errorf("doc %d changed on the round trip", i)
			}
		}
	})
}
