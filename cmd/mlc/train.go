package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// trainSettings are what a run was started with; a checkpoint records them so
// that -resume continues exactly the same run.
type trainSettings struct {
	Model     string                 `json:"model"`
	Config    string                 `json:"config"`
	DType     string                 `json:"dtype"`
	Optimizer passes.OptimizerConfig `json:"optimizer"`
	L2        float64                `json:"l2,omitempty"`
	Steps     int                    `json:"steps"`
	Seed      uint64                 `json:"seed"`
	Data      string                 `json:"data,omitempty"`
}

// The file names inside a -ckpt directory.
const (
	ckptFile = "checkpoint.safetensors"
	csvFile  = "loss.csv"
	pngFile  = "loss.png"
)

func cmdTrain(c *cli, args []string) error {
	fs := c.flags("train")
	var mf modelFlags
	mf.register(fs)
	data := fs.String("data", "", "training text, a file or a directory (text models; default: the Go standard library's source)")
	steps := fs.Int("steps", 0, "total training steps (default: the model's)")
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
	logEvery := fs.Int("log", 0, "steps between log lines (default: the model's)")
	batch := fs.Int("batch", 0, "batch size (sets the model's batch config key)")
	paramsFile := fs.String("params", "", "initial parameters: a .safetensors or JSON file of weights (e.g. from another tool)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *resume && *ckpt == "" {
		return fmt.Errorf("-resume needs -ckpt DIR")
	}
	var st trainSettings
	startStep := 0
	var restored *safetensors.Checkpoint
	if *resume {
		ck, s, err := loadTrainCheckpoint(filepath.Join(*ckpt, ckptFile))
		if err != nil {
			return err
		}
		if mf.model != "" && mf.model != s.Model {
			return fmt.Errorf("%s: written for model %q, not %q", filepath.Join(*ckpt, ckptFile), s.Model, mf.model)
		}
		st, restored, startStep = s, ck, int(ck.Step)
		if *steps > 0 {
			st.Steps = *steps
		}
		mf.model, mf.config, mf.dtype = st.Model, st.Config, st.DType
	}
	if *batch > 0 {
		if *resume {
			return fmt.Errorf("-batch cannot change on -resume")
		}
		if mf.config != "" {
			mf.config += ","
		}
		mf.config += "batch=" + strconv.Itoa(*batch)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	if !*resume {
		def := models.TrainDefaultsFor(m.entry.Name)
		st = trainSettings{Model: m.entry.Name, Config: mf.config, DType: m.opts.Float.String(), Seed: *seed, L2: *l2, Data: *data}
		st.Steps = pick(*steps, def.Steps)
		st.Optimizer = of.config("")
		st.Optimizer.Kind, st.Optimizer.LR = pickS(of.opt, def.Opt), pickF(of.lr, def.LR)
		st.Optimizer.Warmup, st.Optimizer.LRMin = *warmup, *lrMin
		if *warmup == 0 && !*cosine && of.opt == "" && of.lr == 0 && def.Warmup > 0 {
			// The model's own schedule, unless the flags chose another run.
			st.Optimizer.Warmup, st.Optimizer.LRMin = def.Warmup, st.Optimizer.LR/10
		}
		if st.Optimizer.Warmup > 0 || *cosine {
			st.Optimizer.Steps = st.Steps
		}
		if st.Optimizer.Steps > 0 && st.Optimizer.Steps <= st.Optimizer.Warmup {
			st.Optimizer.Warmup = st.Optimizer.Steps / 10
		}
	}
	if *logEvery == 0 {
		*logEvery = max(models.TrainDefaultsFor(m.entry.Name).Log, 1)
	}
	if st.Optimizer, err = st.Optimizer.Defaults(); err != nil {
		return err
	}
	res, err := compile.Zoo(m.entry.Name, st.Config, compile.Options{Float: m.opts.Float, Optimizer: st.Optimizer, L2: st.L2})
	if err != nil {
		return err
	}
	prog := res.Program
	if prog.Train == nil {
		return fmt.Errorf("%s has no loss to train", m.entry.Name)
	}
	ds, err := newDataset(m, prog, st, *ckpt, *resume, func(format string, args ...any) { fmt.Fprintf(c.stdout, format, args...) })
	if err != nil {
		return err
	}
	bin, err := compile.BuildRunner(prog)
	if err != nil {
		return err
	}
	srv, err := compile.StartServer(bin, st.Seed)
	if err != nil {
		return err
	}
	defer srv.Close()
	if restored != nil {
		if err := restore(srv, prog, ds, restored); err != nil {
			return err
		}
	} else if *paramsFile != "" {
		params, err := readParams(*paramsFile, prog)
		if err != nil {
			return err
		}
		if _, err := srv.Do(compile.RunRequest{Cmd: "set", Params: params}); err != nil {
			return err
		}
	}

	tr := &trainer{c: c, st: st, srv: srv, prog: prog, ds: ds, ckpt: *ckpt, log: *logEvery}
	if *ckpt != "" {
		if err := os.MkdirAll(*ckpt, 0o755); err != nil {
			return err
		}
	}
	stop := st.Steps
	if *until > 0 && *until < stop {
		stop = *until
	}
	return tr.run(startStep, stop)
}

func pick(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

func pickF(v, def float64) float64 {
	if v != 0 {
		return v
	}
	return def
}

func pickS(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// trainer runs the loop against a generated model's runner.
type trainer struct {
	c      *cli
	st     trainSettings
	srv    *compile.Server
	prog   *graph.Program
	ds     dataset
	ckpt   string
	log    int
	losses []float64 // this invocation's losses, by step from start
	val    map[int]float64
}

func (t *trainer) run(start, stop int) error {
	c := t.c
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt)
	defer signal.Stop(interrupted)

	var bar *progressbar.ProgressBar
	if f, ok := c.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar = progressbar.NewOptions(t.st.Steps, progressbar.OptionSetWriter(f), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("steps"), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		_ = bar.Set(start)
	}
	fmt.Fprintf(c.stdout, "training %s for %d steps (%s, lr %g) from step %d\n", t.st.Model, t.st.Steps, t.st.Optimizer.Kind, t.st.Optimizer.LR, start)
	t.val = map[int]float64{}
	began := time.Now()
	step := start
	stopped := false
	for step < stop && !stopped {
		// A fixed batch trains in chunks inside the runner; data batches go one by one.
		n := 1
		if t.ds.fixed() {
			n = min(stop-step, t.log-step%t.log)
		}
		batch, err := t.ds.next()
		if err != nil {
			return err
		}
		res, err := t.srv.Do(compile.RunRequest{Cmd: "step", Inputs: batch, Steps: n})
		if err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		for i, l := range res.Losses {
			t.losses = append(t.losses, float64(l))
			if (step+i)%t.log == 0 && bar == nil {
				rate := float64(step+i-start+1) / time.Since(began).Seconds()
				fmt.Fprintf(c.stdout, "step %6d  loss %.10f  (%.0f steps/s)\n", step+i, float64(l), rate)
			}
		}
		step += len(res.Losses)
		if bar != nil {
			bar.Describe(fmt.Sprintf("loss %.4f", t.losses[len(t.losses)-1]))
			_ = bar.Set(step)
		}
		if err := t.maybeEval(step); err != nil {
			return err
		}
		select {
		case <-interrupted:
			fmt.Fprintf(c.stderr, "\ninterrupted after step %d\n", step)
			stopped = true
		default:
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	elapsed := time.Since(began)
	if step > start {
		fmt.Fprintf(c.stdout, "step %6d  loss %.10f  (%d steps in %.2fs, %.0f steps/s)\n", step-1, t.losses[len(t.losses)-1], step-start, elapsed.Seconds(), float64(step-start)/elapsed.Seconds())
	}
	if err := t.report(); err != nil {
		return err
	}
	if t.ckpt == "" {
		if stopped {
			fmt.Fprintln(c.stderr, "no -ckpt directory: nothing saved")
		}
		return nil
	}
	if err := t.save(step); err != nil {
		return err
	}
	if err := t.writeCurve(start); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "saved %s after step %d\n", filepath.Join(t.ckpt, ckptFile), step)
	return nil
}

// maybeEval computes the validation loss every so often, for datasets that have one.
func (t *trainer) maybeEval(step int) error {
	every := models.TrainDefaultsFor(t.st.Model).Eval
	if every == 0 || step%every != 0 && step != t.st.Steps {
		return nil
	}
	batches := t.ds.validation()
	if len(batches) == 0 {
		return nil
	}
	sum := 0.0
	for _, b := range batches {
		res, err := t.srv.Do(compile.RunRequest{Cmd: "loss", Inputs: b})
		if err != nil {
			return fmt.Errorf("validation: %w", err)
		}
		sum += float64(*res.Loss)
	}
	v := sum / float64(len(batches))
	t.val[step] = v
	fmt.Fprintf(t.c.stdout, "step %6d  validation loss %.6f\n", step, v)
	return nil
}

// report prints what the model's users want after training: predictions on
// its example batch for the small models.
func (t *trainer) report() error {
	if !t.ds.fixed() {
		return nil
	}
	batch, err := t.ds.next()
	if err != nil {
		return err
	}
	res, err := t.srv.Do(compile.RunRequest{Cmd: "predict", Inputs: batch})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(res.Outputs))
	for k := range res.Outputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if len(res.Outputs[k].Data) > 64 {
			continue // too long to read; mlc run prints it
		}
		fmt.Fprintf(t.c.stdout, "%s %v = %v\n", k, graph.Shape(res.Outputs[k].Shape), floatsOf(res.Outputs[k]))
	}
	return nil
}

// save writes the checkpoint: parameters, optimizer state, the dropout
// generator, the data pipeline's position and the run's settings.
func (t *trainer) save(step int) error {
	res, err := t.srv.Do(compile.RunRequest{Cmd: "get"})
	if err != nil {
		return err
	}
	settings, err := json.Marshal(t.st)
	if err != nil {
		return err
	}
	ck := &safetensors.Checkpoint{
		Model: t.st.Model, Config: t.prog.Config, DType: t.st.DType, Version: compile.Version,
		Step:     int64(step),
		Params:   toSafetensors(res.Params, t.prog.Float),
		Optim:    toSafetensors(res.State, t.prog.Float),
		Metadata: map[string]string{"train.settings": string(settings), "train.rng": res.RNG, "train.data": t.ds.state()},
	}
	for k, v := range t.ds.meta() {
		ck.Metadata[k] = v
	}
	return safetensors.SaveCheckpoint(filepath.Join(t.ckpt, ckptFile), ck)
}

func toSafetensors(ts map[string]runtime.JSONTensor, dt graph.DType) []safetensors.Tensor {
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]safetensors.Tensor, 0, len(ts))
	for _, name := range names {
		j := ts[name]
		t := safetensors.Tensor{Name: name, Shape: append([]int{}, j.Shape...)}
		if dt == graph.F32 {
			t.DType = safetensors.F32
			for _, v := range j.Data {
				t.F32 = append(t.F32, float32(v))
			}
		} else {
			t.DType = safetensors.F64
			for _, v := range j.Data {
				t.F64 = append(t.F64, float64(v))
			}
		}
		out = append(out, t)
	}
	return out
}

