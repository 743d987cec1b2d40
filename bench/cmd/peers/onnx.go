package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
)

// The onnx group: models exported from PyTorch, run by mlc (imported with
// -model file.onnx, generated Predict), by onnxruntime (npm's
// onnxruntime-node, bench/ort/ort.js) and, where the zoo has the same model,
// by mlc from the DSL. Every configuration runs in its own process, in
// rounds that interleave the tools (round 1: every tool once, round 2: …),
// and a row's repetitions are gathered over the rounds, so that the machine's
// drifting load falls on all of them alike.

// onnxModel is one workload of the group.
type onnxModel struct {
	workload string
	file     string // the .onnx file
	dims     string // symbolic dimensions: batch=1
	vocab    int    // token ids are drawn below this (0: float inputs)
	zoo      string // the same model in the DSL: "model config", or ""
}

// onnxJob is one process of the group.
type onnxJob struct {
	m       onnxModel
	tool    string // mlc, mlc DSL, onnxruntime
	threads int
}

// runONNX runs the onnx group and returns its rows. tmp is the runner's
// temporary directory; python the interpreter (for exporting the
// benchmark-sized models with PyTorch), "" when there is none.
func runONNX(tmp, goBin, python string, pyInfo map[string]any, logf func(string, ...any)) []row {
	skip := func(ms []onnxModel, tools []string, why string) []row {
		var rs []row
		for _, m := range ms {
			for _, tool := range tools {
				for _, t := range []int{1, 2} {
					rs = append(rs, row{Result: benchutil.Result{Workload: m.workload, Tool: tool, Threads: t, Skipped: why}})
				}
			}
		}
		return rs
	}
	var rows []row
	models := []onnxModel{
		{workload: "onnx gpt ctx 16 d 32 (testdata)", file: "../onnx/testdata/gpt/model.onnx", dims: "batch=1", vocab: 64},
		{workload: "onnx mlp 4-8-3 b5 (testdata)", file: "../onnx/testdata/mlp/model.onnx", dims: "batch=5"},
	}
	exported := []onnxModel{
		{workload: "onnx gpt fwd ctx 64 d 128", file: filepath.Join(tmp, "onnx", "gpt.onnx"), dims: "batch=1", vocab: 65,
			zoo: "gpt vocab=65,ctx=64,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=false,dropout=0,batch=1"},
		{workload: "onnx mlp 784-256-256-10 b64", file: filepath.Join(tmp, "onnx", "mlp.onnx"), dims: "batch=64",
			zoo: "mlp sizes=784-256-256-10,act=relu,batch=64"},
	}
	// The benchmark-sized models, exported now by bench/python/export_onnx.py.
	if _, ok := pyInfo["torch"].(string); !ok || python == "" {
		rows = append(rows, skip(exported, []string{"mlc", "mlc DSL", "onnxruntime"}, "no Python with PyTorch to export the models (python/export_onnx.py)")...)
	} else {
		os.MkdirAll(filepath.Join(tmp, "onnx"), 0o755)
		cmd := exec.Command(python, "python/export_onnx.py", filepath.Join(tmp, "onnx"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			rows = append(rows, skip(exported, []string{"mlc", "mlc DSL", "onnxruntime"}, "python/export_onnx.py failed: "+firstLines(stderr.String(), 2))...)
		} else {
			models = append(exported, models...)
		}
	}

	// mlc itself, for mlc bench.
	mlcBin := filepath.Join(tmp, "mlc")
	cmd := exec.Command(goBin, "-C", "..", "build", "-o", mlcBin, "./cmd/mlc")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		logf("mlc       does not build: %s", firstLines(stderr.String(), 3))
		return append(rows, skip(models, []string{"mlc", "mlc DSL", "onnxruntime"}, "mlc does not build")...)
	}
	logf("mlc       ok")
	ortWhy := ""
	node, err := exec.LookPath("node")
	if err != nil {
		ortWhy = "node is not on PATH (apt-get install nodejs npm)"
	} else if _, err := os.Stat("ort/node_modules/onnxruntime-node/package.json"); err != nil {
		ortWhy = "onnxruntime-node is not installed: npm install --prefix bench/ort --ignore-scripts (run.sh does it when npm is there)"
	}
	if ortWhy != "" {
		logf("WARNING   onnxruntime rows skipped: %s", ortWhy)
		rows = append(rows, skip(models, []string{"onnxruntime"}, ortWhy)...)
	}

	var jobs []onnxJob
	for _, m := range models {
		for _, t := range []int{1, 2} {
			jobs = append(jobs, onnxJob{m, "mlc", t})
			if ortWhy == "" {
				jobs = append(jobs, onnxJob{m, "onnxruntime", t})
			}
			if m.zoo != "" {
				jobs = append(jobs, onnxJob{m, "mlc DSL", t})
			}
		}
	}
	rounds, reps := 3, 3
	if *quick {
		rounds, reps = 1, 2
	}
	type key struct {
		workload, tool string
		threads        int
	}
	got := map[key]*row{}
	var order []key
	for r := range rounds {
		for _, j := range jobs {
			for _, res := range runONNXJob(j, mlcBin, node, reps) {
				k := key{res.Workload, res.Tool, res.Threads}
				prev := got[k]
				if prev == nil {
					got[k] = &res
					order = append(order, k)
					continue
				}
				if prev.Skipped != "" {
					continue
				}
				if res.Skipped != "" {
					prev.Skipped = fmt.Sprintf("round %d: %s", r+1, res.Skipped)
					continue
				}
				prev.Times = append(prev.Times, res.Times...)
			}
		}
		logf("onnx   round %d of %d done", r+1, rounds)
	}
	for _, j := range order {
		r := got[j]
		if r.Skipped != "" {
			r.Times = nil
		}
		rows = append(rows, *r)
	}
	// The import against the DSL, paired in one process (cmd/onnxpair):
	// alternating runs, wall and CPU time.
	pair := filepath.Join(tmp, "onnxpair")
	cmd = exec.Command(goBin, "build", "-o", pair, "./cmd/onnxpair")
	stderr.Reset()
	cmd.Stderr = &stderr
	pairWhy := ""
	if err := cmd.Run(); err != nil {
		pairWhy = "cmd/onnxpair does not build: " + firstLines(stderr.String(), 2)
	}
	runs := "9"
	if *quick {
		runs = "3"
	}
	for _, m := range models {
		if m.zoo == "" {
			continue
		}
		for _, t := range []int{1, 2} {
			zoo, config, _ := strings.Cut(m.zoo, " ")
			skipped := func(why string) []row {
				var rs []row
				for _, w := range []string{m.workload + ", paired", m.workload + ", CPU time"} {
					for _, tool := range []string{"mlc", "mlc DSL"} {
						rs = append(rs, row{Result: benchutil.Result{Workload: w, Tool: tool, Threads: t, Skipped: why}})
					}
				}
				return rs
			}
			if pairWhy != "" {
				rows = append(rows, skipped(pairWhy)...)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			cmd := exec.CommandContext(ctx, pair, "-onnx", m.file, "-dims", m.dims, "-zoo", zoo, "-config", config,
				"-workload", m.workload, "-runs", runs, "-vocab", strconv.Itoa(max(m.vocab, 2)))
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(t))
			var stdout bytes.Buffer
			stderr.Reset()
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			cancel()
			if err != nil {
				rows = append(rows, skipped("cmd/onnxpair failed: "+firstLines(stderr.String(), 2))...)
				continue
			}
			for line := range strings.SplitSeq(stdout.String(), "\n") {
				var r row
				if json.Unmarshal([]byte(line), &r.Result) == nil && r.Workload != "" {
					r.Env = "GOMAXPROCS=" + strconv.Itoa(t)
					rows = append(rows, r)
				}
			}
		}
		logf("onnx   %s: paired import vs DSL done", m.workload)
	}
	return rows
}

