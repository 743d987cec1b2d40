package corpus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
)

// writeTree creates files (slash paths → contents) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func paths(s Set) []string {
	var out []string
	for _, f := range s.Files {
		out = append(out, f.Path)
	}
	return out
}

func allPaths(c *Corpus) []string {
	p := append(paths(c.Train), paths(c.Val)...)
	slices.Sort(p)
	return p
}

func TestLoadDirSelection(t *testing.T) {
	root := writeTree(t, map[string]string{
		"b/c.go":            "package c\n",
		"a.go":              "package a\n",
		"notes.txt":         "notes\n",
		"b/testdata/x.go":   "package x\n",
		".git/config":       "[core]\n",
		".hidden.go":        "package h\n",
		"bin.dat":           "ab\x00cd",
		"z/deep/er/file.go": "package file\n",
		"b/testdata.go":     "package td\n",
		"vendor/v/v.go":     "package v\n",
		"_underscore/u.go":  "package u\n",
	})
	if err := os.MkdirAll(filepath.Join(root, "empty", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		exts    []string
		want    []string
		skipped int
	}{
		{nil, []string{"_underscore/u.go", "a.go", "b/c.go", "b/testdata.go", "notes.txt", "vendor/v/v.go", "z/deep/er/file.go"}, 1},
		{[]string{".go"}, []string{"_underscore/u.go", "a.go", "b/c.go", "b/testdata.go", "vendor/v/v.go", "z/deep/er/file.go"}, 0},
		{[]string{".txt", ".dat"}, []string{"notes.txt"}, 1},
	} {
		c, err := Load(root, Options{Exts: tc.exts})
		if err != nil {
			t.Fatal(err)
		}
		if got := allPaths(c); !slices.Equal(got, tc.want) {
			t.Errorf("exts %q: loaded %q, want %q", tc.exts, got, tc.want)
		}
		if c.Skipped != tc.skipped {
			t.Errorf("exts %q: skipped %d binary files, want %d", tc.exts, c.Skipped, tc.skipped)
		}
		var total int64
		for _, s := range []Set{c.Train, c.Val} {
			if !slices.IsSorted(paths(s)) {
				t.Errorf("files not sorted: %q", paths(s))
			}
			var n int64
			for _, f := range s.Files {
				want, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
				if !bytes.Equal(f.Data, want) {
					t.Errorf("%s: data %q, want %q", f.Path, f.Data, want)
				}
				n += int64(len(f.Data))
			}
			if n != s.Bytes {
				t.Errorf("set reports %d bytes, files hold %d", s.Bytes, n)
			}
			total += n
		}
		if len(tc.want) >= 2 && (len(c.Val.Files) == 0 || len(c.Train.Files) == 0) {
			t.Errorf("exts %q: a set is empty: %s", tc.exts, c)
		}
	}
}

// manyFiles makes n files of size bytes each.
func manyFiles(t *testing.T, n, size int) string {
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("pkg%d/file%03d.go", i%7, i)] = strings.Repeat("x", size-1) + "\n"
	}
	return writeTree(t, files)
}

