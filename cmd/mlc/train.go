package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

// The file names inside a -ckpt directory.
const (
	ckptFile = train.CheckpointFile
	csvFile  = train.CSVFile
	pngFile  = train.PlotFile
)

// defaultSaveEvery is how often a run with -ckpt saves when -save-every is
// not given.
const defaultSaveEvery = "10m"

func cmdTrain(c *cli, args []string) (err error) {
	fs := c.flags("train")
	var mf modelFlags
	mf.register(fs)
	dataPath := fs.String("data", "", "training data: for text models a file or directory of text (default: the Go standard library's source); for others a .safetensors file with a tensor per input, examples along the first axis (val/NAME: validation)")
	steps := fs.Int("steps", 0, "total training steps (default: the model's); with -resume, the new end of the run and of its schedule")
	until := fs.Int("until", 0, "stop after this step and save, as if interrupted (0: run to -steps)")
	var of optimizerFlags
	of.register(fs, "the model's", "the model's; the peak rate with a schedule")
	warmup := fs.Int("warmup", 0, "linear warmup steps; with them the rate then decays by a cosine to -lr-min at -steps")
	lrMin := fs.Float64("lr-min", 0, "final learning rate of the cosine decay")
	cosine := fs.Bool("cosine", false, "decay the learning rate by a cosine to -lr-min at -steps (implied by -warmup)")
	l2 := fs.Float64("l2", 0, "L2 regularisation λ of the λ/2·‖w‖² term on the weight matrices")
	seed := fs.Uint64("seed", 0, "seed of the parameter initialisation, dropout and batch sampling")
	ckpt := fs.String("ckpt", "", "directory for the checkpoint, the loss CSV and the loss-curve PNG")
	resume := fs.Bool("resume", false, "continue the run saved in -ckpt, bit for bit")
	force := fs.Bool("force", false, "start a new run in a -ckpt directory that holds a checkpoint, replacing it")
	saveEvery := fs.String("save-every", defaultSaveEvery, "with -ckpt, also save every N steps (a number) or every so long (a duration: 10m, 90s); 0: only at the end")
	logEvery := fs.Int("log", 0, "steps between log lines (default: the model's)")
	batch := fs.Int("batch", 0, "batch size (sets the model's batch config key)")
	paramsFile := fs.String("params", "", "initial parameters: a .safetensors or JSON file of weights (e.g. from another tool)")
	precision := fs.String("precision", "", "bf16: every matrix product reads bf16-rounded operands, f32 master weights, optimizer state and loss (docs/low-precision.md)")
	distMode := fs.String("dist", "", "data-parallel training over MPI: mpi, under mpirun -np N in an mlc built with -tags mpi; -batch is per rank, rank 0 writes -ckpt (see docs/distributed.md)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	job, err := train.Dist(*distMode)
	if err != nil {
		return err
	}
	// Logs, the progress bar and the run directory are rank 0's.
	stdout, stderr := c.stdout, c.stderr
	if job.Rank > 0 {
		stdout, stderr = io.Discard, io.Discard
	}
	of.parsed(fs)
	set := setFlags(fs)
	everySteps, everyTime, err := parseSaveEvery(*saveEvery)
	if err != nil {
		return err
	}
	switch {
	case set["steps"] && *steps < 1:
		return fmt.Errorf("-steps must be at least 1, got %d", *steps)
	case *until < 0:
		return fmt.Errorf("-until must not be negative, got %d", *until)
	case set["batch"] && *batch < 1:
		return fmt.Errorf("-batch must be at least 1, got %d", *batch)
	case set["log"] && *logEvery < 1:
		return fmt.Errorf("-log must be at least 1, got %d", *logEvery)
	case *resume && *ckpt == "":
		return fmt.Errorf("-resume needs -ckpt DIR")
	case *force && *ckpt == "":
		return fmt.Errorf("-force needs -ckpt DIR")
	}

	var st train.Settings
	start := 0
	var restored *safetensors.Checkpoint
	if *resume {
		path := filepath.Join(*ckpt, ckptFile)
		ck, s, err := train.LoadCheckpoint(path)
		if err != nil {
			return err
		}
		if mf.model != "" && mf.model != s.Model && mf.model != s.Source {
			return fmt.Errorf("%s: written for model %q, not %q", path, s.Model, mf.model)
		}
		for _, name := range train.FixedOnResume {
			if set[name] && name != "model" {
				return fmt.Errorf("-%s cannot change on -resume: %s fixes the run's settings (only -steps, -until, -log and -save-every may be given)", name, path)
			}
		}
		st, restored, start = s, ck, int(ck.Step)
		if set["steps"] {
			if err := st.Horizon(*steps, start); err != nil {
				return err
			}
		} else if start >= st.Steps {
			return fmt.Errorf("%s: the run is complete (step %d of %d); give -steps N to train it further", path, start, st.Steps)
		}
		mf.model, mf.config, mf.dtype = st.Model, st.Config, st.DType
		if st.Source != "" {
			mf.model = st.Source
		}
	}
	if *batch > 0 {
		if mf.config != "" {
			mf.config += ","
		}
		mf.config += "batch=" + strconv.Itoa(*batch)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	def := m.trainDefaults()
	if !*resume {
		// The canonical config, every key with its value: -resume rebuilds
		// the same model even when a default changes, and it holds what
		// the flags added (an ONNX model's -loss).
		st = train.Settings{Model: m.Name, Config: m.Config, DType: m.Float.String(), Seed: *seed, L2: *l2, Data: *dataPath, Precision: *precision}
		if m.Entry == nil {
			st.Source = mf.model
		}
		st.Steps = def.Steps
		if set["steps"] {
			st.Steps = *steps
		}
		base := train.Settings{}.Optimizer
		base.Kind = of.opt
		if of.opt == "" {
			base.Kind = def.Opt
		}
		if !set["lr"] {
			base.LR = def.LR
		}
		if st.Optimizer, err = of.resolve(base); err != nil {
			return err
		}
		st.Optimizer.Warmup, st.Optimizer.LRMin = *warmup, *lrMin
		st.Schedule(*cosine, def.Warmup, set["warmup"] || set["opt"] || set["lr"])
	}
	if err := st.Check(); err != nil {
		return err
	}
	if *until > st.Steps {
		return fmt.Errorf("-until %d is past the run's end at step %d", *until, st.Steps)
	}
	if *until > 0 && *until <= start {
		return fmt.Errorf("-until %d: the checkpoint is already at step %d", *until, start)
	}
	if !set["log"] {
		*logEvery = max(def.Log, 1)
	}
	if st.Optimizer, err = st.Optimizer.Defaults(); err != nil {
		return err
	}
	prec, err := compile.ParsePrecision(st.Precision)
	if err != nil {
		return err
	}
	// Everything that can fail on the flags alone has: now take the
	// directory (refusing one that holds another run) before any slow work.
	var dir *train.Dir
	if *ckpt != "" && job.Rank == 0 {
		if dir, err = train.Open(*ckpt, *resume, *force, start); err != nil {
			return err
		}
		defer dir.Close()
	}
	res, err := m.Compile(compile.Options{Optimizer: st.Optimizer, L2: st.L2, Precision: prec})
	if err != nil {
		return err
	}
	prog := res.Program
	if prog.Train == nil {
		if compile.IsONNXPath(mf.model) {
			return fmt.Errorf("%s has no loss to train: give -loss cross_entropy, mse or bce_with_logits (targets: the input <output>_target)", mf.model)
		}
		return fmt.Errorf("%s has no loss to train", m.Name)
	}
	if err := compile.CheckMemory(prog, false); err != nil {
		return err
	}
	ds, err := data.New(data.Options{
		Kind: def.Data, Path: st.Data, Dir: *ckpt, Resume: *resume, Seed: st.Seed,
		Config:  func(key string) int { return configInt(m, key) },
		Example: compile.ExampleInputs(prog, m.Example(), st.Seed+1),
		Inputs:  inputNames(prog.Train),
		Shapes:  inputShapes(prog.Train),
		Log:     func(format string, args ...any) { fmt.Fprintf(stdout, format, args...) },
		Rank:    job.Rank, Ranks: job.Size,
	})
	if err != nil {
		return err
	}
	bin, err := job.BuildRunner(prog)
	if err != nil {
		return err
	}
	srv, err := compile.StartServer(bin, st.Seed)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && job.Parallel() {
			// The other ranks may wait for this one in a collective, and
			// the runner's MPI_Finalize would wait for them: kill it, and
			// let mpirun end the job when mlc exits non-zero.
			srv.Kill()
			return
		}
		srv.Close()
	}()
	// SIGINT (Ctrl-C), SIGTERM (kill, a scheduler's stop) and SIGHUP (a
	// closed terminal) all stop after the current step and save.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	model := train.Remote(srv)
	if job.Parallel() {
		model = train.RemoteRanks(srv, ctx)
	}
	if restored != nil {
		if err := train.RestoreCheckpoint(model, prog, ds, restored); err != nil {
			return err
		}
		if note := job.ResumeNote(restored.Metadata, configInt(m, "batch")); note != "" {
			fmt.Fprintln(stderr, note)
		}
	} else if *paramsFile != "" {
		params, err := compile.ReadParams(*paramsFile, prog)
		if err != nil {
			return err
		}
		if err := model.Restore(&train.Snapshot{Params: params}); err != nil {
			return err
		}
	}

	if job.Parallel() {
		parts, err := train.Parts(bin, prog, st, start, *until, ds)
		if err != nil {
			return err
		}
		if err := train.StartRanks(srv, parts); err != nil {
			return err
		}
	}
	opts := train.Options{
		Settings: st, Program: prog, Data: ds, Dir: dir,
		Start: start, Stop: *until, Log: *logEvery, Eval: def.Eval,
		SaveEvery: everySteps, SaveInterval: everyTime,
		Out: stdout, Err: stderr,
	}
	// Under mpirun a rank's stdout is a pseudo-terminal even when mpirun's
	// output goes to a file, so a data-parallel job logs lines.
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !job.Parallel() {
		opts.Progress = true
	}
	run, err := train.Run(ctx, model, opts)
	if err != nil {
		return err
	}
	if ds.Fixed() && !run.Interrupted && job.Rank == 0 {
		return report(c, model, ds)
	}
	return nil
}

// parseSaveEvery reads -save-every: a number of steps or a duration.
func parseSaveEvery(s string) (steps int, every time.Duration, err error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, 0, fmt.Errorf("-save-every must not be negative, got %d", n)
		}
		return n, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, 0, fmt.Errorf("-save-every takes a number of steps or a duration like 10m, got %q", s)
	}
	return 0, d, nil
}

// report prints the predictions on the example batch, for the small
// models trained on one.
func report(c *cli, m train.Model, ds data.Dataset) error {
	batch, err := ds.Next()
	if err != nil {
		return err
	}
	outs, err := m.Predict(batch)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(outs))
	for k := range outs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if len(outs[k].Data) > 64 {
			continue // too long to read; mlc run prints it
		}
		fmt.Fprintf(c.stdout, "%s %v = %v\n", k, graph.Shape(outs[k].Shape), floatsOf(outs[k]))
	}
	return nil
}

// inputShapes maps a graph's inputs to their shapes.
func inputShapes(g *graph.Graph) map[string][]int {
	out := map[string][]int{}
	for _, n := range g.Inputs() {
		out[n.Name] = n.Type.Shape
	}
	return out
}
