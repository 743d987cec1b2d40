// Command gowork runs the Go workloads of the peer benchmark that need only
// the main module and gonum: mlc's generated packages, the hand-written
// allocation-free XOR program and gonum. It prints one JSON result per line
// (see internal/benchutil). The thread count is GOMAXPROCS, which the runner
// sets.
//
//	gowork -seed ../internal/golden/testdata/xor_seed.json xor-mlc|xor-hand
//	gowork mlp-mlc|mlp-gonum
//	gowork -n 128,256,512,1024 sgemm-gonum
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
)

func main() {
	seed := flag.String("seed", "../internal/golden/testdata/xor_seed.json", "the reference text's XOR golden file (data, initial weights)")
	reps := flag.Int("reps", 0, "repetitions (0: the workload's default)")
	sizes := flag.String("n", "128,256,512,1024", "sgemm sizes")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gowork [flags] xor-mlc|xor-hand|mlp-mlc|mlp-gonum|sgemm-gonum")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	rep := func(def int) int {
		if *reps > 0 {
			return *reps
		}
		return def
	}
	switch w := flag.Arg(0); w {
	case "xor-mlc", "xor-hand":
		x, err := benchutil.ReadXOR(*seed)
		if err != nil {
			benchutil.Fatalf("gowork: %v", err)
		}
		if w == "xor-mlc" {
			xorMLC(x, rep(15))
		} else {
			xorHand(x, rep(15))
		}
	case "mlp-mlc":
		mlpMLC(rep(9))
	case "mlp-gonum":
		mlpGonum(rep(9))
	case "sgemm-gonum":
		ns, err := parseSizes(*sizes)
		if err != nil {
			benchutil.Fatalf("gowork: %v", err)
		}
		for _, n := range ns {
			sgemmGonum(n, rep(5))
		}
	default:
		benchutil.Fatalf("gowork: unknown workload %q", w)
	}
}

func parseSizes(s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}
