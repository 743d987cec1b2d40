package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/runtime"
)

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"ReadFileHeader": "read_file_header",
		"HTTPServer":     "http_server",
		"parseURL":       "parse_url",
		"utf8Len":        "utf8_len",
		"Int64":          "int64",
		"ServeHTTP":      "serve_http",
		"x":              "x",
		"A":              "a",
		"maxInt_32":      "max_int_32",
		"already_Snake":  "already_snake",
		"IPv4Mask":       "i_pv4_mask", // the rule as stated: a capital before a lower-case letter starts a word
		"_Foo":           "foo",
		"ABC":            "abc",
		"errNoTLS13":     "err_no_tls13",
	} {
		if got := SnakeCase(in); got != want {
			t.Errorf("SnakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCaseSourceErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "the input is empty: give a Go identifier such as readFileHeader"},
		{"aVeryLongIdentifierName", `the input "aVeryLongIdentifierName" has 23 bytes, more than the model's source length src_ctx = 8`},
		{"ünï", `the input "ünï" holds byte 0xc3 at 0: the model reads ASCII text`},
	} {
		_, err := CaseSource(c.in, 8)
		if err == nil || err.Error() != c.want {
			t.Errorf("CaseSource(%q): %v, want %q", c.in, err, c.want)
		}
	}
	src, err := CaseSource("aB", 4)
	if err != nil || len(src) != 4 || src[0] != 'a' || src[1] != 'B' || src[2] != CasePad || src[3] != CasePad {
		t.Errorf("CaseSource(aB, 4) = %v, %v", src, err)
	}
	if s, ok := CaseOutput([]int32{'a', '_', 'b', CaseEnd, 'x'}); s != "a_b" || !ok {
		t.Errorf("CaseOutput = %q, %v", s, ok)
	}
	if s, ok := CaseOutput([]int32{'a', 'b'}); s != "ab" || ok {
		t.Errorf("CaseOutput without an end = %q, %v", s, ok)
	}
}

// TestCaseData: batches hold the source, the target behind the start id,
// the target then the end id; validation identifiers are never drawn for
// training; ExactMatch counts a row only when every target up to the end
// is the argmax.
func TestCaseData(t *testing.T) {
	dir := t.TempDir()
	var src strings.Builder
	for i := range 400 {
		src.WriteString("var ReadFile" + string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + "x int\n")
	}
	src.WriteString("func HTTPServer() {}\n")
	for name, text := range map[string]string{"a.go": src.String(), "b.go": "package b // val\nvar parseURL, errNoTLS int\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := map[string]int{"batch": 4, "src_ctx": 16, "ctx": 20, "vocab": 128}
	ds, err := New(Options{Kind: KindCase, Path: dir, Seed: 1, Config: func(k string) int { return cfg[k] }})
	if err != nil {
		t.Fatal(err)
	}
	d := ds.(*caseData)
	held := map[string]bool{}
	for _, w := range d.val {
		held[w] = true
	}
	for range 50 {
		b, _ := ds.Next()
		s, ids, tg := b["src"], b["ids"], b["targets"]
		for r := range 4 {
			var word []byte
			for _, v := range s.Data[r*16 : (r+1)*16] {
				if v != CasePad {
					word = append(word, byte(v))
				}
			}
			if held[string(word)] {
				t.Fatalf("held-out %q drawn for training", word)
			}
			want := SnakeCase(string(word))
			if ids.Data[r*20] != CaseStart {
				t.Fatalf("ids row %d does not start with CaseStart: %v", r, ids.Data[r*20:(r+1)*20])
			}
			for i := range len(want) {
				if byte(ids.Data[r*20+1+i]) != want[i] || byte(tg.Data[r*20+i]) != want[i] {
					t.Fatalf("row %d: ids %v targets %v, want %q", r, ids.Data[r*20:(r+1)*20], tg.Data[r*20:(r+1)*20], want)
				}
			}
			if tg.Data[r*20+len(want)] != CaseEnd || tg.Data[r*20+len(want)+1] != CasePad {
				t.Fatalf("row %d: targets %v do not end with CaseEnd then CasePad", r, tg.Data[r*20:(r+1)*20])
			}
		}
	}
	if len(ds.Validation()) == 0 {
		t.Fatal("no validation batches")
	}
	// ExactMatch: row 0 right, row 1 wrong after its end (still right),
	// row 2 wrong before its end.
	targets := IDs([]int32{5, CaseEnd, 0, 6, CaseEnd, 0, 7, 7, CaseEnd}, 3, 3)
	logits := runtime.JSONTensor{Shape: []int{3, 3, 8}, Data: make([]runtime.JSONFloat, 72)}
	argmax := []int{5, CaseEnd, 0, 6, CaseEnd, 3, 7, 1, CaseEnd}
	for i, a := range argmax {
		logits.Data[i*8+a] = 1
	}
	if c, n, err := ExactMatch(targets, logits, CaseEnd); c != 2 || n != 3 || err != nil {
		t.Errorf("ExactMatch = %d/%d, %v, want 2/3", c, n, err)
	}
}
