package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// Options configure Run.
type Options struct {
	Settings Settings
	// Program is the compiled model, when the caller has it: checkpoints
	// then record its canonical config. Without it, Settings' Config and
	// DType are recorded.
	Program *graph.Program
	Data    data.Dataset
	Dir     *Dir // where checkpoints go (nil: nowhere)

	Start int // the step the run starts at (a resumed checkpoint's)
	Stop  int // stop after this many steps in all, as an interruption would (0: Settings.Steps)
	Log   int // steps between log lines
	Eval  int // steps between validation losses (0: none)

	// SaveEvery and SaveInterval save a checkpoint every so many steps and
	// every so much time (zero: never on that count); a run also saves at
	// its end and when interrupted.
	SaveEvery    int
	SaveInterval time.Duration

	// LR, when set, is a learning-rate schedule the loop runs: before
	// step k (from 0) it sets the model's rate to LR(k). The model must have
	// a run-time rate (a package compiled without a schedule: SetLR).
	LR func(step int) float64

	// Out gets log lines; Progress draws a progress line on it instead (a
	// terminal). Err gets warnings and the interruption notice.
	Out, Err io.Writer
	Progress bool
}

// ErrDiverged is the error of a run stopped by a loss or gradient norm
// that is not finite.
var ErrDiverged = errors.New("training diverged")

// Result is what a run did.
type Result struct {
	Step        int       // steps done in all
	Losses      []float64 // this run's training losses, from Start
	Interrupted bool
	Saved       int // the step of the last checkpoint written (-1: none)
}