func TestSplitDeterministic(t *testing.T) {
	a := manyFiles(t, 400, 50)
	b := manyFiles(t, 400, 50) // the same tree elsewhere: the split must not depend on the root
	ca, err := Load(a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := Load(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(paths(ca.Val), paths(cb.Val)) || !slices.Equal(paths(ca.Train), paths(cb.Train)) {
		t.Errorf("same tree, different split:\n%q\n%q", paths(ca.Val), paths(cb.Val))
	}
	// 400 files at 5%: 20 expected; 6..40 is far outside binomial noise (sd 4.4).
	if n := len(ca.Val.Files); n < 6 || n > 40 {
		t.Errorf("%d of 400 files in validation, want about 20", n)
	}
	if len(ca.Val.Files)+len(ca.Train.Files) != 400 {
		t.Errorf("%d + %d files, want 400", len(ca.Val.Files), len(ca.Train.Files))
	}
	// A larger fraction holds out more files, and a superset of them.
	big, err := Load(a, Options{ValFraction: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(big.Val.Files); n < 150 || n > 250 {
		t.Errorf("%d of 400 files in validation at 0.5, want about 200", n)
	}
	for _, p := range paths(ca.Val) {
		if _, ok := slices.BinarySearch(paths(big.Val), p); !ok {
			t.Errorf("%s is in validation at 0.05 but not at 0.5", p)
		}
	}
}

func TestSplitSmallTrees(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		c, err := Load(manyFiles(t, n, 10), Options{})
		if err != nil {
			t.Fatal(err)
		}
		wantVal := 1
		if n == 1 {
			wantVal = 0
		}
		if len(c.Val.Files) != wantVal || len(c.Train.Files) != n-wantVal {
			t.Errorf("%d files: split %d train / %d validation, want %d / %d", n, len(c.Train.Files), len(c.Val.Files), n-wantVal, wantVal)
		}
	}
	// Everything in validation by hash: one file must stay for training.
	c, err := Load(manyFiles(t, 3, 10), Options{ValFraction: 0.999999})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Train.Files) != 1 || len(c.Val.Files) != 2 {
		t.Errorf("split %d / %d at fraction ~1, want 1 / 2", len(c.Train.Files), len(c.Val.Files))
	}
}

func TestMaxBytes(t *testing.T) {
	root := manyFiles(t, 200, 100)
	var prev []string
	for _, max := range []int64{250, 1000, 5000, 5050, 20000, 1 << 30} {
		c, err := Load(root, Options{MaxBytes: max})
		if err != nil {
			t.Fatal(err)
		}
		total := c.Train.Bytes + c.Val.Bytes
		want := min(max/100*100, 20000)
		if total != want {
			t.Errorf("MaxBytes %d: loaded %d bytes, want %d", max, total, want)
		}
		got := allPaths(c)
		for _, p := range prev {
			if _, ok := slices.BinarySearch(got, p); !ok {
				t.Errorf("MaxBytes %d dropped %s, which a smaller cap kept", max, p)
			}
		}
		again, err := Load(root, Options{MaxBytes: max})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(allPaths(again), got) {
			t.Errorf("MaxBytes %d: two loads chose different files", max)
		}
		prev = got
	}
	// The subset is spread over the tree, not the first files in order.
	c, err := Load(root, Options{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := allPaths(c); slices.Equal(got[:3], []string{"pkg0/file000.go", "pkg0/file007.go", "pkg0/file014.go"}) {
		t.Errorf("MaxBytes took the first files in path order: %q", got)
	}
}

func TestLoadFile(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "line %02d\n", i) // 8 bytes a line
	}
	text := b.String()
	root := writeTree(t, map[string]string{"input.txt": text, "oneline.txt": strings.Repeat("y", 100)})
	for _, tc := range []struct {
		name               string
		opts               Options
		wantTrain, wantVal string
	}{
		{"input.txt", Options{}, text[:760], text[760:]},                   // 5% of 800 = 40 bytes = 5 lines
		{"input.txt", Options{ValFraction: 0.1}, text[:720], text[720:]},   // 10 lines
		{"input.txt", Options{MaxBytes: 163}, text[:152], text[152:160]},   // cut after 20 lines, 1 held out
		{"input.txt", Options{ValFraction: 0.013}, text[:784], text[784:]}, // 10 bytes: from the start of the line holding the cut
		{"oneline.txt", Options{ValFraction: 0.1}, text[:0] + strings.Repeat("y", 90), strings.Repeat("y", 10)},
	} {
		c, err := Load(filepath.Join(root, tc.name), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Train.Files) != 1 || c.Train.Files[0].Path != tc.name {
			t.Fatalf("%s %+v: train files %q", tc.name, tc.opts, paths(c.Train))
		}
		if got := string(c.Train.Files[0].Data); got != tc.wantTrain {
			t.Errorf("%s %+v: train ends %q (%d bytes), want %d bytes", tc.name, tc.opts, got[max(0, len(got)-10):], len(got), len(tc.wantTrain))
		}
		if got := string(bytes.Join(c.Val.Docs(), nil)); got != tc.wantVal {
			t.Errorf("%s %+v: validation %q, want %q", tc.name, tc.opts, got, tc.wantVal)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	root := writeTree(t, map[string]string{"bin": "\x00\x01"})
	for _, tc := range []struct {
		path string
		opts Options
		want string
	}{
		{filepath.Join(root, "missing"), Options{}, "no such file or directory"},
		{root, Options{MaxBytes: -1}, "MaxBytes is -1, want >= 0"},
		{root, Options{ValFraction: 1}, "ValFraction is 1, want a value in [0, 1)"},
		{root, Options{ValFraction: -0.1}, "ValFraction is -0.1"},
		{root, Options{}, "no text files to load in"},
		{root, Options{Exts: []string{".go"}}, `(suffixes [".go"], MaxBytes 0)`},
	} {
		_, err := Load(tc.path, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "corpus: ") {
			t.Errorf("Load(%s, %+v) error %v, want %q", tc.path, tc.opts, err, tc.want)
		}
	}
}

func TestGoRootCorpus(t *testing.T) {
	root, err := GoRoot()
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(filepath.Join(root, "src")); err != nil {
		t.Skipf("no Go source: %v", err)
	}
	opts := Options{}
	if !testutil.LongTests() {
		opts.MaxBytes = 8 << 20
	}
	summary := func() (train, val []string, c *Corpus) {
		c, err := Load("", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []Set{c.Train, c.Val} {
			for _, f := range s.Files {
				if !strings.HasSuffix(f.Path, ".go") || strings.Contains("/"+f.Path, "/testdata/") {
					t.Fatalf("unexpected file %s", f.Path)
				}
			}
		}
		return paths(c.Train), paths(c.Val), c
	}
	train1, val1, c := summary()
	t.Log(c)
	if len(train1) == 0 || len(val1) == 0 || c.Val.Bytes == 0 || c.Train.Bytes == 0 {
		t.Fatalf("empty split: %s", c)
	}
	share := float64(len(val1)) / float64(len(train1)+len(val1))
	if share < 0.03 || share > 0.07 {
		t.Errorf("validation holds %.3f of the files, want about 0.05", share)
	}
	c = nil
	train2, val2, _ := summary()
	if !slices.Equal(train1, train2) || !slices.Equal(val1, val2) {
		t.Error("two loads of the default corpus split differently")
	}
}
