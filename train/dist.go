package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/dist"
	"github.com/mlc-dev/mlc/graph"
)

// Data-parallel training (mlc train -dist mpi under mpirun). The mlc
// process of each rank does not call MPI: its runner child (built by
// compile.BuildDistRunner) inherits mpirun's environment and is the MPI
// process. mlc reads its rank from that environment (dist.Launched) to
// take its share of the data and to leave checkpoints and logs to rank 0;
// the runner averages the gradients over the ranks in every step.

// Job is this process's place in a data-parallel job.
type Job struct {
	Rank, Size int
}

// Dist is what a run asks for with -dist: "" (one process) or "mpi".
// It returns the job, or a one-line error when the request and the way
// the process was started disagree.
func Dist(mode string) (Job, error) {
	rank, size, launched := dist.Launched()
	switch mode {
	case "":
		if launched && size > 1 {
			return Job{}, fmt.Errorf("started by mpirun as rank %d of %d without -dist mpi: every rank would train its own model; give -dist mpi", rank, size)
		}
		return Job{0, 1}, nil
	case "mpi":
		if !dist.Built() {
			return Job{}, fmt.Errorf("-dist mpi: this mlc was built without MPI: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) and build mlc with go build -tags mpi ./cmd/mlc")
		}
		if !launched {
			return Job{}, fmt.Errorf("-dist mpi: this process was not started by mpirun (no OMPI_COMM_WORLD_RANK/SIZE): run mpirun -np N mlc train ... -dist mpi")
		}
		return Job{rank, size}, nil
	}
	return Job{}, fmt.Errorf("-dist takes mpi (or nothing for one process), got %q", mode)
}

// Parallel reports whether the job has several ranks.
func (j Job) Parallel() bool { return j.Size > 1 }

// BuildRunner builds prog's runner for the job: the data-parallel one
// when it has several ranks.
func (j Job) BuildRunner(prog *graph.Program) (string, error) {
	if j.Size > 1 {
		return compile.BuildDistRunner(prog)
	}
	return compile.BuildRunner(prog)
}

// ResumeNote says, when a checkpoint was trained by another number of
// ranks than the job resuming it, how the global batch changes ("": no
// change). Resuming that way is allowed: the data goes on from the same
// position, with the new global batch.
func (j Job) ResumeNote(ck map[string]string, batch int) string {
	was := 1
	if v, err := strconv.Atoi(ck[data.RanksKey]); err == nil && v > 0 {
		was = v
	}
	if was == j.Size {
		return ""
	}
	if batch <= 0 {
		return fmt.Sprintf("note: the checkpoint was trained by %d rank(s), this run has %d: the global batch changes by %d/%d", was, j.Size, j.Size, was)
	}
	return fmt.Sprintf("note: the checkpoint was trained by %d rank(s), this run has %d: the global batch changes from %d to %d examples per step", was, j.Size, was*batch, j.Size*batch)
}

// Parts are what every rank must agree on before the first step: the
// model (the generated code's content hash, which the runner's cache path
// holds, and the program's canonical config), the run's settings (without
// the data's path, which may differ between hosts) with the steps it runs
// (from start to stop: ranks that disagree would wait for each other's
// last step) and the data (its content and position, data.Fingerprint).
func Parts(runner string, prog *graph.Program, st Settings, start, stop int, ds data.Dataset) ([]compile.DistPart, error) {
	st.Data = ""
	settings, err := json.Marshal(struct {
		Settings
		Start, Stop int
	}{st, start, stop})
	if err != nil {
		return nil, err
	}
	return []compile.DistPart{
		{Name: "model", Data: prog.Name + " " + prog.Config + " " + prog.Float.String() + " " + compile.Version + " " + filepath.Base(filepath.Dir(runner))},
		{Name: "config", Data: string(settings)},
		{Name: "data", Data: data.Fingerprint(ds)},
	}, nil
}

// StartRanks runs the runner's start-up collective: the consistency check
// of parts over the ranks (an error names the ranks and parts that
// differ), then rank 0's parameters, optimizer state and dropout state
// broadcast to every rank. Call it on every rank after any restore and
// before the first step.
func StartRanks(srv *compile.Server, parts []compile.DistPart) error {
	if _, err := srv.Do(compile.RunRequest{Cmd: "dist", Parts: parts}); err != nil {
		// The runner's message is dist's own ("dist: ranks disagree: …").
		return errors.New(strings.TrimPrefix(err.Error(), "generated code: "))
	}
	return nil
}

// RemoteRanks adapts a data-parallel runner to Model: each Train request
// carries whether ctx is done on this rank, and the Steps' Stop whether it
// was on any rank, which Run then takes as the interruption, so that every
// rank stops after the same step.
func RemoteRanks(srv *compile.Server, ctx context.Context) Model {
	return &remoteRanks{remote{srv: srv}, ctx}
}

type remoteRanks struct {
	remote
	ctx context.Context
}

func (r *remoteRanks) Train(batch data.Batch, n int) (Steps, error) {
	res, err := r.do(compile.RunRequest{Cmd: "step", Inputs: batch, Steps: n, Check: true, Stop: r.ctx.Err() != nil})
	if err != nil {
		return Steps{}, err
	}
	s := Steps{Losses: make([]float64, len(res.Losses)), Diverged: res.Diverged, Stop: res.Stop, Collective: true,
		Comm: time.Duration(res.CommNs), CommBytes: res.CommBytes}
	for i, l := range res.Losses {
		s.Losses[i] = float64(l)
	}
	if res.GradNorm != nil {
		s.GradNorm = float64(*res.GradNorm)
	}
	return s, nil
}
