// Command peers runs mlc's peer comparison: every workload, every tool, in
// one run, and prints a table of times and of ratios to mlc measured in
// that same run (the machine is noisy: only same-run ratios mean anything).
//
// It installs nothing. It checks the prerequisites (the go command; a
// Python with NumPy and PyTorch, and which BLAS they load), compiles the
// benchmark's packages with this checkout's mlc (internal/genpkgs), builds
// the Go workers (cmd/gowork, cmd/gorgwork, cmd/kernwork, cmd/gptwork) into
// a temporary directory, checks that PyTorch's GPT with mlc's weights
// computes what mlc's does, and runs each configuration in its own process
// with the thread count set in the environment (GOMAXPROCS for Go;
// OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS plus
// torch.set_num_threads for Python), once per round in a shuffled order,
// collecting the JSON lines they print. A tool that is missing or does not
// build is reported as skipped, with the reason, and the rest still runs.
//
// Run it from bench/ (run.sh does):
//
//	go run ./cmd/peers [-only xor,mlp,gpt,roofline,sgemm,onnx] [-threads 1,2] [-tools mlc,PyTorch,...]
//	    [-rounds 3] [-quick] [-json results.json] [-python /usr/bin/python3] [-omp-wait passive|active|unset] [-blas auto|openmp|pthread] [-openblas-core auto|off|NAME]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/bench/internal/genpkgs"
)

// job is one process the runner starts: a worker command with its thread
// count. One job may print several results (sgemm prints one per size).
type job struct {
	group   string // xor, mlp, gpt, sgemm: what -only selects
	tool    string
	threads int
	python  bool     // a peers.py subcommand, else a Go worker
	bin     string   // Go worker name (gowork, ...)
	args    []string // worker or peers.py arguments
	// workloads are the rows the job reports, for skip messages when it
	// cannot run.
	workloads []string
}

// row is a result with its statistics.
type row struct {
	benchutil.Result
	Median float64 `json:"median_s,omitempty"`
	Min    float64 `json:"min_s,omitempty"`
	Max    float64 `json:"max_s,omitempty"`
	// VsMLC is this row's median over the mlc row's (mlc at the same thread
	// count when there is one, else mlc at 1 thread): above 1, mlc is faster.
	VsMLC        float64 `json:"vs_mlc,omitempty"`
	VsMLCThreads int     `json:"vs_mlc_threads,omitempty"`
	GFLOPS       float64 `json:"gflops,omitempty"`
	TokensPerSec float64 `json:"tokens_per_s,omitempty"`
	Stderr       string  `json:"stderr,omitempty"`
	Env          string  `json:"env,omitempty"` // the thread settings the process ran with
	// RoundMedians is the median of each round that ran; Median is their
	// median (rows without rounds: the median of Times).
	RoundMedians []float64 `json:"round_medians_s,omitempty"`
	VsMLCRounds  int       `json:"vs_mlc_rounds,omitempty"` // rounds VsMLC is the median over
	Caveat       string    `json:"caveat,omitempty"`

	Round    int             `json:"-"` // the round a process's row comes from
	perRound map[int]float64 // round -> median
	skips    []string        // rounds that did not run, and why
}

type report struct {
	Command   string            `json:"command"`
	Started   string            `json:"started"`
	Seconds   float64           `json:"seconds"`
	Machine   map[string]string `json:"machine"`
	Versions  map[string]string `json:"versions"`
	Python    map[string]any    `json:"python,omitempty"`
	Problems  []string          `json:"problems,omitempty"`
	XORGolden float64           `json:"xor_golden_final_loss"`
	Rounds    int               `json:"rounds"`
	Results   []row             `json:"results"`
	// Best is every mlc row against every peer at the peer's fastest
	// thread count up to mlc's.
	Best []summary `json:"mlc_vs_best_peer"`
	// Roofline is decoding's latency against bytes read ÷ bandwidth.
	Roofline []roofline `json:"roofline,omitempty"`
	// Equivalence is the check that PyTorch's GPT with mlc's weights
	// computes what mlc's does.
	Equivalence *equivalence `json:"gpt_equivalence,omitempty"`
}

