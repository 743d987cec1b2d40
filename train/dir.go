package train

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// The files of a checkpoint directory.
const (
	CheckpointFile = "checkpoint.safetensors"
	CSVFile        = "loss.csv"
	PlotFile       = "loss.png"
	lockFile       = ".lock"
)

// Dir is a checkpoint directory held by one run: Open locks it (a second
// run into the same directory is refused while the first lives) and removes
// the temporary files that a killed save left.
type Dir struct {
	Path   string
	unlock func()
	rows   [][]string // loss.csv rows kept from earlier runs (steps before this run's start)
}

// Existing describes the checkpoint in dir, or returns "" when there is
// none.
func Existing(dir string) (string, error) {
	path := filepath.Join(dir, CheckpointFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	ck, err := safetensors.LoadCheckpoint(path)
	if err != nil {
		return "an unreadable checkpoint (" + err.Error() + ")", nil
	}
	return fmt.Sprintf("a checkpoint of model %q after step %d", ck.Model, ck.Step), nil
}

// Open takes dir for a run: a fresh run (resume false) is refused when dir
// holds a checkpoint, unless force; nothing in dir is changed before this
// returns, except the lock file. start is the step the run starts at: rows
// of loss.csv from that step on (written after the checkpoint by a run that
// was then killed) are dropped, so the file stays consistent with the
// checkpoint.
func Open(dir string, resume, force bool, start int) (*Dir, error) {
	if !resume && !force {
		what, err := Existing(dir)
		if err != nil {
			return nil, err
		}
		if what != "" {
			return nil, fmt.Errorf("%s holds %s; use -resume to continue it, or -force to start a new run over it", dir, what)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lock(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("%s: another mlc train is using this directory (%v)", dir, err)
	}
	d := &Dir{Path: dir, unlock: unlock}
	if err := d.cleanTemps(); err != nil {
		d.Close()
		return nil, err
	}
	if resume {
		if d.rows, err = readRows(filepath.Join(dir, CSVFile), start); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Close releases the directory.
func (d *Dir) Close() {
	if d.unlock != nil {
		d.unlock()
		d.unlock = nil
	}
}

// cleanTemps removes what killed saves left: temporary files of
// write-then-rename, which are never read.
func (d *Dir) cleanTemps() error {
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), safetensors.TempPrefix) && !e.IsDir() {
			if err := os.Remove(filepath.Join(d.Path, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// readRows reads loss.csv's data rows for steps before start; a missing
// file has none.
func readRows(path string, start int) ([][]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var keep [][]string
	for i, r := range rows {
		if i == 0 {
			continue // header
		}
		step, err := strconv.Atoi(r[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad step %q", path, i+1, r[0])
		}
		if step < start {
			keep = append(keep, r)
		}
	}
	return keep, nil
}

// saveFiles writes the data's files (the tokenizer) with write-then-rename.
func (d *Dir) saveFiles(files map[string][]byte) error {
	for name, b := range files {
		if err := writeAtomic(filepath.Join(d.Path, name), b); err != nil {
			return err
		}
	}
	return nil
}

// saveCSV rewrites loss.csv with write-then-rename: the kept rows, then
// this run's.
func (d *Dir) saveCSV(rows [][]string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"step", "loss", "val_loss"})
	_ = w.WriteAll(d.rows)
	_ = w.WriteAll(rows)
	if err := w.Error(); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(d.Path, CSVFile), buf.Bytes())
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so that path holds the old or the new content
// whatever happens.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), safetensors.TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if err := tmp.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}
