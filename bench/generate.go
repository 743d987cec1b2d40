// Package bench is the peer comparison of mlc: the same workloads run by
// mlc's generated packages, a hand-written Go program, Gorgonia, NumPy and
// PyTorch. It is a separate module so that the main module does not depend
// on the peers. See README.md; run.sh runs everything.
package bench

// The packages the benchmark compiles with mlc (internal/genpkgs lists
// them) are not committed: run.sh (cmd/peers) compiles them into
// internal/gen, which git ignores, with this checkout's compiler whenever
// its sources change. `go generate .` here does the same by hand.
//go:generate go run ./cmd/genbench