var (
	only    = flag.String("only", "", "comma-separated groups to run: xor, mlp, gpt, roofline (the read bandwidth; with gpt, the roofline of decoding), sgemm, onnx (default all)")
	quick   = flag.Bool("quick", false, "fewer repetitions (a smoke test, not a measurement)")
	jsonOut = flag.String("json", "", "also write the results as JSON to this file ('-' for standard output, then the table goes to standard error)")
	pyFlag  = flag.String("python", "", "Python interpreter with NumPy and PyTorch (default: $PYTHON, else the first of /usr/bin/python3 and python3 that imports numpy)")
	seed    = flag.String("seed", "../internal/golden/testdata/xor_seed.json", "the reference text's XOR golden file")
	sizes   = flag.String("n", "128,256,512,1024", "sgemm sizes")
	timeout = flag.Duration("timeout", 15*time.Minute, "limit for each process")
	rounds  = flag.Int("rounds", 3, "run every process this many times, in a new shuffled order each round; rows report the median of the per-round medians and ratios")
	thrFlag = flag.String("threads", "1,2", "comma-separated thread counts to run (the XOR runs at 1 and 2 at most)")
	tools   = flag.String("tools", "", "comma-separated tools to run (default all): mlc, mlc interp, hand Go, hand Go+gonum, Gorgonia, NumPy, PyTorch, gonum, onnxruntime")
	ompWait = flag.String("omp-wait", "passive", "OMP_WAIT_POLICY of the Python processes: passive, active, or unset (libgomp's default: spin a while, then sleep); see README.md")
	obCore  = flag.String("openblas-core", "auto", "OPENBLAS_CORETYPE of the Python processes: auto (SKYLAKEX, OpenBLAS's AVX-512 kernels, where the CPU has AVX-512 F/CD/BW/DQ/VL), off (OpenBLAS's own choice), or a core name")
	blasVar = flag.String("blas", "auto", "OpenBLAS build the Python processes load: openmp, pthread, or auto (openmp when Debian's libopenblas0-openmp is installed: one OpenMP pool for ATen and BLAS)")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: peers [flags]   (run from bench/, or use bench/run.sh)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	start := time.Now()
	out := io.Writer(os.Stdout)
	if *jsonOut == "-" {
		out = os.Stderr
	}
	if _, err := os.Stat("go.mod"); err != nil || !bytes.Contains(must(os.ReadFile("go.mod")), []byte("module github.com/mlc-dev/mlc/bench")) {
		fatalf("peers: run from the bench/ directory (or use bench/run.sh)")
	}
	groups := map[string]bool{"xor": true, "mlp": true, "gpt": true, "roofline": true, "sgemm": true, "onnx": true}
	if *only != "" {
		sel := map[string]bool{}
		for g := range strings.SplitSeq(*only, ",") {
			if !groups[g] {
				fatalf("peers: -only: unknown group %q (xor, mlp, gpt, roofline, sgemm, onnx)", g)
			}
			sel[g] = true
		}
		groups = sel
	}
	if *rounds < 1 {
		fatalf("peers: -rounds must be at least 1")
	}
	var threadCounts []int
	for f := range strings.SplitSeq(*thrFlag, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || t < 1 {
			fatalf("peers: -threads: bad thread count %q", f)
		}
		threadCounts = append(threadCounts, t)
	}
	toolSel := map[string]bool{}
	for f := range strings.SplitSeq(*tools, ",") {
		if f = strings.TrimSpace(f); f != "" {
			toolSel[f] = true
		}
	}
	if *ompWait != "passive" && *ompWait != "active" && *ompWait != "unset" {
		fatalf("peers: -omp-wait must be passive, active or unset")
	}
	pyEnv = pythonEnv()
	golden, err := benchutil.ReadXOR(*seed)
	if err != nil {
		fatalf("peers: %v", err)
	}

	rep := report{
		Command:   strings.TrimSpace("bench/run.sh " + strings.Join(os.Args[1:], " ")),
		Started:   start.Format(time.RFC3339),
		Machine:   machine(),
		Versions:  map[string]string{},
		XORGolden: golden.FinalLoss,
		Rounds:    *rounds,
	}
	logf := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	// Prerequisites.
	logf("== prerequisites")
	goBin, err := exec.LookPath("go")
	if err != nil {
		fatalf("peers: the go command is not on PATH")
	}
	rep.Versions["go"] = strings.TrimSpace(string(must(exec.Command(goBin, "version").Output())))
	for _, m := range []string{"gorgonia.org/gorgonia", "gorgonia.org/tensor", "gonum.org/v1/gonum"} {
		if v, err := exec.Command(goBin, "list", "-m", "-f", "{{.Version}}", m).Output(); err == nil {
			rep.Versions[m] = strings.TrimSpace(string(v))
		}
	}
	python, pyInfo, pyProblem := findPython()
	rep.Python = pyInfo
	if pyProblem != "" {
		rep.Problems = append(rep.Problems, pyProblem)
	}
	for _, k := range []string{"numpy", "torch", "openblas"} {
		if v, ok := pyInfo[k].(string); ok {
			rep.Versions[k] = v
		}
	}
	logf("machine   %s; load average %s (other processes share these cores)", rep.Machine["cpu"], rep.Machine["loadavg_start"])
	logf("go        %s", rep.Versions["go"])
	logf("gorgonia  %s (tensor %s), gonum %s", rep.Versions["gorgonia.org/gorgonia"], rep.Versions["gorgonia.org/tensor"], rep.Versions["gonum.org/v1/gonum"])
	if python != "" {
		logf("python    %s (%v)", python, pyInfo["python"])
		logf("numpy     %v, BLAS: %v", orNone(pyInfo["numpy"]), orNone(pyInfo["numpy_blas"]))
		logf("torch     %v, BLAS: %v %v", orNone(pyInfo["torch"]), orNone(pyInfo["torch_blas"]), orNone(pyInfo["torch_build_blas"]))
		logf("openblas  %v", orNone(pyInfo["openblas"]))
		logf("libblas.so.3 -> %v (system); loaded: %v", orNone(pyInfo["libblas.so.3 alternative"]), orNone(pyInfo["torch_blas_files"]))
		logf("python env %s", strings.Join(pyEnv, " "))
	}
	for _, p := range rep.Problems {
		logf("WARNING   %s", p)
	}

	// Compile the benchmark's packages with this checkout's mlc (cached by
	// the compiler's source hash), then build the Go workers.
	logf("== compiling the bench packages and building the Go workers")
	if err := genpkgs.Ensure(".", false, logf); err != nil {
		p := "compiling the bench packages failed, so mlc's XOR and GPT rows are skipped: " + firstLines(err.Error(), 3)
		rep.Problems = append(rep.Problems, p)
		logf("WARNING   %s", p)
	}
	tmp, err := os.MkdirTemp("", "mlc-peers-")
	if err != nil {
		fatalf("peers: %v", err)
	}
	defer os.RemoveAll(tmp)
	built := map[string]string{} // worker -> "" or why it did not build
	build := func(name string) {
		cmd := exec.Command(goBin, "build", "-o", filepath.Join(tmp, name), "./cmd/"+name)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			built[name] = "does not build: " + firstLines(stderr.String(), 3)
			logf("%-9s %s", name, built[name])
			return
		}
		built[name] = ""
		logf("%-9s ok", name)
	}
	build("gowork")
	build("gorgwork")
	build("kernwork")
	build("gptwork")

	// The GPT's equivalence check: mlc's weights in PyTorch's GPT, which
	// must compute the same logits, loss, AdamW step and greedy tokens;
	// the PyTorch workloads then start from mlc's weights too.
	var weightsArgs []string
	if groups["gpt"] {
		eq, dir := checkGPT(tmp, python, built, pyInfo)
		rep.Equivalence = eq
		printEquivalence(out, eq)
		if eq.OK != nil && !*eq.OK {
			rep.Problems = append(rep.Problems, "GPT EQUIVALENCE FAILED: PyTorch's GPT with mlc's weights does not compute what mlc computes (see above); the gpt rows compare different models")
		}
		if dir != "" {
			weightsArgs = []string{"--weights", dir}
		}
	}

	// The jobs, mlc first in each workload.
	seedArg := "-seed=" + *seed
	sgemmRows := func() []string {
		var ws []string
		for n := range strings.SplitSeq(*sizes, ",") {
			ws = append(ws, "sgemm n="+strings.TrimSpace(n))
		}
		return ws
	}()
	decodeRows := []string{"gpt decode 256 tok, cache", "gpt decode 256 tok, recompute"}
	for _, c := range []int{64, 256, 1024} {
		decodeRows = append(decodeRows, fmt.Sprintf("gpt token @ctx %d, cache", c), fmt.Sprintf("gpt token @ctx %d, recompute", c))
	}
	xorRow, mlpRow, trainRow := []string{"xor 10k epochs"}, []string{"mlp step"}, []string{"gpt train step"}
	bandwidthRows := []string{"read bandwidth 512 KiB (L2)", "read bandwidth 8 MiB (L3)", "read bandwidth 256 MiB (DRAM)"}
	var jobs []job
	add := func(j job) {
		if groups[j.group] && slices.Contains(threadCounts, j.threads) && (len(toolSel) == 0 || toolSel[j.tool]) {
			jobs = append(jobs, j)
		}
	}
	goJob := func(group, tool string, threads int, bin string, rows []string, args ...string) {
		add(job{group: group, tool: tool, threads: threads, bin: bin, args: args, workloads: rows})
	}
	pyJob := func(group, tool string, threads int, rows []string, args ...string) {
		add(job{group: group, tool: tool, threads: threads, python: true, args: args, workloads: rows})
	}
	// (a) XOR
	goJob("xor", "mlc", 1, "gowork", xorRow, seedArg, "xor-mlc")
	goJob("xor", "hand Go", 1, "gowork", xorRow, seedArg, "xor-hand")
	goJob("xor", "Gorgonia", 1, "gorgwork", xorRow, seedArg, "xor")
	goJob("xor", "Gorgonia", 2, "gorgwork", xorRow, seedArg, "xor")
	pyJob("xor", "NumPy", 1, xorRow, "xor-numpy", "--seed", *seed)
	pyJob("xor", "PyTorch", 1, xorRow, "xor-torch", "--seed", *seed)
	pyJob("xor", "PyTorch", 2, xorRow, "xor-torch", "--seed", *seed)
	// (b) MLP
	for _, t := range threadCounts {
		goJob("mlp", "mlc", t, "gowork", mlpRow, "mlp-mlc")
		goJob("mlp", "hand Go+gonum", t, "gowork", mlpRow, "mlp-gonum")
		goJob("mlp", "Gorgonia", t, "gorgwork", mlpRow, "mlp")
		pyJob("mlp", "NumPy", t, mlpRow, "mlp-numpy")
		pyJob("mlp", "PyTorch", t, mlpRow, "mlp-torch")
	}
	// (c) GPT train step and (d) decoding. The generated code's matrix
	// products run on GOMAXPROCS threads, so mlc runs at 1 and 2 as
	// PyTorch does; its interpreter (1 thread) gives the "generated vs
	// interpreter" ratio of the train step.
	for _, t := range threadCounts {
		goJob("gpt", "mlc", t, "gptwork", trainRow, "train")
	}
	goJob("gpt", "mlc interp", 1, "gptwork", trainRow, "train-interp")
	for _, t := range threadCounts {
		goJob("gpt", "mlc", t, "gptwork", decodeRows, "decode")
	}
	// The read bandwidth, for the roofline of decoding (gpt, or alone:
	// -only roofline).
	for _, t := range threadCounts {
		goJob("roofline", "read kernel", t, "gptwork", bandwidthRows, "stream")
	}
	for _, t := range threadCounts {
		pyJob("gpt", "PyTorch", t, trainRow, append([]string{"gpt-train"}, weightsArgs...)...)
		pyJob("gpt", "PyTorch", t, decodeRows, append([]string{"gpt-decode"}, weightsArgs...)...)
	}
	// (e) sgemm
	for _, t := range threadCounts {
		goJob("sgemm", "mlc", t, "kernwork", sgemmRows, "-threads="+strconv.Itoa(t), "-n="+*sizes)
	}
	for _, t := range threadCounts {
		pyJob("sgemm", "NumPy", t, sgemmRows, "sgemm-numpy", "-n", *sizes)
		goJob("sgemm", "gonum", t, "gowork", sgemmRows, "-n="+*sizes, "sgemm-gonum")
	}

	// Run them: every job once per round, in a new order each round, so
	// that the machine's changing load falls on every tool alike.
	logf("== running %d processes in %d rounds, in a shuffled order each round", len(jobs)*(*rounds), *rounds)
	var raw []row
	for r := 1; r <= *rounds; r++ {
		order := slices.Clone(jobs)
		rand.New(rand.NewPCG(uint64(r), 18)).Shuffle(len(order), func(i, k int) { order[i], order[k] = order[k], order[i] })
		for _, j := range order {
			t0 := time.Now()
			rs := run(j, tmp, python, built, pyInfo)
			ok, why := 0, ""
			for i := range rs {
				rs[i].Round = r
				if rs[i].Skipped == "" {
					ok++
				} else if why == "" {
					why = rs[i].Skipped
				}
			}
			state := fmt.Sprintf("%d rows", ok)
			if why != "" {
				state += fmt.Sprintf(", %d skipped: %s", len(rs)-ok, firstLines(why, 1))
				if len(state) > 110 {
					state = state[:107] + "..."
				}
			}
			logf("%d/%d  %-6s %-14s %dt  %6.1fs  %s", r, *rounds, j.group, j.tool, j.threads, time.Since(t0).Seconds(), state)
			raw = append(raw, rs...)
		}
	}
	rep.Results = append(rep.Results, mergeRounds(raw, jobs)...)
	// (f) ONNX: PyTorch exports run by mlc and onnxruntime (onnx.go).
	if groups["onnx"] {
		logf("== onnx: PyTorch exports, mlc vs onnxruntime, interleaved rounds")
		rep.Results = append(rep.Results, runONNX(tmp, goBin, python, pyInfo, logf)...)
	}
	// Rows of one workload together, workloads in the order they first
	// appear, tools in the order they ran.
	order := map[string]int{}
	for _, r := range rep.Results {
		if _, ok := order[r.Workload]; !ok {
			order[r.Workload] = len(order)
		}
	}
	slices.SortStableFunc(rep.Results, func(a, b row) int { return order[a.Workload] - order[b.Workload] })
	finish(&rep, golden.FinalLoss)
	rep.Seconds = time.Since(start).Seconds()
	rep.Machine["loadavg_end"] = loadavg()

	logf("")
	printTable(out, &rep)
	if rep.Equivalence != nil {
		printEquivalence(out, rep.Equivalence)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		b = append(b, '\n')
		path := *jsonOut
		if dir := os.Getenv("PEERS_CWD"); dir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path) // run.sh changed directory
		}
		if *jsonOut == "-" {
			os.Stdout.Write(b)
		} else if err := os.WriteFile(path, b, 0o644); err != nil {
			fatalf("peers: %v", err)
		} else {
			logf("wrote %s", path)
		}
	}
	if eq := rep.Equivalence; eq != nil && eq.OK != nil && !*eq.OK {
		fatalf("peers: the GPT equivalence check failed: PyTorch's GPT with mlc's weights does not compute what mlc computes")
	}
}

