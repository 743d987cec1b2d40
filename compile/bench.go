package compile

import (
	"fmt"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// BenchCost is the cost of N calls of one entry point: total nanoseconds,
// heap allocations and bytes allocated.
type BenchCost struct {
	N      int    `json:"n"`
	Ns     int64  `json:"ns"`
	Allocs uint64 `json:"allocs"`
	Bytes  uint64 `json:"bytes"`
}

// BenchStats summarises the runs of one entry point on one engine, per call.
type BenchStats struct {
	Runs        int     `json:"runs"`
	CallsPerRun int     `json:"calls_per_run"`
	NsMedian    float64 `json:"ns_per_call_median"`
	NsMin       float64 `json:"ns_per_call_min"`
	NsMax       float64 `json:"ns_per_call_max"`
	Allocs      float64 `json:"allocs_per_call"`
	Bytes       float64 `json:"bytes_per_call"`
	// NsRuns is the time per call of each run, in the order they ran.
	NsRuns []float64 `json:"ns_per_call_runs,omitempty"`
}

// BenchEntry compares the engines on one entry point.
type BenchEntry struct {
	Entry       string      `json:"entry"`
	Generated   *BenchStats `json:"generated"`
	Interpreter *BenchStats `json:"interpreter,omitempty"`
	// Speedup is the interpreter's median time over the generated code's.
	Speedup float64 `json:"speedup,omitempty"`
}

// BenchReport is what mlc bench prints.
type BenchReport struct {
	Model   string       `json:"model"`
	Config  string       `json:"config"`
	DType   string       `json:"dtype"`
	GOARCH  string       `json:"goarch"`
	Procs   int          `json:"gomaxprocs"`
	Entries []BenchEntry `json:"entries"`
}

// BenchOptions say how long and what to measure.
type BenchOptions struct {
	Runs     int           // timed runs per entry point and engine (default 5)
	RunTime  time.Duration // the length of one run (default 300ms; at least one call)
	Entries  []string      // entry points (default: every one the program has)
	NoInterp bool          // skip the interpreter
}

// BenchEntries lists the entry points of prog mlc bench can time.
func BenchEntries(prog *graph.Program) []string {
	var e []string
	if prog.Train != nil {
		e = append(e, "TrainStep")
	}
	e = append(e, "Predict")
	if prog.Decode != nil {
		e = append(e, "DecodeStep")
	}
	return e
}

// Bench times the entry points of prog on generated code (a runner built
// by BuildRunner) and on the interpreter, with the same inputs: for each,
// Runs runs of as many calls as fill RunTime, after a warm-up call.
func Bench(prog *graph.Program, inputs map[string]runtime.JSONTensor, opts BenchOptions) (*BenchReport, error) {
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	if opts.RunTime <= 0 {
		opts.RunTime = 300 * time.Millisecond
	}
	all := BenchEntries(prog)
	if len(opts.Entries) == 0 {
		opts.Entries = all
	}
	for _, e := range opts.Entries {
		if !slices.Contains(all, e) {
			return nil, fmt.Errorf("%s has no entry point %q to benchmark (it has %v)", prog.Name, e, all)
		}
	}
	bin, err := BuildRunner(prog)
	if err != nil {
		return nil, err
	}
	srv, err := StartServer(bin, 0)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	var interp *interpBench
	if !opts.NoInterp {
		if interp, err = newInterpBench(prog, inputs); err != nil {
			return nil, err
		}
	}
	rep := &BenchReport{Model: prog.Name, Config: prog.Config, DType: prog.Float.String(), GOARCH: goruntime.GOARCH, Procs: goruntime.GOMAXPROCS(0)}
	for _, e := range opts.Entries {
		gen := func(n int) (*BenchCost, error) {
			r, err := srv.Do(RunRequest{Cmd: "bench", Entry: e, N: n, Inputs: inputs})
			if err != nil {
				return nil, err
			}
			if r.Bench == nil {
				return nil, fmt.Errorf("runner: no bench result")
			}
			return r.Bench, nil
		}
		be := BenchEntry{Entry: e}
		if be.Generated, err = benchRuns(gen, opts); err != nil {
			return nil, fmt.Errorf("generated %s: %w", e, err)
		}
		if interp != nil {
			run, err := interp.entry(e)
			if err != nil {
				return nil, err
			}
			if be.Interpreter, err = benchRuns(func(n int) (*BenchCost, error) { return measure(run, n) }, opts); err != nil {
				return nil, fmt.Errorf("interpreter %s: %w", e, err)
			}
			be.Speedup = be.Interpreter.NsMedian / be.Generated.NsMedian
		}
		rep.Entries = append(rep.Entries, be)
	}
	return rep, nil
}

// benchRuns sizes a run from one timed call, then times opts.Runs runs.
func benchRuns(measure func(n int) (*BenchCost, error), opts BenchOptions) (*BenchStats, error) {
	probe, err := measure(1)
	if err != nil {
		return nil, err
	}
	n := max(1, int(opts.RunTime.Nanoseconds()/max(probe.Ns, 1)))
	costs := make([]*BenchCost, 0, opts.Runs)
	for range opts.Runs {
		c, err := measure(n)
		if err != nil {
			return nil, err
		}
		costs = append(costs, c)
	}
	return summarize(costs), nil
}

// summarize gives the median, min and max time per call over runs, and
// the allocations of the median run.
func summarize(costs []*BenchCost) *BenchStats {
	per := make([]float64, len(costs))
	for i, c := range costs {
		per[i] = float64(c.Ns) / float64(c.N)
	}
	sorted := slices.Clone(per)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	mid := costs[slices.Index(per, sorted[len(sorted)/2])]
	return &BenchStats{Runs: len(costs), CallsPerRun: costs[0].N, NsMedian: median, NsMin: sorted[0], NsMax: sorted[len(sorted)-1],
		Allocs: float64(mid.Allocs) / float64(mid.N), Bytes: float64(mid.Bytes) / float64(mid.N), NsRuns: per}
}

// measure calls run once to warm up, then n times, timing the n calls and
// counting their allocations (the runner's measure, in this process).
func measure(run func() error, n int) (*BenchCost, error) {
	if err := run(); err != nil {
		return nil, err
	}
	goruntime.GC()
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		if err := run(); err != nil {
			return nil, err
		}
	}
	ns := time.Since(start).Nanoseconds()
	goruntime.ReadMemStats(&after)
	return &BenchCost{N: n, Ns: ns, Allocs: after.Mallocs - before.Mallocs, Bytes: after.TotalAlloc - before.TotalAlloc}, nil
}