func fromSafetensors(ts []safetensors.Tensor) map[string]runtime.JSONTensor {
	out := map[string]runtime.JSONTensor{}
	for _, t := range ts {
		j := runtime.JSONTensor{Shape: t.Shape, Data: []runtime.JSONFloat{}}
		for _, v := range t.F32 {
			j.Data = append(j.Data, runtime.JSONFloat(v))
		}
		for _, v := range t.F64 {
			j.Data = append(j.Data, runtime.JSONFloat(v))
		}
		out[t.Name] = j
	}
	return out
}

// loadTrainCheckpoint reads a training checkpoint and its settings.
func loadTrainCheckpoint(path string) (*safetensors.Checkpoint, trainSettings, error) {
	var st trainSettings
	ck, err := safetensors.LoadCheckpoint(path)
	if err != nil {
		return nil, st, err
	}
	raw, ok := ck.Metadata["train.settings"]
	if !ok {
		return nil, st, fmt.Errorf("%s: not an mlc training checkpoint (no train.settings metadata); use it with -params instead", path)
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, st, fmt.Errorf("%s: bad train.settings metadata: %v", path, err)
	}
	return ck, st, nil
}

// restore loads a checkpoint into the runner after checking it fits.
func restore(srv *compile.Server, prog *graph.Program, ds dataset, ck *safetensors.Checkpoint) error {
	dt := safetensors.F64
	if prog.Float == graph.F32 {
		dt = safetensors.F32
	}
	var params, state []safetensors.Spec
	for _, p := range prog.Train.Params() {
		params = append(params, safetensors.Spec{Name: p.Name, DType: dt, Shape: p.Type.Shape})
	}
	for _, s := range prog.Train.NodesWithOp(graph.OpState) {
		state = append(state, safetensors.Spec{Name: s.Name, DType: dt, Shape: s.Type.Shape})
	}
	if err := ck.Verify(prog.Name, params); err != nil {
		return err
	}
	if err := ck.VerifyOptim(state); err != nil {
		return err
	}
	if err := ds.restore(ck.Metadata["train.data"]); err != nil {
		return fmt.Errorf("%s: %w", ck.Source, err)
	}
	_, err := srv.Do(compile.RunRequest{Cmd: "set", Params: fromSafetensors(ck.Params), State: fromSafetensors(ck.Optim), RNG: ck.Metadata["train.rng"]})
	return err
}

// writeCurve appends this invocation's losses to loss.csv (a fresh run starts
// the file) and draws loss.png from the whole file.
func (t *trainer) writeCurve(start int) error {
	path := filepath.Join(t.ckpt, csvFile)
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if start > 0 {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if start == 0 {
		_ = w.Write([]string{"step", "loss", "val_loss"})
	}
	for i, l := range t.losses {
		v := ""
		if x, ok := t.val[start+i+1]; ok {
			v = strconv.FormatFloat(x, 'g', -1, 64)
		}
		_ = w.Write([]string{strconv.Itoa(start + i), strconv.FormatFloat(l, 'g', -1, 64), v})
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return err
	}
	return plotCurve(path, filepath.Join(t.ckpt, pngFile), t.st.Model)
}