// run starts one job and returns its results; a job that cannot run gives
// skipped rows that say why.
func run(j job, tmp, python string, built map[string]string, pyInfo map[string]any) []row {
	skipAll := func(why string) []row {
		var rs []row
		for _, w := range j.workloads {
			rs = append(rs, row{Result: benchutil.Result{Workload: w, Tool: j.tool, Threads: j.threads, Skipped: why}})
		}
		return rs
	}
	var cmd *exec.Cmd
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	threadEnv := []string{
		"OPENBLAS_NUM_THREADS=" + strconv.Itoa(j.threads),
		"OMP_NUM_THREADS=" + strconv.Itoa(j.threads),
		"MKL_NUM_THREADS=" + strconv.Itoa(j.threads),
		"GOMAXPROCS=" + strconv.Itoa(j.threads),
	}
	if j.python {
		threadEnv = append(threadEnv, pyEnv...)
	}
	env := append(os.Environ(), threadEnv...)
	args := slices.Clone(j.args)
	if *quick {
		args = append([]string{"-reps=2"}, args...)
	}
	if j.python {
		if python == "" {
			return skipAll("no Python interpreter found")
		}
		pyArgs := append([]string{"python/peers.py"}, j.args...)
		pyArgs = append(pyArgs, "--threads", strconv.Itoa(j.threads))
		if *quick {
			pyArgs = append(pyArgs, "--reps", "2")
		}
		cmd = exec.CommandContext(ctx, python, pyArgs...)
	} else {
		if why := built[j.bin]; why != "" {
			return skipAll(j.bin + " " + why)
		}
		cmd = exec.CommandContext(ctx, filepath.Join(tmp, j.bin), args...)
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rs []row
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var r row
		if e := json.Unmarshal(line, &r.Result); e != nil {
			continue
		}
		// The thread count is what the runner set; the worker's record of
		// it should agree (a Go worker reports GOMAXPROCS).
		if r.Threads != j.threads && r.Skipped == "" {
			r.Note = strings.TrimPrefix(r.Note+fmt.Sprintf("; worker reported %d threads", r.Threads), "; ")
		}
		r.Threads = j.threads
		r.Env = strings.Join(threadEnv, " ")
		rs = append(rs, r)
	}
	if err != nil {
		why := "failed: " + err.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "timed out after " + timeout.String()
		}
		if s := firstLines(stderr.String(), 3); s != "" {
			why += ": " + s
		}
		// Keep the rows it finished; the rest are skipped.
		done := map[string]bool{}
		for _, r := range rs {
			done[r.Workload] = true
		}
		for _, w := range j.workloads {
			if !done[w] {
				rs = append(rs, row{Result: benchutil.Result{Workload: w, Tool: j.tool, Threads: j.threads, Skipped: why}})
			}
		}
	} else if s := strings.TrimSpace(stderr.String()); s != "" {
		for i := range rs {
			rs[i].Stderr = firstLines(s, 5)
		}
	}
	return rs
}