// runONNXJob runs one configuration once: reps repetitions in one process.
func runONNXJob(j onnxJob, mlcBin, node string, reps int) []row {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := row{Result: benchutil.Result{Workload: j.m.workload, Tool: j.tool, Threads: j.threads, Unit: "call"}}
	env := append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(j.threads), "OMP_NUM_THREADS="+strconv.Itoa(j.threads))
	r.Env = "GOMAXPROCS=" + strconv.Itoa(j.threads)
	var cmd *exec.Cmd
	switch j.tool {
	case "onnxruntime":
		cmd = exec.CommandContext(ctx, node, "ort/ort.js", "bench", "-model", j.m.file, "-workload", j.m.workload,
			"-threads", strconv.Itoa(j.threads), "-reps", strconv.Itoa(reps), "-dims", j.m.dims, "-vocab", strconv.Itoa(j.m.vocab))
		r.Env = "intraOpNumThreads=" + strconv.Itoa(j.threads)
	case "mlc", "mlc DSL":
		model, config := j.m.file, j.m.dims
		if j.tool == "mlc DSL" {
			model, config, _ = strings.Cut(j.m.zoo, " ")
			r.Note = "the zoo's " + model + ", " + config
		}
		cmd = exec.CommandContext(ctx, mlcBin, "bench", "-model", model, "-config", config, "-dtype", "f32",
			"-entries", "Predict", "-no-interp", "-runs", strconv.Itoa(reps), "-json")
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		r.Skipped = "failed: " + err.Error()
		if s := firstLines(stderr.String(), 2); s != "" {
			r.Skipped += ": " + s
		}
		return []row{r}
	}
	if j.tool == "onnxruntime" {
		// Two lines: wall time, and the process's CPU time (", CPU time").
		var rs []row
		for line := range strings.SplitSeq(stdout.String(), "\n") {
			var res benchutil.Result
			if json.Unmarshal([]byte(line), &res) == nil && res.Workload != "" {
				c := r
				c.Workload, c.Times, c.Note = res.Workload, res.Times, res.Note
				rs = append(rs, c)
			}
		}
		if len(rs) == 0 {
			r.Skipped = "ort.js printed no result"
			return []row{r}
		}
		return rs
	}
	var rep struct {
		Entries []struct {
			Entry     string `json:"entry"`
			Generated *struct {
				Allocs float64   `json:"allocs_per_call"`
				NsRuns []float64 `json:"ns_per_call_runs"`
			} `json:"generated"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Entries) != 1 || rep.Entries[0].Generated == nil {
		r.Skipped = fmt.Sprintf("mlc bench printed no Predict timing (%v)", err)
		return []row{r}
	}
	g := rep.Entries[0].Generated
	for _, ns := range g.NsRuns {
		r.Times = append(r.Times, ns/1e9)
	}
	r.Allocs = benchutil.Ptr(g.Allocs)
	if len(r.Times) == 0 {
		r.Skipped = "mlc bench gave no per-run times"
	}
	return []row{r}
}
