package safetensors

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// TempPrefix starts the name of the temporary file that WriteFileAtomic
// writes beside its target: ".tmp-" + the target's base name + a random
// suffix. A process killed mid-save leaves such a file behind; it is never
// read and may be deleted (see TempFiles).
const TempPrefix = ".tmp-"

// ReadFile reads and checks the safetensors file at path. Every error is one
// line that starts with path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, pathError(path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := decode(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// pathError drops the operation and the repeated path from an *fs.PathError,
// so the message reads "ckpt.safetensors: no such file or directory" and
// errors.Is still sees the cause.
func pathError(path string, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// WriteFileAtomic writes f to path so that path holds either its previous
// content or all of f, whatever happens during the call: it writes a
// temporary file in the same directory (see TempPrefix), syncs it to disk,
// renames it over path and syncs the directory so that the rename itself
// survives a power cut. The new file keeps the mode of the one it replaces,
// or gets 0644.
func WriteFileAtomic(path string, f *File) error {
	order, err := check(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, TempPrefix+base+"-*")
	if err != nil {
		return pathError(path, err)
	}
	// Until the rename succeeds the temporary file is garbage; remove it on
	// every error path.
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := encode(w, f, order); err != nil {
		return pathError(path, err)
	}
	if err := w.Flush(); err != nil {
		return pathError(path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return pathError(path, err)
	}
	if err := tmp.Sync(); err != nil {
		return pathError(path, err)
	}
	if err := tmp.Close(); err != nil {
		return pathError(path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return pathError(path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%s: syncing directory: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable. Windows cannot open a directory
// for syncing and makes renames durable by itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// TempFiles lists the temporary files that interrupted WriteFileAtomic calls
// for path left behind. They are safe to delete when no save to path is
// running.
func TempFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, pathError(dir, err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix+base+"-") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}
