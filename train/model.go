package train

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// Model is what the loop trains.
type Model interface {
	// Train runs up to n training steps on one batch. It stops after the
	// first step whose loss or gradient norm is not finite; the result then
	// says so and holds that step's loss last.
	Train(batch data.Batch, n int) (Steps, error)
	// Loss is the loss on a batch in eval mode (no dropout), without
	// training.
	Loss(batch data.Batch) (float64, error)
	// Predict runs the model's Predict entry point.
	Predict(batch data.Batch) (map[string]runtime.JSONTensor, error)
	// Snapshot reads what a checkpoint holds; Restore puts it back.
	Snapshot() (*Snapshot, error)
	Restore(*Snapshot) error
}

// Steps is what Train reports.
type Steps struct {
	Losses   []float64
	GradNorm float64 // the global gradient norm of the last step
	// Diverged is set when the last step's loss or gradient norm is not
	// finite: the parameters are no longer usable.
	Diverged bool
	// Collective marks the steps of a data-parallel job: Stop then says
	// whether any rank was interrupted, and Run stops on it rather than on
	// its own context, so that every rank stops after the same step.
	Collective, Stop bool
	// Comm is the time these steps spent in all-reduces (waiting for the
	// other ranks included) and CommBytes the bytes one step all-reduces.
	Comm      time.Duration
	CommBytes int64
}

// Snapshot is a model's trainable state: parameters, optimizer state and
// the dropout generator's position.
type Snapshot struct {
	Params map[string]runtime.JSONTensor
	State  map[string]runtime.JSONTensor
	RNG    string
}

// Remote adapts a running generated model (compile.StartServer) to Model.
func Remote(srv *compile.Server) Model { return &remote{srv: srv} }

type remote struct {
	srv *compile.Server
	// lr is a rate SetLR gave that the runner has not received yet: it
	// travels with the next request instead of costing one of its own.
	lr *float64
}

// do sends a request, with a pending learning rate.
func (r *remote) do(req compile.RunRequest) (*compile.ServerResult, error) {
	if r.lr != nil {
		if req.State == nil {
			req.State = map[string]runtime.JSONTensor{}
		}
		if _, ok := req.State["hyper.lr"]; !ok {
			req.State["hyper.lr"] = runtime.JSONTensor{Shape: []int{}, Data: []runtime.JSONFloat{runtime.JSONFloat(*r.lr)}}
		}
		r.lr = nil
	}
	return r.srv.Do(req)
}

func (r *remote) Train(batch data.Batch, n int) (Steps, error) {
	res, err := r.do(compile.RunRequest{Cmd: "step", Inputs: batch, Steps: n, Check: true})
	if err != nil {
		return Steps{}, err
	}
	s := Steps{Losses: make([]float64, len(res.Losses)), Diverged: res.Diverged}
	for i, l := range res.Losses {
		s.Losses[i] = float64(l)
	}
	if res.GradNorm != nil {
		s.GradNorm = float64(*res.GradNorm)
	}
	return s, nil
}

// SetLR sets the runner's learning-rate variable "hyper.lr" (with the next
// request).
func (r *remote) SetLR(lr float64) error {
	r.lr = &lr
	return nil
}

func (r *remote) Loss(batch data.Batch) (float64, error) {
	res, err := r.do(compile.RunRequest{Cmd: "loss", Inputs: batch})
	if err != nil {
		return 0, err
	}
	return float64(*res.Loss), nil
}

func (r *remote) Predict(batch data.Batch) (map[string]runtime.JSONTensor, error) {
	res, err := r.do(compile.RunRequest{Cmd: "predict", Inputs: batch})
	if err != nil {
		return nil, err
	}
	return res.Outputs, nil
}

func (r *remote) Snapshot() (*Snapshot, error) {
	res, err := r.do(compile.RunRequest{Cmd: "get"})
	if err != nil {
		return nil, err
	}
	return &Snapshot{Params: res.Params, State: res.State, RNG: res.RNG}, nil
}

func (r *remote) Restore(s *Snapshot) error {
	r.lr = nil // the snapshot's rate wins
	_, err := r.srv.Do(compile.RunRequest{Cmd: "set", Params: s.Params, State: s.State, RNG: s.RNG})
	return err
}

// ToSafetensors converts named tensors to safetensors ones of the model's
// float dtype, sorted by name.
func ToSafetensors(ts map[string]runtime.JSONTensor, dt graph.DType) []safetensors.Tensor {
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

// FromSafetensors converts safetensors tensors to named tensors.
func FromSafetensors(ts []safetensors.Tensor) map[string]runtime.JSONTensor {
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

// Restore loads a checkpoint into m after checking that it fits prog, and
// moves ds to the checkpoint's position in the data.
func RestoreCheckpoint(m Model, prog *graph.Program, ds data.Dataset, ck *safetensors.Checkpoint) error {
	dt := safetensors.F64
	if prog.Float == graph.F32 {
		dt = safetensors.F32
	}
	var params, state []safetensors.Spec
	for _, p := range prog.Train.Params() {
		params = append(params, safetensors.Spec{Name: p.Name, DType: dt, Shape: p.Type.Shape})
	}
	have := map[string]bool{}
	for _, t := range ck.Optim {
		have[t.Name] = true
	}
	for _, s := range prog.Train.NodesWithOp(graph.OpState) {
		if strings.HasPrefix(s.Name, "hyper.") && !have[s.Name] {
			// A checkpoint from before this hyperparameter was a run-time
			// variable: the model keeps the value it was compiled with, which
			// is the run's (its settings are fixed on resume).
			continue
		}
		state = append(state, safetensors.Spec{Name: s.Name, DType: dt, Shape: s.Type.Shape})
	}
	if err := ck.Verify(prog.Name, params); err != nil {
		return err
	}
	if err := ck.VerifyOptim(state); err != nil {
		return err
	}
	if err := ds.Restore(ck.Metadata["train.data"]); err != nil {
		return fmt.Errorf("%s: %w", ck.Source, err)
	}
	return m.Restore(&Snapshot{Params: FromSafetensors(ck.Params), State: FromSafetensors(ck.Optim), RNG: ck.Metadata["train.rng"]})
}

// Resume loads the checkpoint in dir into m and moves ds to its position
// in the data; it returns the step to go on from and the run's settings.
// The checkpoint must hold exactly m's parameters and optimizer state (the
// Model checks names and sizes).
func Resume(dir string, m Model, ds data.Dataset) (int, Settings, error) {
	ck, st, err := LoadCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil {
		return 0, st, err
	}
	if err := ds.Restore(ck.Metadata["train.data"]); err != nil {
		return 0, st, fmt.Errorf("%s: %w", ck.Source, err)
	}
	if err := m.Restore(&Snapshot{Params: FromSafetensors(ck.Params), State: FromSafetensors(ck.Optim), RNG: ck.Metadata["train.rng"]}); err != nil {
		return 0, st, fmt.Errorf("%s: %w", ck.Source, err)
	}
	return int(ck.Step), st, nil
}