// finish computes the statistics and the ratios to mlc.
func finish(rep *report, golden float64) {
	for i := range rep.Results {
		r := &rep.Results[i]
		if len(r.Times) == 0 {
			continue
		}
		s := slices.Sorted(slices.Values(r.Times))
		r.Min, r.Max = s[0], s[len(s)-1]
		if len(r.RoundMedians) > 0 {
			r.Median = median(r.RoundMedians)
		} else {
			r.Median = median(r.Times)
		}
		if r.Flops > 0 {
			r.GFLOPS = r.Flops / r.Median / 1e9
		}
		if r.Tokens > 0 {
			r.TokensPerSec = r.Tokens / r.Median
		}
		r.Caveat = caveat(r.Workload)
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Median == 0 {
			continue
		}
		var ref *row
		for k := range rep.Results {
			m := &rep.Results[k]
			if m.Tool != "mlc" || m.Workload != r.Workload || m.Median == 0 {
				continue
			}
			if m.Threads == r.Threads || (m.Threads == 1 && ref == nil) {
				ref = m
			}
		}
		if ref != nil {
			r.VsMLC, r.VsMLCRounds = ratioOver(r, ref)
			r.VsMLCThreads = ref.Threads
		}
	}
	rep.Best = bestPeers(rep.Results)
	rep.Roofline = rooflines(rep.Results)
}

