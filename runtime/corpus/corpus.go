// Package corpus loads training text and splits it into training and
// validation sets deterministically.
//
// A corpus is a file, a directory tree, or by default every .go file of the
// Go standard library's source ($(go env GOROOT)/src). A directory is split by
// file: a hash of each file's path relative to the root puts it in
// validation or training, so the same tree always splits the same way on
// any machine, and a file's lines never straddle the two sets. A single file
// is split by position instead: its last lines are the validation set.
package corpus

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultValFraction is the share of files held out for validation.
const DefaultValFraction = 0.05

// Options controls Load. The zero value loads everything with the default
// validation share.
type Options struct {
	// MaxBytes caps the bytes loaded; 0 means no cap. From a directory,
	// files are taken in a fixed pseudo-random order of their paths until
	// the next would pass the cap, so the subset is spread over the whole
	// tree, is the same on every run, and only grows as the cap grows. From
	// a file, the first MaxBytes bytes are kept, cut after the last whole line.
	MaxBytes int64
	// ValFraction is the share of files (of bytes, for a single file, rounded
	// up to a line boundary) used for validation, in [0, 1); 0 means
	// DefaultValFraction.
	ValFraction float64
	// Exts, when not empty, keeps only files whose names end in one of these
	// suffixes (e.g. ".go"). The default corpus uses []string{".go"}.
	Exts []string
}

// File is one loaded file.
type File struct {
	// Path is relative to the corpus root, with forward slashes; for a
	// single-file corpus it is the file's base name.
	Path string
	Data []byte
}

// Set is the training or the validation part of a corpus.
type Set struct {
	Files []File // sorted by Path
	Bytes int64  // total size of the files' data
}

// Docs returns the files' contents, in Path order, as documents for a
// tokenizer's trainer.
func (s *Set) Docs() [][]byte {
	docs := make([][]byte, len(s.Files))
	for i, f := range s.Files {
		docs[i] = f.Data
	}
	return docs
}

// Corpus is loaded text, split for training and validation.
type Corpus struct {
	// Root is the file or directory loaded.
	Root       string
	Train, Val Set
	// Skipped counts files left out because they look binary (they hold a
	// NUL byte in their first 8000 bytes, the test git uses).
	Skipped int
}

// String summarises the corpus, e.g. for a training log.
func (c *Corpus) String() string {
	return fmt.Sprintf("%s: train %d files %d bytes, validation %d files %d bytes, %d binary files skipped",
		c.Root, len(c.Train.Files), c.Train.Bytes, len(c.Val.Files), c.Val.Bytes, c.Skipped)
}

// GoRoot finds the Go installation whose source is the default corpus: the
// one `go env GOROOT` names, or $GOROOT when the go command cannot be run.
// (runtime.GOROOT is not used: it reports where this binary was built.)
func GoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err == nil {
		if root := strings.TrimSpace(string(out)); root != "" {
			return root, nil
		}
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return root, nil
	}
	if err == nil {
		err = errors.New("it printed nothing")
	}
	return "", fmt.Errorf("corpus: cannot find GOROOT for the default corpus: `go env GOROOT` failed (%v) and $GOROOT is not set; give a corpus file or directory instead", err)
}

// Load reads the corpus at p (a file or a directory), or the default corpus
// when p is "".
//
// In a directory, regular files are read recursively, except hidden entries
// (names starting with "."), directories named testdata (Go trees keep
// deliberately odd and generated inputs there) and files that look binary.
// Symbolic links are not followed.
func Load(p string, opts Options) (*Corpus, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("corpus: MaxBytes is %d, want >= 0", opts.MaxBytes)
	}
	if !(opts.ValFraction >= 0 && opts.ValFraction < 1) {
		return nil, fmt.Errorf("corpus: ValFraction is %v, want a value in [0, 1)", opts.ValFraction)
	}
	if opts.ValFraction == 0 {
		opts.ValFraction = DefaultValFraction
	}
	if p == "" {
		root, err := GoRoot()
		if err != nil {
			return nil, err
		}
		p = filepath.Join(root, "src")
		if len(opts.Exts) == 0 {
			opts.Exts = []string{".go"}
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("corpus: default corpus: %v (is this Go installation without its source?); give a corpus file or directory instead", err)
		}
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("corpus: %v", err)
	}
	if info.IsDir() {
		return loadDir(p, opts)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("corpus: %s is neither a regular file nor a directory", p)
	}
	return loadFile(p, opts)
}

