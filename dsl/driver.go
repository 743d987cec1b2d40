package dsl

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/mlc-dev/mlc/graph"
)

// DriverMain is the main function of the small driver program that mlc
// generates for a user's own package: it runs the user's Build function and
// prints what mlc compiles (see driver). Running the user's code in its own
// module keeps mlc's own dependencies out of the user's go.mod.
func DriverMain(args []string, name, source string, build func(*Builder)) int {
	return driver(args, os.Stdout, os.Stderr, name, source, nil, func(b *Builder, _ any) { build(b) })
}

// DriverMainConfig is DriverMain for a Build function that takes a config
// struct: def gives its defaults, and the driver's -config k=v,... sets
// fields as zoo configs are set (see ApplyConfig).
func DriverMainConfig[C any](args []string, name, source string, build func(*Builder, C), def func() C) int {
	newConfig := func() any { c := def(); return &c }
	return driver(args, os.Stdout, os.Stderr, name, source, newConfig, func(b *Builder, cfg any) { build(b, *cfg.(*C)) })
}

// DriverSeparator separates the parts a driver prints.
const DriverSeparator = "---\n"

// DriverHeader is the first part a driver prints, as JSON: the canonical
// config and the config keys with their values.
type DriverHeader struct {
	Config string      `json:"config"`
	Keys   []ConfigKey `json:"keys"`
}

// driver parses -dtype, -config and -mem-limit, builds the model in eval
// and in training mode and prints the header, then the two graphs in the IR
// text form, separated by DriverSeparator. Past -mem-limit bytes of heap it
// stops with a message, so that a Build that grows without end cannot take
// the machine's memory.
func driver(args []string, stdout, stderr io.Writer, name, source string, newConfig func() any, build func(*Builder, any)) int {
	fs := flag.NewFlagSet("mlc-driver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dtype := fs.String("dtype", "f64", "float dtype")
	spec := fs.String("config", "", "config overrides k=v,k=v")
	memLimit := fs.Int64("mem-limit", 0, "heap bytes the Build function may use (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dt, err := graph.ParseDType(*dtype)
	if err != nil || !dt.IsFloat() {
		fmt.Fprintf(stderr, "-dtype must be f32 or f64, got %q\n", *dtype)
		return 2
	}
	if *memLimit > 0 {
		go watchMemory(uint64(*memLimit), stderr)
	}
	var cfg any
	var hdr DriverHeader
	if newConfig != nil {
		cfg = newConfig()
		if err := ApplyConfig(name, cfg, *spec); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		hdr = DriverHeader{Config: FormatConfig(cfg), Keys: ConfigKeys(cfg)}
	} else if *spec != "" {
		fmt.Fprintf(stderr, "%s: Build takes no config, so -config %q does not apply (write func Build(b *dsl.Builder, c Config) to give it one)\n", name, *spec)
		return 1
	}
	h, _ := json.Marshal(hdr)
	fmt.Fprintf(stdout, "%s\n", h)
	for _, train := range []bool{false, true} {
		g, err := Build(name, source, Options{Float: dt, Train: train}, func(b *Builder) { build(b, cfg) })
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprint(stdout, DriverSeparator)
		fmt.Fprint(stdout, g.String())
	}
	return 0
}

// watchMemory ends the process when its heap passes limit.
func watchMemory(limit uint64, stderr io.Writer) {
	debug.SetMemoryLimit(int64(limit))
	var ms runtime.MemStats
	for {
		time.Sleep(50 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > limit {
			fmt.Fprintf(stderr, "the Build function used more than %d MiB of memory (-build-mem); does it grow the model without end?\n", limit>>20)
			os.Exit(1)
		}
	}
}
