package dsl

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mlc-dev/mlc/graph"
)

// DriverMain is the main function of the small driver program that `mlc
// compile ./pkg -func Build` generates for a user's own package: it runs
// the user's Build function and prints the resulting graphs (eval mode, then
// training mode) in the IR text form, separated by a line "---", for mlc to
// compile. Running the user's code in its own module keeps mlc's own
// dependencies out of the user's go.mod.
func DriverMain(args []string, name, source string, build func(*Builder)) int {
	return driver(args, os.Stdout, os.Stderr, name, source, build)
}

// DriverSeparator separates the two graphs a driver prints.
const DriverSeparator = "---\n"

func driver(args []string, stdout, stderr io.Writer, name, source string, build func(*Builder)) int {
	fs := flag.NewFlagSet("mlc-driver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dtype := fs.String("dtype", "f64", "float dtype")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dt, err := graph.ParseDType(*dtype)
	if err != nil || !dt.IsFloat() {
		fmt.Fprintf(stderr, "-dtype must be f32 or f64, got %q\n", *dtype)
		return 2
	}
	for i, train := range []bool{false, true} {
		g, err := Build(name, source, Options{Float: dt, Train: train}, build)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if i > 0 {
			fmt.Fprint(stdout, DriverSeparator)
		}
		fmt.Fprint(stdout, g.String())
	}
	return 0
}