func printTable(out io.Writer, rep *report) {
	t := [][]string{{"workload", "tool", "threads", "per", "median", "min", "max", "allocs", "÷ mlc", ""}}
	last := ""
	var skipped []row
	for _, r := range rep.Results {
		if r.Skipped != "" {
			skipped = append(skipped, r)
			continue
		}
		if r.Workload != last && last != "" {
			t = append(t, nil)
		}
		last = r.Workload
		allocs := "-"
		if r.Allocs != nil {
			allocs = fmtAllocs(*r.Allocs)
		}
		ratio := "-"
		if r.VsMLC != 0 {
			ratio = fmt.Sprintf("%.3g", r.VsMLC)
			if r.VsMLCThreads != r.Threads {
				ratio += fmt.Sprintf(" (vs %dt)", r.VsMLCThreads)
			}
		}
		name := r.Workload
		if r.Caveat != "" {
			name += " †"
		}
		var extra []string
		if r.GFLOPS > 0 {
			extra = append(extra, fmt.Sprintf("%.1f GFLOP/s", r.GFLOPS))
		}
		if r.Bytes > 0 && r.Tool == "read kernel" {
			extra = append(extra, fmt.Sprintf("%.0f GB/s", r.Bytes/r.Median/1e9))
		}
		if r.TokensPerSec > 0 && r.Tokens > 1 {
			extra = append(extra, fmt.Sprintf("%.0f tok/s", r.TokensPerSec))
		}
		if r.FinalLoss != nil && strings.HasPrefix(r.Workload, "xor") {
			extra = append(extra, fmt.Sprintf("loss %.10e", *r.FinalLoss))
		}
		t = append(t, []string{name, r.Tool, strconv.Itoa(r.Threads), r.Unit,
			fmtDur(r.Median), fmtDur(r.Min), fmtDur(r.Max), allocs, ratio, strings.Join(extra, ", ")})
	}
	writeTable(out, t, []bool{false, false, true, false, true, true, true, true, true, false})
	fmt.Fprintf(out, "\nmedian: the median of the %d rounds' medians; min, max: over every repetition of every round.\n"+
		"÷ mlc: the row's time over mlc's for the same workload (mlc at the same thread count, or at 1 thread:\n"+
		"\"vs 1t\"), the median of the per-round ratios; above 1 means mlc is faster.\n"+
		"allocs: heap allocations per step/call (XOR: per epoch), Go tools only, the most of any round.\n", rep.Rounds)
	printCaveats(out, rep.Results)
	printBest(out, rep)
	printRoofline(out, rep)

	// XOR agreement.
	header := false
	for _, r := range rep.Results {
		if !strings.HasPrefix(r.Workload, "xor") || r.FinalLoss == nil {
			continue
		}
		if !header {
			fmt.Fprintf(out, "\nXOR final loss against the text's NumPy program (golden %.16g):\n", rep.XORGolden)
			header = true
		}
		d := math.Abs(*r.FinalLoss - rep.XORGolden)
		verdict := "agrees (< 1e-6)"
		if d >= 1e-6 {
			verdict = "DISAGREES"
		}
		if r.Tool == "Gorgonia" {
			verdict += "; Gorgonia's ReLU'(0) is 1, the others' 0"
		}
		fmt.Fprintf(out, "  %-9s %dt  %.16g  |Δ| %.2g  %s\n", r.Tool, r.Threads, *r.FinalLoss, d, verdict)
	}
	if len(skipped) > 0 {
		// One line per tool, thread count and reason, listing its workloads.
		fmt.Fprintf(out, "\nSkipped:\n")
		type key struct {
			tool    string
			threads int
			why     string
		}
		var keys []key
		rows := map[key][]string{}
		for _, r := range skipped {
			k := key{r.Tool, r.Threads, r.Skipped}
			if rows[k] == nil {
				keys = append(keys, k)
			}
			rows[k] = append(rows[k], r.Workload)
		}
		for _, k := range keys {
			fmt.Fprintf(out, "  %s %dt (%s):\n    %s\n", k.tool, k.threads, strings.Join(rows[k], "; "), k.why)
		}
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(out, "\nProblems:\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(out, "  %s\n", p)
		}
	}
	fmt.Fprintf(out, "\n%s; %s; %.0f s in all; load average %s at the start, %s at the end\n",
		rep.Machine["cpu"], rep.Versions["go"], rep.Seconds, rep.Machine["loadavg_start"], rep.Machine["loadavg_end"])
}

