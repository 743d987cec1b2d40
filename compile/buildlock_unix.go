//go:build unix

package compile

import (
	"os"
	"syscall"
)

// buildLock waits for an exclusive advisory lock on path, so that
// processes that need the same runner (the ranks of mlc train -dist mpi
// on one host, starting together) build it once: the others wait, then
// find it in the cache. The kernel releases it however the process ends.
func buildLock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
