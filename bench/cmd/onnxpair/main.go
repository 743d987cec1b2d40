// Command onnxpair times an imported ONNX model against the same model
// written in mlc's DSL (a zoo model and config), generated Predict on the
// same inputs, alternating their runs (A, B, A, B, …) so that both see the
// same machine, and reports each run's wall time and the runner process's
// CPU time per call: on a loaded machine the CPU time is what makes the
// "imported within 10% of the DSL" ratio mean something (with one thread
// the work is the same whatever the load, while the wall time also counts
// the time other processes hold the core).
// The two programs must take the same input names and shapes (the
// exports of python/export_onnx.py do). It prints two result lines for
// cmd/peers: tool "mlc" (the import) and "mlc DSL".
//
//	onnxpair -onnx gpt.onnx -dims batch=1 -zoo gpt -config vocab=65,... -workload NAME [-runs 9] [-vocab 65]
package main

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx"
	mlcrt "github.com/mlc-dev/mlc/runtime"
)

func main() {
	file := flag.String("onnx", "", "the .onnx file")
	dims := flag.String("dims", "", "its symbolic dimensions, batch=1,...")
	zoo := flag.String("zoo", "", "the zoo model of the same architecture")
	config := flag.String("config", "", "the zoo model's config")
	workload := flag.String("workload", "", "the row's workload name")
	runs := flag.Int("runs", 9, "alternating runs of each")
	vocab := flag.Int("vocab", 2, "token ids are drawn below this")
	flag.Parse()
	if *file == "" || *zoo == "" || *workload == "" {
		benchutil.Fatalf("onnxpair: -onnx, -zoo and -workload are required")
	}
	opts := onnx.Options{Dims: map[string]int{}, Float: graph.F32}
	for kv := range strings.SplitSeq(*dims, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				benchutil.Fatalf("onnxpair: -dims %s: %v", kv, err)
			}
			opts.Dims[k] = n
		}
	}
	imp, err := compile.ONNX(*file, compile.ONNXOptions{Import: opts})
	if err != nil {
		benchutil.Fatalf("onnxpair: %v", err)
	}
	dsl, err := compile.Zoo(*zoo, *config, compile.Options{Float: graph.F32})
	if err != nil {
		benchutil.Fatalf("onnxpair: %v", err)
	}
	// The same deterministic inputs for both; they must agree on names and
	// shapes. The zoo model's other inputs (training labels) are filled too:
	// its runner asks for every input.
	inputs := map[string]mlcrt.JSONTensor{}
	for _, in := range imp.Program.Predict.Inputs() {
		other := dsl.Program.Predict.Find(in.Name)
		if other == nil || other.Op != graph.OpInput || !other.Type.Shape.Equal(in.Type.Shape) {
			benchutil.Fatalf("onnxpair: the zoo's Predict has no input %s %s", in.Name, in.Type)
		}
	}
	ins := imp.Program.Predict.Inputs()
	if dsl.Program.Train != nil {
		ins = append(ins, dsl.Program.Train.Inputs()...)
	}
	for _, in := range ins {
		if _, ok := inputs[in.Name]; ok {
			continue
		}
		t := mlcrt.JSONTensor{Shape: in.Type.Shape.Clone()}
		for i := range in.Type.Shape.Size() {
			v := float64((i*37)%101)/50 - 1
			if in.Type.DType == graph.I32 {
				v = float64((i * 7) % *vocab)
			}
			t.Data = append(t.Data, mlcrt.JSONFloat(v))
		}
		inputs[in.Name] = t
	}
	var srvs [2]*compile.Server
	for i, p := range []*graph.Program{imp.Program, dsl.Program} {
		bin, err := compile.BuildRunner(p)
		if err != nil {
			benchutil.Fatalf("onnxpair: %v", err)
		}
		if srvs[i], err = compile.StartServer(bin, 0); err != nil {
			benchutil.Fatalf("onnxpair: %v", err)
		}
		defer srvs[i].Close()
	}
	// run times n calls of Predict in server i: wall and CPU seconds per call.
	run := func(i, n int) (wall, cpu float64) {
		c0 := cpuTime(srvs[i].Pid())
		r, err := srvs[i].Do(compile.RunRequest{Cmd: "bench", Entry: "Predict", N: n, Inputs: inputs})
		if err != nil {
			benchutil.Fatalf("onnxpair: %v", err)
		}
		c1 := cpuTime(srvs[i].Pid())
		return float64(r.Bench.Ns) / 1e9 / float64(n), (c1 - c0) / float64(n)
	}
	// Size each run to about 1 s (the CPU clock ticks at 10 ms), after a warm-up.
	var ns [2]int
	for i := range srvs {
		run(i, 3)
		w, _ := run(i, 3)
		ns[i] = max(1, int(1/w))
	}
	var wall, cpu [2][]float64
	for range *runs {
		for i := range srvs {
			w, c := run(i, ns[i])
			wall[i], cpu[i] = append(wall[i], w), append(cpu[i], c)
		}
	}
	threads := runtime.GOMAXPROCS(0)
	for i, tool := range []string{"mlc", "mlc DSL"} {
		note := "imported; runs alternate with the DSL model's"
		if i == 1 {
			note = "the zoo's " + *zoo + ", " + *config + "; runs alternate with the import's"
		}
		benchutil.Emit(benchutil.Result{Workload: *workload + ", paired", Tool: tool, Threads: threads, Unit: "call", Times: wall[i], Note: note})
		benchutil.Emit(benchutil.Result{Workload: *workload + ", CPU time", Tool: tool, Threads: threads, Unit: "call", Times: cpu[i],
			Note: note + "; the runner process's user+system CPU time (/proc), which other processes' load does not inflate"})
	}
}

// cpuTime is the user+system CPU seconds of process pid so far.
func cpuTime(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		benchutil.Fatalf("onnxpair: %v", err)
	}
	// Fields after the command name (which may hold spaces) start after ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.ParseFloat(f[11], 64) // field 14 of stat
	stime, _ := strconv.ParseFloat(f[12], 64) // field 15
	return (utime + stime) / 100              // USER_HZ
}
