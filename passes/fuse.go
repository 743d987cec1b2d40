package passes

import "github.com/mlc-dev/mlc/graph"

// Fuse groups nodes into kernels that codegen emits as single loop nests.
// (Filled in with the fusion rules.)
func Fuse(g *graph.Graph, st *Stats) error { return nil }