// Run trains m from opts.Start until opts.Stop (or Settings.Steps) or until
// ctx is cancelled (an interruption: SIGINT, SIGTERM), saving checkpoints
// as Options say. A loss or gradient norm that is not finite stops it with
// ErrDiverged and keeps the last good checkpoint.
func Run(ctx context.Context, m Model, opts Options) (*Result, error) {
	st := opts.Settings
	stop := st.Steps
	if opts.Stop > 0 && opts.Stop < stop {
		stop = opts.Stop
	}
	log := max(opts.Log, 1)
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	errw := opts.Err
	if errw == nil {
		errw = io.Discard
	}
	r := &runner{m: m, opts: opts, out: out, err: errw, val: map[int]float64{}}
	setLR, ok := m.(interface{ SetLR(float64) error })
	if opts.LR != nil && !ok {
		return nil, fmt.Errorf("the model has no run-time learning rate for Options.LR (compile it without a schedule)")
	}
	res := &Result{Step: opts.Start, Saved: -1}

	var bar *progress
	if opts.Progress {
		bar = newProgress(out, opts.Start, st.Steps)
		r.out = bar // validation lines clear the progress line first
	}
	how := "" // the optimizer, when the settings say (a library caller's compiled package knows its own)
	if st.Optimizer.Kind != "" {
		how = fmt.Sprintf(" (%s, lr %g)", st.Optimizer.Kind, st.Optimizer.LR)
	}
	fmt.Fprintf(out, "training %s for %d steps%s from step %d\n", st.Model, st.Steps, how, opts.Start)
	began := time.Now()
	lastSave, lastSaveStep := began, opts.Start
	step := opts.Start
	var comm time.Duration // in all-reduces (data-parallel steps)
	var commBytes int64
	for step < stop {
		// A fixed batch trains in chunks inside the model; data batches go
		// one by one.
		n := 1
		if opts.Data.Fixed() && opts.LR == nil {
			n = min(stop-step, log-step%log)
			if opts.SaveEvery > 0 {
				n = min(n, opts.SaveEvery-(step-lastSaveStep))
			}
		}
		batch, err := opts.Data.Next()
		if err != nil {
			return res, err
		}
		if opts.LR != nil {
			if err := setLR.SetLR(opts.LR(step)); err != nil {
				return res, fmt.Errorf("step %d: %w", step, err)
			}
		}
		s, err := m.Train(batch, n)
		if err != nil {
			return res, fmt.Errorf("step %d: %w", step, err)
		}
		comm += s.Comm
		commBytes = s.CommBytes
		for i, l := range s.Losses {
			res.Losses = append(res.Losses, l)
			if (step+i)%log == 0 && bar == nil && !s.Diverged {
				rate := float64(step+i-opts.Start+1) / time.Since(began).Seconds()
				fmt.Fprintf(out, "step %6d  loss %.10f  (%.0f steps/s)\n", step+i, l, rate)
			}
		}
		if s.Diverged {
			bad := step + len(s.Losses) - 1
			if bar != nil {
				bar.clear()
			}
			return res, r.diverged(bad, s, res.Saved)
		}
		step += len(s.Losses)
		res.Step = step
		if bar != nil {
			bar.update(step, res.Losses[len(res.Losses)-1])
		}
		if err := r.maybeEval(step, stop); err != nil {
			return res, err
		}
		interrupted := ctx.Err() != nil
		if s.Collective {
			interrupted = s.Stop
		}
		if interrupted {
			fmt.Fprintf(errw, "\ninterrupted after step %d\n", step)
			res.Interrupted = true
			break
		}
		due := opts.SaveEvery > 0 && step-lastSaveStep >= opts.SaveEvery ||
			opts.SaveInterval > 0 && time.Since(lastSave) >= opts.SaveInterval
		if due && step < stop && opts.Dir != nil {
			if err := r.save(step, res); err != nil {
				return res, err
			}
			lastSave, lastSaveStep = time.Now(), step
		}
	}
	if bar != nil {
		bar.clear()
	}
	elapsed := time.Since(began)
	if step > opts.Start {
		n := float64(step - opts.Start)
		fmt.Fprintf(out, "step %6d  loss %.10f  (%d steps in %.2fs, %.0f steps/s)\n", step-1, res.Losses[len(res.Losses)-1], step-opts.Start, elapsed.Seconds(), n/elapsed.Seconds())
		if commBytes > 0 {
			fmt.Fprintf(out, "%.1f ms per step, of which %.2f ms in all-reduces of %d bytes per step (rank 0's view, waiting for the other ranks included)\n",
				elapsed.Seconds()*1e3/n, comm.Seconds()*1e3/n, commBytes)
		}
	}
	if opts.Dir == nil {
		if res.Interrupted {
			fmt.Fprintln(errw, "no -ckpt directory: nothing saved")
		}
		return res, nil
	}
	if err := r.save(step, res); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "saved %s after step %d\n", filepath.Join(opts.Dir.Path, CheckpointFile), step)
	return res, nil
}

type runner struct {
	m        Model
	opts     Options
	out, err io.Writer
	val      map[int]float64 // validation losses by step
	wrote    bool            // the data's files are saved
}

// diverged explains a divergence: where, what, the text's advice, and
// which checkpoint is left.
func (r *runner) diverged(step int, s Steps, saved int) error {
	what := fmt.Sprintf("the loss is %v", s.Losses[len(s.Losses)-1])
	if l := s.Losses[len(s.Losses)-1]; finite(l) {
		what = fmt.Sprintf("the gradient norm is %v", s.GradNorm)
	}
	kept := "no checkpoint was written"
	if r.opts.Dir != nil {
		kept = "nothing of this run was saved"
		if saved >= 0 {
			kept = fmt.Sprintf("the last good checkpoint (after step %d) is kept in %s", saved, r.opts.Dir.Path)
		} else if r.opts.Start > 0 {
			kept = fmt.Sprintf("the checkpoint it resumed from (after step %d) is kept in %s", r.opts.Start, r.opts.Dir.Path)
		}
	}
	return fmt.Errorf("%w at step %d: %s; lower the learning rate (-lr), warm it up (-warmup N) or clip gradients (-clip 1); %s", ErrDiverged, step, what, kept)
}