// findPython picks the interpreter and asks it what it has.
func findPython() (string, map[string]any, string) {
	var cands []string
	if *pyFlag != "" {
		cands = []string{*pyFlag}
	} else {
		if p := os.Getenv("PYTHON"); p != "" {
			cands = append(cands, p)
		}
		cands = append(cands, "/usr/bin/python3", "python3")
	}
	chosen := ""
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if chosen == "" {
			chosen = p
		}
		if exec.Command(p, "-c", "import numpy").Run() == nil {
			chosen = p
			break
		}
	}
	if chosen == "" {
		return "", nil, "no Python interpreter found: the NumPy and PyTorch rows are skipped (apt-get install -y python3-numpy python3-torch libopenblas0)"
	}
	info0 := exec.Command(chosen, "python/peers.py", "info")
	info0.Env = append(os.Environ(), pyEnv...)
	outb, err := info0.Output()
	info := map[string]any{}
	if err != nil || json.Unmarshal(outb, &info) != nil {
		return chosen, info, fmt.Sprintf("%s python/peers.py info failed: %v", chosen, err)
	}
	var problems []string
	if info["numpy"] == nil {
		problems = append(problems, fmt.Sprintf("NumPy missing for %s: apt-get install -y python3-numpy libopenblas0", chosen))
	} else if b, _ := info["numpy_blas"].(string); b != "OpenBLAS" {
		problems = append(problems, fmt.Sprintf("NumPy uses %s, not OpenBLAS: apt-get install -y libopenblas0 and select it with update-alternatives --config libblas.so.3-x86_64-linux-gnu", b))
	}
	if info["torch"] == nil {
		problems = append(problems, fmt.Sprintf("PyTorch missing for %s: apt-get install -y python3-torch", chosen))
	} else if b, _ := info["torch_blas"].(string); b != "OpenBLAS" {
		problems = append(problems, fmt.Sprintf("PyTorch uses %s, not OpenBLAS", b))
	}
	return chosen, info, strings.Join(problems, "; ")
}

