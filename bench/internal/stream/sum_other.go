//go:build !amd64 || purego

package stream

func sum(x []float32) float32 { return sumGo(x) }

// Vectorised reports whether Sum uses vector loads.
func Vectorised() bool { return false }