func loadFile(p string, opts Options) (*Corpus, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("corpus: %v", err)
	}
	if opts.MaxBytes > 0 && int64(len(data)) > opts.MaxBytes {
		data = data[:cutAfterLine(data, int(opts.MaxBytes))]
	}
	// The validation set is the tail from the start of the line that holds
	// the cut, so that no line is split between the two sets and validation
	// gets at least its share.
	cut := cutAfterLine(data, len(data)-int(float64(len(data))*opts.ValFraction))
	name := filepath.Base(p)
	c := &Corpus{Root: p}
	c.Train.add(File{Path: name, Data: data[:cut:cut]})
	if cut < len(data) {
		c.Val.add(File{Path: name, Data: data[cut:]})
	}
	return c, nil
}

// cutAfterLine returns the end of the last whole line within data[:n], or n
// when data[:n] holds no newline.
func cutAfterLine(data []byte, n int) int {
	if i := bytes.LastIndexByte(data[:n], '\n'); i >= 0 {
		return i + 1
	}
	return n
}

type entry struct {
	rel  string // slash-separated path relative to the root
	size int64
	key  uint64 // order of selection under MaxBytes
}

func loadDir(root string, opts Options) (*Corpus, error) {
	var entries []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if strings.HasPrefix(name, ".") || name == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".") || !d.Type().IsRegular() || !hasExt(name, opts.Exts) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		entries = append(entries, entry{rel, info.Size(), hash64(saltSelect, rel)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("corpus: %v", err)
	}
	if opts.MaxBytes > 0 {
		// Equal hashes are astronomically unlikely; the path still decides them.
		slices.SortFunc(entries, func(a, b entry) int {
			if c := cmp.Compare(a.key, b.key); c != 0 {
				return c
			}
			return strings.Compare(a.rel, b.rel)
		})
	} else {
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.rel, b.rel) })
	}
	c := &Corpus{Root: root}
	var files []File
	var total int64
	for _, e := range entries {
		if opts.MaxBytes > 0 && total+e.size > opts.MaxBytes {
			break
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.rel)))
		if err != nil {
			return nil, fmt.Errorf("corpus: %v", err)
		}
		if opts.MaxBytes > 0 && total+int64(len(data)) > opts.MaxBytes {
			break // the file grew since it was listed
		}
		if looksBinary(data) {
			c.Skipped++
			continue
		}
		files = append(files, File{Path: e.rel, Data: data})
		total += int64(len(data))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("corpus: no text files to load in %s (suffixes %q, MaxBytes %d)", root, opts.Exts, opts.MaxBytes)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	val := splitVal(files, opts.ValFraction)
	for i, f := range files {
		if val[i] {
			c.Val.add(f)
		} else {
			c.Train.add(f)
		}
	}
	return c, nil
}

func (s *Set) add(f File) {
	s.Files = append(s.Files, f)
	s.Bytes += int64(len(f.Data))
}

func hasExt(name string, exts []string) bool {
	if len(exts) == 0 {
		return true
	}
	for _, e := range exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// looksBinary is git's test: a NUL byte in the first 8000 bytes.
func looksBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}

// splitVal marks the validation files: those whose path hashes below
// fraction. So that a small tree still gets both sets, when no file is
// chosen the lowest-hashing one is, and when every file is chosen the
// highest-hashing one stays in training (given two files or more).
func splitVal(files []File, fraction float64) []bool {
	val := make([]bool, len(files))
	u := make([]float64, len(files))
	n := 0
	for i, f := range files {
		u[i] = unitHash(saltVal, f.Path)
		if u[i] < fraction {
			val[i] = true
			n++
		}
	}
	if len(files) < 2 || (n > 0 && n < len(files)) {
		return val
	}
	pick := 0
	for i := range files {
		if (n == 0 && u[i] < u[pick]) || (n > 0 && u[i] > u[pick]) {
			pick = i
		}
	}
	val[pick] = n == 0
	return val
}

// Salts keep the choice of files under MaxBytes independent of the split.
const (
	saltSelect = 0x5e1ec7
	saltVal    = 0x7a11d
)

// hash64 is FNV-1a over the path followed by SplitMix64's finaliser, whose
// well-mixed output makes the hash usable as a uniform number. Paths are
// relative and slash-separated, so the value is the same on every machine.
func hash64(salt uint64, p string) uint64 {
	h := uint64(14695981039346656037) ^ salt
	for i := 0; i < len(p); i++ {
		h ^= uint64(p[i])
		h *= 1099511628211
	}
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
	h = (h ^ (h >> 27)) * 0x94d049bb133111eb
	return h ^ (h >> 31)
}

// unitHash maps a path to [0, 1).
func unitHash(salt uint64, p string) float64 { return float64(hash64(salt, p)>>11) * 0x1p-53 }