// maybeEval computes the validation loss every Eval steps and at the end.
func (r *runner) maybeEval(step, stop int) error {
	every := r.opts.Eval
	if every == 0 || step%every != 0 && step != r.opts.Settings.Steps {
		return nil
	}
	batches := r.opts.Data.Validation()
	if len(batches) == 0 {
		return nil
	}
	sum := 0.0
	for _, b := range batches {
		l, err := r.m.Loss(b)
		if err != nil {
			return fmt.Errorf("validation: %w", err)
		}
		sum += l
	}
	v := sum / float64(len(batches))
	r.val[step] = v
	fmt.Fprintf(r.out, "step %6d  validation loss %.6f\n", step, v)
	if sc, ok := r.opts.Data.(data.Scorer); ok {
		return score(r.out, r.m, sc, batches, step)
	}
	return nil
}

// score prints a dataset's own score on the validation batches.
func score(out io.Writer, m Model, sc data.Scorer, batches []data.Batch, step int) error {
	correct, total := 0, 0
	for _, b := range batches {
		outs, err := m.Predict(b)
		if err != nil {
			return fmt.Errorf("validation: %w", err)
		}
		c, n, err := sc.Score(b, outs)
		if err != nil {
			return fmt.Errorf("validation: %w", err)
		}
		correct, total = correct+c, total+n
	}
	fmt.Fprintf(out, "step %6d  validation %s %.2f%% (%d/%d)\n", step, sc.ScoreName(), 100*float64(correct)/float64(max(total, 1)), correct, total)
	return nil
}

// save writes, in this order, the data's files (once), loss.csv up to step
// and the checkpoint, each with write-then-rename: a kill at any moment
// leaves a loadable checkpoint whose loss.csv holds at least its rows (a
// resume drops any beyond it), and a tokenizer that matches it.
func (r *runner) save(step int, res *Result) error {
	d := r.opts.Dir
	if !r.wrote {
		if err := d.saveFiles(r.opts.Data.Files()); err != nil {
			return err
		}
		r.wrote = true
	}
	var rows [][]string
	for i, l := range res.Losses[:step-r.opts.Start] {
		v := ""
		if x, ok := r.val[r.opts.Start+i+1]; ok {
			v = strconv.FormatFloat(x, 'g', -1, 64)
		}
		rows = append(rows, []string{strconv.Itoa(r.opts.Start + i), strconv.FormatFloat(l, 'g', -1, 64), v})
	}
	if err := d.saveCSV(rows); err != nil {
		return err
	}
	snap, err := r.m.Snapshot()
	if err != nil {
		return err
	}
	st := r.opts.Settings
	settings, err := json.Marshal(st)
	if err != nil {
		return err
	}
	config, float := st.Config, graph.F64
	if st.DType == "f32" {
		float = graph.F32
	}
	if prog := r.opts.Program; prog != nil {
		config, float = prog.Config, prog.Float
	}
	ck := &safetensors.Checkpoint{
		Model: st.Model, Config: config, DType: st.DType, Version: compile.Version,
		Step:     int64(step),
		Params:   ToSafetensors(snap.Params, float),
		Optim:    ToSafetensors(snap.State, float),
		Metadata: map[string]string{"train.settings": string(settings), "train.rng": snap.RNG, "train.data": r.opts.Data.State()},
	}
	for k, v := range r.opts.Data.Meta() {
		ck.Metadata[k] = v
	}
	if err := safetensors.SaveCheckpoint(filepath.Join(d.Path, CheckpointFile), ck); err != nil {
		return err
	}
	res.Saved = step
	// The plot is a view of loss.csv: failing to draw it loses nothing.
	if err := PlotCurve(filepath.Join(d.Path, CSVFile), filepath.Join(d.Path, PlotFile), st.Model); err != nil {
		fmt.Fprintln(r.err, "warning: loss plot:", err)
	}
	return nil
}

// WarmupCosine is the schedule mlc compiles with -warmup and -steps, as a
// function for Options.LR: a linear warmup to peak over warmup steps, then
// a cosine decay to min at step steps, and min after.
func WarmupCosine(peak, min float64, warmup, steps int) func(step int) float64 {
	return func(step int) float64 { return runtime.LRAt(float64(step+1), peak, warmup, steps, min) }
}
