//go:build !unix

package compile

// buildLock is a no-op where there is no flock: concurrent builds of one
// runner then both build it, and the last rename wins.
func buildLock(string) (func(), error) { return func() {}, nil }
