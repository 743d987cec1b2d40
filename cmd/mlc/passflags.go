package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// passFlags are the pass-pipeline switches of graph and compile, in the Go
// compiler's spirit.
type passFlags struct {
	o0         bool
	disable    string
	after      string
	timePasses bool
	stats      bool
}

func (p *passFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&p.o0, "O0", false, "run only the required passes")
	fs.StringVar(&p.disable, "disable", "", "comma-separated passes to skip")
	fs.StringVar(&p.after, "after", "", "print the IR after this pass (to stderr for compile)")
	fs.BoolVar(&p.timePasses, "time-passes", false, "print the time each pass took")
	fs.BoolVar(&p.stats, "stats", false, "print how often each rewrite rule fired")
}

// apply sets the compile options; dumps of -after go to dump.
func (p *passFlags) apply(o *compile.Options, dump func(stage string, g *graph.Graph)) error {
	o.Passes.O0 = p.o0
	if p.disable != "" {
		o.Passes.Disable = strings.Split(p.disable, ",")
		for _, name := range o.Passes.Disable {
			if _, err := passes.LookupPass(name); err != nil {
				return err
			}
		}
	}
	if p.after != "" {
		if _, err := passes.LookupPass(p.after); err != nil {
			return err
		}
		o.Passes.Dump = func(pass string, g *graph.Graph) {
			if pass == p.after {
				dump(pass, g)
			}
		}
	}
	o.Stats = passes.NewStats()
	return nil
}

// report prints -time-passes and -stats output.
func (p *passFlags) report(c *cli, st *passes.Stats) {
	if p.timePasses {
		names := make([]string, 0, len(st.Times))
		for k := range st.Times {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return order(names[i]) < order(names[j]) })
		fmt.Fprintln(c.stderr, "pass times:")
		for _, n := range names {
			fmt.Fprintf(c.stderr, "  %-10s %10s\n", n, st.Times[n])
		}
	}
	if p.stats {
		fmt.Fprint(c.stderr, "rewrites:\n"+st.Report())
	}
}

func order(pass string) int {
	for i, p := range passes.Pipeline {
		if p.Name == pass {
			return i
		}
	}
	return len(passes.Pipeline)
}
