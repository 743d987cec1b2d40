//go:build mpi

package compile

import (
	"io/fs"

	"github.com/mlc-dev/mlc/dist"
)

// distSource is the dist package's source that BuildDistRunner writes
// beside a rank's runner; only a build with MPI carries it.
var distSource fs.FS = dist.Source
