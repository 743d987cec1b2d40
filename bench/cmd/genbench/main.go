// Command genbench compiles the peer benchmark's packages (XOR at lr 0.5,
// the GPT's train step and decoding windows) with this checkout's mlc into
// bench/internal/gen, which git ignores, unless they are already there for
// the current compiler sources (see internal/genpkgs). cmd/peers does the
// same before it builds its workers; run this one to build or vet the Go
// workers by hand:
//
//	go run ./cmd/genbench [-force]    # in bench/
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mlc-dev/mlc/bench/internal/genpkgs"
)

func main() {
	force := flag.Bool("force", false, "compile even when the packages are up to date")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: genbench [-force]   (run from bench/)")
		os.Exit(2)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "genbench: "+format+"\n", args...) }
	if err := genpkgs.Ensure(".", *force, logf); err != nil {
		fmt.Fprintln(os.Stderr, "genbench:", err)
		os.Exit(1)
	}
}
