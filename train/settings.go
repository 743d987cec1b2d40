// Package train is mlc's training loop as a library: schedules (compiled
// into the model's update), evaluation, checkpoints that survive kills and
// resume bit for bit, the loss CSV and plot, progress, divergence detection
// and periodic saves. It trains any Model: a generated package run by mlc
// (Remote), or one of your own behind the same interface.
package train

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// Settings are what a run was started with; a checkpoint records them (as
// the train.settings metadata) so that a resumed run continues exactly the
// same run.
type Settings struct {
	Model     string                 `json:"model"`
	Source    string                 `json:"source,omitempty"` // the -model of a source outside the zoo (a package path)
	Config    string                 `json:"config"`
	DType     string                 `json:"dtype"`
	Optimizer passes.OptimizerConfig `json:"optimizer"`
	L2        float64                `json:"l2,omitempty"`
	Steps     int                    `json:"steps"`
	Seed      uint64                 `json:"seed"`
	Data      string                 `json:"data,omitempty"`
	// Precision "bf16" trains with bf16 mixed precision's rounding points
	// (compile.Options.Precision); "" is the model's float dtype throughout.
	Precision string `json:"precision,omitempty"`
}

// Check validates the settings' numbers: what a run cannot start with.
func (s Settings) Check() error {
	o := s.Optimizer
	switch {
	case s.Steps < 1:
		return fmt.Errorf("-steps must be at least 1, got %d", s.Steps)
	case !finite(o.LR) || o.LR <= 0:
		return fmt.Errorf("-lr must be a positive number, got %v", o.LR)
	case !finite(o.LRMin) || o.LRMin < 0:
		return fmt.Errorf("-lr-min must be a number ≥ 0, got %v", o.LRMin)
	case !finite(o.WD) || o.WD < 0:
		return fmt.Errorf("-wd must be a number ≥ 0, got %v", o.WD)
	case !finite(o.Clip) || o.Clip < 0:
		return fmt.Errorf("-clip must be a number ≥ 0 (0: no clipping), got %v", o.Clip)
	case !finite(o.Eps) || o.Eps < 0:
		return fmt.Errorf("-eps must be a number ≥ 0, got %v", o.Eps)
	case !finite(s.L2) || s.L2 < 0:
		return fmt.Errorf("-l2 must be a number ≥ 0, got %v", s.L2)
	case o.Warmup < 0:
		return fmt.Errorf("-warmup must not be negative, got %d", o.Warmup)
	}
	return nil
}

// Schedule completes a new run's learning-rate schedule from what the
// caller chose: cosine asks for a cosine decay; ownWarmup is the model's
// own warmup, which applies (with a decay to a tenth of the rate) only
// when the caller chose none of optimizer, rate or schedule (chosen
// false). With a warmup or a cosine the decay ends at the run's last step;
// a warmup as long as the run shrinks to a tenth of it.
func (s *Settings) Schedule(cosine bool, ownWarmup int, chosen bool) {
	o := &s.Optimizer
	if !chosen && !cosine && o.Warmup == 0 && ownWarmup > 0 {
		o.Warmup, o.LRMin = ownWarmup, o.LR/10
	}
	if o.Warmup > 0 || cosine {
		o.Steps = s.Steps
	}
	if o.Steps > 0 && o.Steps <= o.Warmup {
		o.Warmup = o.Steps / 10
	}
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Horizon moves the run's end to steps: with a schedule, the cosine decay
// now ends at steps, so step k of the continued run takes the rate a run
// started with -steps steps would take at step k. It fails when steps is not
// past the checkpoint's step (nothing would be trained) or not past the
// warmup.
func (s *Settings) Horizon(steps, done int) error {
	if steps <= done {
		return fmt.Errorf("-steps %d: the checkpoint is already at step %d; give a larger -steps to train on", steps, done)
	}
	if s.Optimizer.Steps > 0 && steps <= s.Optimizer.Warmup {
		return fmt.Errorf("-steps %d must exceed the run's warmup of %d steps", steps, s.Optimizer.Warmup)
	}
	s.Steps = steps
	if s.Optimizer.Steps > 0 {
		s.Optimizer.Steps = steps
	}
	return nil
}

// FixedOnResume are the flags whose values a checkpoint fixes: giving one
// with -resume is an error, not silently ignored.
var FixedOnResume = []string{"model", "config", "dtype", "opt", "lr", "wd", "clip", "beta1", "beta2", "eps", "warmup", "lr-min", "cosine", "l2", "seed", "data", "batch", "params", "force", "loss", "loss-output", "func", "precision"}

// LoadCheckpoint reads a training checkpoint and its settings.
func LoadCheckpoint(path string) (*safetensors.Checkpoint, Settings, error) {
	var st Settings
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
