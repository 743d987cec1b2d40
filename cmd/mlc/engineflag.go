package main

import (
	"flag"
	"fmt"

	"github.com/mlc-dev/mlc/mechinterp"
)

// engineFlag adds -engine to a verb that runs models through package
// mechinterp; the function it returns reads the flag after parsing.
func engineFlag(fs *flag.FlagSet) func() (mechinterp.Engine, error) {
	s := fs.String("engine", "gen", "gen (the generated code, built with the Go toolchain) or interp (mlc's reference interpreter, in process, no toolchain)")
	return func() (mechinterp.Engine, error) {
		if *s != string(mechinterp.EngineGen) && *s != string(mechinterp.EngineInterp) {
			return "", fmt.Errorf("-engine must be gen or interp, got %q", *s)
		}
		return mechinterp.Engine(*s), nil
	}
}
