// Command mlc compiles models written in the mlc DSL into standalone,
// allocation-free Go packages, and runs, inspects, trains and benchmarks them.
//
// Usage:
//
//	mlc <verb> [flags]
//
// Run "mlc help" for the verbs and "mlc <verb> -h" for a verb's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
)

// verb is one subcommand.
type verb struct {
	name  string
	usage string // one line: flags synopsis
	doc   string
	run   func(c *cli, args []string) error
}

// cli carries the output streams, so tests run verbs in-process.
type cli struct {
	stdout, stderr io.Writer
}

// verbs is every verb in help order: the table below, then the ones other
// files register (interpretability tools), by name.
var verbs []verb

// registered are verbs that their own files add with register.
var registered []verb

// register adds a verb from its own file's init.
func register(v verb) { registered = append(registered, v) }

func init() {
	// Assigned here because the verbs' help text refers back to this table.
	verbs = []verb{
		{"list", "mlc list [-json]", "list the zoo's models and their config keys", cmdList},
		{"graph", "mlc graph -model M [-config k=v,...] [-dtype f32|f64] [-stage forward|train|prefill|decode] [-format text|dot|json]", "print a model's IR", cmdGraph},
		{"compile", "mlc compile -model M|./pkg|file.onnx [-config k=v,...] [-dtype f32|f64] [-opt ...] [-predict-batch N] [-weights int8|bf16] [-ckpt DIR | -weights-file FILE] [-precision bf16] -o DIR [-pkg NAME] [-module PATH]", "compile a model into a standalone Go package", cmdCompile},
		{"inspect", "mlc inspect -model M [-config k=v,...] [-dtype f32|f64] -phase forward|backward|update|predict", "print the generated Go source of one phase", cmdInspect},
		{"stats", "mlc stats -model M [-config k=v,...] [-dtype f32|f64] [-opt KIND] [-json]", "parameters, FLOPs, memory: naive, planned and the liveness lower bound", cmdStats},
		{"train", "mlc train -model M [-config k=v,...] [-steps N] [-batch B] [-opt sgd|momentum|ema-momentum|rmsprop|adam|adamw] [-lr R] [-wd W] [-warmup N] [-cosine] [-lr-min R] [-clip C] [-l2 L] [-seed S] [-params FILE] [-data FILE|DIR] [-ckpt DIR] [-resume] [-force] [-save-every N|D] [-until K] [-precision bf16] [-dist mpi]", "train a model with its generated code", cmdTrain},
		{"generate", "mlc generate -ckpt DIR [-model M] [-prompt S | -input S] [-n N] [-temperature T] [-top-k K] [-top-p P] [-seed S] [-no-cache]", "generate text with a trained language model, or an encoder-decoder's output for -input", cmdGenerate},
		{"embed", "mlc embed -ckpt DIR (-near WORD | -analogy a,b,c | -sentence TEXT -sentences FILE [-engine gen|interp]) [-k N] [-json]", "nearest words and analogies (word2vec), nearest sentences (bert)", cmdEmbed},
		{"bench", "mlc bench -model M [-config k=v,...] [-dtype f32|f64] [-entries TrainStep,Predict,DecodeStep] [-runs N] [-time D] [-no-interp] [-vs-O0] [-weights int8|bf16] [-precision bf16] [-vs-f32] [-json]", "time generated code against the interpreter: ns, allocations and bytes per call", cmdBench},
		{"run", "mlc run -model M [-config k=v,...] [-params FILE] [-inputs FILE] [-engine interp|gen] [-phase full|decode [-prefill N]] [-grads] [-seed S] [-l2 L] [-masks FILE] [-predict-batch N] [-json]", "evaluate a model on inputs with either engine", cmdRun},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// allVerbs appends the registered verbs to the table once, sorted by name
// (file init order must not decide the help order).
var allVerbs = sync.OnceFunc(func() {
	extra := slices.Clone(registered)
	slices.SortFunc(extra, func(a, b verb) int { return strings.Compare(a.name, b.name) })
	verbs = append(verbs, extra...)
})

// errUsage marks errors that came with their own usage message already printed.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	allVerbs()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		c.help()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, v := range verbs {
		if v.name == args[0] {
			err := v.run(c, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(stderr, "mlc %s: %s\n", v.name, oneLine(err))
			return 1
		}
	}
	fmt.Fprintf(stderr, "mlc: unknown verb %q (verbs: %s); run \"mlc help\"\n", args[0], verbNames())
	return 2
}

// oneLine keeps an error on one line unless it is a list of separate
// mistakes (a model with several errors), which stay one per line.
func oneLine(err error) string {
	return strings.TrimRight(err.Error(), "\n")
}

func verbNames() string {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}

func (c *cli) help() {
	fmt.Fprintln(c.stdout, "mlc compiles ML models written in a Go DSL into standalone, allocation-free Go packages.")
	fmt.Fprintln(c.stdout, "\nVerbs:")
	for _, v := range verbs {
		fmt.Fprintf(c.stdout, "  %-9s %s\n", v.name, v.doc)
	}
	fmt.Fprintln(c.stdout, "\nRun \"mlc <verb> -h\" for a verb's flags.")
}

// flags makes a verb's flag set that reports parse errors as one line.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	for _, v := range verbs {
		if v.name == name {
			fs.Usage = func() {
				fmt.Fprintf(c.stderr, "usage: %s\n\n%s.\n\nFlags:\n", v.usage, v.doc)
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// flagErr maps a flag-parsing error: -h is not a failure, and other errors
// were already printed with the usage.
func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}

// parse parses flags and rejects stray positional arguments.
func (c *cli) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