func machine() map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": strconv.Itoa(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
			}
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
				var fs []string
				for _, f := range []string{"avx2", "fma", "avx512f"} {
					if slices.Contains(strings.Fields(v), f) {
						fs = append(fs, f)
					}
				}
				m["simd"] = strings.Join(fs, " ")
			}
		}
	}
	m["cpu"] = fmt.Sprintf("%s, %s cpus, %s", m["cpu"], m["cpus"], m["simd"])
	m["loadavg_start"] = loadavg()
	return m
}

// loadavg is the 1, 5 and 15-minute load averages: on a shared machine,
// how many other runnable processes competed for the cores.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// writeTable prints t with its columns padded, right-aligned where right
// says so; a nil row is a blank line.
func writeTable(out io.Writer, t [][]string, right []bool) {
	w := make([]int, len(right))
	for _, r := range t {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(c))
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			b.WriteString("  ")
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
}

func fmtDur(s float64) string {
	switch {
	case s == 0:
		return "-"
	case s >= 1:
		return fmt.Sprintf("%.3g s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3g ms", s*1e3)
	default:
		return fmt.Sprintf("%.3g µs", s*1e6)
	}
}

func fmtAllocs(a float64) string {
	switch {
	case a == 0:
		return "0"
	case a < 0.01:
		return "<0.01"
	case a < 10:
		return fmt.Sprintf("%.2f", a)
	default:
		return fmt.Sprintf("%.0f", a)
	}
}

func orNone(v any) any {
	if v == nil {
		return "(none)"
	}
	return v
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

func must[T any](v T, err error) T {
	if err != nil {
		fatalf("peers: %v", err)
	}
	return v
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
