//go:build !mpi

package dist

import (
	"os"
	"strings"
	"testing"
)

func TestRequireWithoutTag(t *testing.T) {
	c, err := Init(Options{Require: true})
	if err == nil {
		t.Fatalf("Init(Require) without -tags mpi returned a Comm of size %d", c.Size())
	}
	for _, want := range []string{"built without", "go build -tags mpi ./cmd/mlc", "apt-get install openmpi-bin libopenmpi-dev"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestLaunchedWithoutTag(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	c, err := Init(Options{})
	if err == nil {
		t.Fatalf("Init as one of 2 mpirun ranks without -tags mpi returned a Comm of size %d", c.Size())
	}
	if want := "started by mpirun (Open MPI) as one of 2 ranks, but this binary was built without MPI: rebuild with go build -tags mpi"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	t.Setenv("OMPI_COMM_WORLD_SIZE", "")
	os.Unsetenv("OMPI_COMM_WORLD_SIZE")
	t.Setenv("PMIX_RANK", "0")
	if _, err := Init(Options{}); err == nil || !strings.Contains(err.Error(), "started by an MPI launcher (PMIx), but this binary was built without MPI") {
		t.Errorf("Init under a PMIx launcher without -tags mpi: got %v", err)
	}
	os.Unsetenv("PMIX_RANK")
	// A one-rank job is one process, which needs no MPI.
	t.Setenv("OMPI_COMM_WORLD_SIZE", "1")
	if c, err := Init(Options{}); err != nil || c.Size() != 1 {
		t.Errorf("Init under a one-rank mpirun without MPI: %v", err)
	}
}
