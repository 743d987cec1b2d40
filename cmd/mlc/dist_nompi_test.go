//go:build !mpi

package main

import (
	"strings"
	"testing"
)

// TestDistNotBuilt: -dist mpi in an mlc built without MPI is a one-line
// error that says how to build it.
func TestDistNotBuilt(t *testing.T) {
	code, _, stderr := runCLI("train", "-model", "xor", "-steps", "2", "-dist", "mpi")
	if code == 0 || !strings.Contains(stderr, "go build -tags mpi ./cmd/mlc") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("exit %d, stderr %q; want one line saying to build with -tags mpi", code, stderr)
	}
	code, _, stderr = runCLI("train", "-model", "xor", "-steps", "2", "-dist", "tcp")
	if code == 0 || !strings.Contains(stderr, "-dist takes mpi") {
		t.Errorf("-dist tcp: exit %d, stderr %q", code, stderr)
	}
}
