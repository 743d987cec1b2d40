//go:build !mpi

package compile

import "io/fs"

// distSource is nil without MPI: BuildDistRunner then says how to build.
var distSource fs.FS