// interpBench holds the interpreter and bound inputs for timing.
type interpBench struct {
	prog        *graph.Program
	pr          *runtime.Program
	pred, train map[string]*runtime.Tensor
}

func newInterpBench(prog *graph.Program, inputs map[string]runtime.JSONTensor) (*interpBench, error) {
	pr, err := runtime.NewProgram(prog, runtime.Options{})
	if err != nil {
		return nil, err
	}
	ib := &interpBench{prog: prog, pr: pr}
	if ib.pred, err = runtime.BindInputs(prog.Predict, "inputs", pickJSON(prog.Predict, inputs)); err != nil {
		return nil, err
	}
	if prog.Train != nil {
		if ib.train, err = runtime.BindInputs(prog.Train, "inputs", pickJSON(prog.Train, inputs)); err != nil {
			return nil, err
		}
	}
	return ib, nil
}

func (ib *interpBench) entry(name string) (func() error, error) {
	pr := ib.pr
	switch name {
	case "Predict":
		return func() error { _, err := pr.Predict(ib.pred); return err }, nil
	case "TrainStep":
		return func() error { _, err := pr.TrainStep(ib.train); return err }, nil
	case "DecodeStep":
		ids := ib.pred[ib.prog.Decode.Inputs()[0].Name] // the decoder's ids
		shape := ids.Shape.Clone()
		ctx := shape[len(shape)-1]
		shape[len(shape)-1] = 1
		step := runtime.NewTensor(graph.T(graph.I32, shape...))
		for r := range step.Len() {
			step.Set(r, ids.At(r*ctx))
		}
		return func() error {
			if pr.Pos() == pr.Context() {
				pr.Reset()
			}
			_, err := pr.DecodeStep(step)
			return err
		}, nil
	}
	return nil, fmt.Errorf("no entry point %q", name)
}

// PairEntry compares two builds of one model (full optimization against
// -O0, say) on one entry point of generated code.
type PairEntry struct {
	Entry string      `json:"entry"`
	A     *BenchStats `json:"a"`
	B     *BenchStats `json:"b"`
	// Ratio is B's median time over A's: how much faster A is.
	Ratio float64 `json:"ratio"`
}

// BenchPair times the generated code of two programs of one model with the
// same inputs, alternating their runs (A, B, A, B, …) so that both see the
// same machine: the ratio of their medians is then a same-run figure.
func BenchPair(a, b *graph.Program, inputs map[string]runtime.JSONTensor, opts BenchOptions) ([]PairEntry, error) {
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	if opts.RunTime <= 0 {
		opts.RunTime = 300 * time.Millisecond
	}
	if len(opts.Entries) == 0 {
		opts.Entries = BenchEntries(a)
	}
	var srvs [2]*Server
	for i, p := range []*graph.Program{a, b} {
		bin, err := BuildRunner(p)
		if err != nil {
			return nil, err
		}
		if srvs[i], err = StartServer(bin, 0); err != nil {
			return nil, err
		}
		defer srvs[i].Close()
	}
	var out []PairEntry
	for _, e := range opts.Entries {
		measure := func(srv *Server) func(n int) (*BenchCost, error) {
			return func(n int) (*BenchCost, error) {
				r, err := srv.Do(RunRequest{Cmd: "bench", Entry: e, N: n, Inputs: inputs})
				if err != nil {
					return nil, fmt.Errorf("%s: %w", e, err)
				}
				return r.Bench, nil
			}
		}
		// Size both from one probe each, then alternate single runs.
		ns := [2]int{}
		costs := [2][]*BenchCost{}
		for i, srv := range srvs {
			probe, err := measure(srv)(1)
			if err != nil {
				return nil, err
			}
			ns[i] = max(1, int(opts.RunTime.Nanoseconds()/max(probe.Ns, 1)))
		}
		for range opts.Runs {
			for i, srv := range srvs {
				c, err := measure(srv)(ns[i])
				if err != nil {
					return nil, err
				}
				costs[i] = append(costs[i], c)
			}
		}
		pe := PairEntry{Entry: e, A: summarize(costs[0]), B: summarize(costs[1])}
		pe.Ratio = pe.B.NsMedian / pe.A.NsMedian
		out = append(out, pe)
	}
	return out, nil
}
