package mechinterp

import (
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanLabels: go/scanner's spans, byte by byte, on a snippet with
// an interpreted and a raw string (with a carriage return, which the
// scanner drops from the literal it returns), a quoted word in a comment
// and a rune literal, neither of which is a string.
func TestScanLabels(t *testing.T) {
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
		for i, l := range ScanLabels([]byte(src), c.tok) {
			if l {
				got[i] = '^'
			}
		}
		if string(got) != c.want {
			t.Errorf("%s:\n%q\n%q got\n%q want", c.tok, src, got, c.want)
		}
	}
}

// TestTokenLabels: a token takes the label of its first byte that is
// not white space, or of its first byte when it is all white space.
func TestTokenLabels(t *testing.T) {
	pieces := []string{"f", "(", " \"", "s", " t", "\"),", "\n\t", " x"}
	d := &Doc{}
	for _, p := range pieces {
		d.Off = append(d.Off, len(d.Text))
		d.Text = append(d.Text, p...)
		d.IDs = append(d.IDs, 0)
	}
	d.Off = append(d.Off, len(d.Text))
	for _, c := range []struct {
		task string
		want string
	}{
		{"string", "00111100"},
		{"ident", "10000001"},
	} {
		got := ""
		for _, l := range TokenLabels(d, ScanLabels(d.Text, Tasks[c.task].Token)) {
			got += map[bool]string{false: "0", true: "1"}[l]
		}
		if got != c.want {
			t.Errorf("%s over %q: %s, want %s", c.task, pieces, got, c.want)
		}
	}
}

// TestLabelsFile: a labels file round-trips, and every mistake is
// reported with the file and line.
func TestLabelsFile(t *testing.T) {
	tok, pieces := byteTokenizer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "l.labels")
	good := "# comment\n\ndoc a.go\n1\t\"x\"\n0 \" \"\n0\t\"=\"\ndoc b\n1\t\"\\n\"\n"
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := ReadLabels(path, tok, pieces)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Name != "a.go" || string(docs[0].Text) != "x =" || docs[1].Name != "b" || string(docs[1].Text) != "\n" {
		t.Fatalf("read %d docs: %+v", len(docs), docs)
	}
	if got := docs[0].Labels; len(got) != 3 || !got[0] || got[1] || got[2] {
		t.Errorf("labels %v", got)
	}
	// Written back, it reads the same.
	out := filepath.Join(dir, "out.labels")
	if err := SaveLabels(out, "a test labelling", docs, pieces); err != nil {
		t.Fatal(err)
	}
	again, err := ReadLabels(out, tok, pieces)
	if err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		if again[i].Name != docs[i].Name || string(again[i].Text) != string(docs[i].Text) || len(again[i].Labels) != len(docs[i].Labels) {
			t.Fatalf("round trip: doc %d %+v, want %+v", i, again[i], docs[i])
		}
		for j := range docs[i].Labels {
			if again[i].Labels[j] != docs[i].Labels[j] {
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
			_, err := ReadLabels(p, tok, pieces)
			if err == nil || !strings.HasPrefix(err.Error(), p+c.want) {
				t.Errorf("error %v\nwant %s%s…", err, p, c.want)
			}
		})
	}
	if _, err := ReadLabels(filepath.Join(dir, "missing"), tok, pieces); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
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
		docs, err := ReadLabels(p, tok, pieces)
		if err != nil {
			if !strings.HasPrefix(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		out := p + ".out"
		defer os.Remove(out)
		if err := SaveLabels(out, "fuzz", docs, pieces); err != nil {
			t.Fatal(err)
		}
		again, err := ReadLabels(out, tok, pieces)
		if err != nil {
			t.Fatalf("written back, it does not read: %v", err)
		}
		if len(again) != len(docs) {
			t.Fatalf("%d docs written back as %d", len(docs), len(again))
		}
		for i := range docs {
			if again[i].Name != docs[i].Name || string(again[i].Text) != string(docs[i].Text) || fmt.Sprint(again[i].Labels) != fmt.Sprint(docs[i].Labels) {
				t.Errorf("doc %d changed on the round trip", i)
			}
		}
	})
}
