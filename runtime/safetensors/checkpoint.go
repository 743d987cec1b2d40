package safetensors

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Metadata keys of an mlc checkpoint. All are optional on reading, so that
// weights written by other tools load too.
const (
	KeyFormat  = "mlc.format"  // Format; marks the file as an mlc checkpoint
	KeyModel   = "mlc.model"   // model name, e.g. "xor"
	KeyConfig  = "mlc.config"  // canonical config, e.g. "hidden=4,layers=2"
	KeyDType   = "mlc.dtype"   // compute dtype the model was compiled for, e.g. "f32"
	KeyVersion = "mlc.version" // version of mlc that wrote the file
)

// Format is the value of KeyFormat that this package writes and reads.
// Change it when the layout changes incompatibly.
const Format = "mlc-checkpoint/1"

// OptimPrefix starts the file names of optimizer state tensors, so that they
// can never collide with parameter names from the DSL.
const OptimPrefix = "optim/"

// StepTensor is the file name of the optimizer step count: an F64 scalar,
// exact for any count up to 2⁵³, as optimizers use it in float arithmetic.
const StepTensor = OptimPrefix + "step"

// maxStep is the largest count an F64 holds exactly.
const maxStep = 1 << 53

// Spec is what a model expects of one tensor.
type Spec struct {
	Name  string
	DType string // F32, F64 or I32
	Shape []int
}

// Checkpoint is a model's training state as stored in a safetensors file.
type Checkpoint struct {
	// Source is the file the checkpoint was read from; errors name it.
	Source string

	Model   string // KeyModel
	Config  string // KeyConfig
	DType   string // KeyDType
	Version string // KeyVersion

	// Step counts optimizer steps taken; it is stored when non-zero or when
	// there is optimizer state.
	Step int64
	// Params holds the parameters under their DSL names.
	Params []Tensor
	// Optim holds the optimizer state, named without OptimPrefix ("W1.m").
	Optim []Tensor
	// Metadata holds any metadata besides the mlc.* keys above.
	Metadata map[string]string
}

// HasOptim reports whether the checkpoint carries optimizer state, as a
// training checkpoint does and weights from another tool do not.
func (c *Checkpoint) HasOptim() bool {
	return len(c.Optim) > 0
}

// Param returns the parameter called name, if there is one.
func (c *Checkpoint) Param(name string) (*Tensor, bool) {
	i := slices.IndexFunc(c.Params, func(t Tensor) bool { return t.Name == name })
	if i < 0 {
		return nil, false
	}
	return &c.Params[i], true
}

// File lays the checkpoint out as safetensors content. The tensors share
// their data with c.
func (c *Checkpoint) File() (*File, error) {
	f := &File{Metadata: map[string]string{KeyFormat: Format}}
	for k, v := range c.Metadata {
		if strings.HasPrefix(k, "mlc.") {
			return nil, fmt.Errorf("metadata key %q is reserved for mlc", k)
		}
		f.Metadata[k] = v
	}
	for k, v := range map[string]string{KeyModel: c.Model, KeyConfig: c.Config, KeyDType: c.DType, KeyVersion: c.Version} {
		if v != "" {
			f.Metadata[k] = v
		}
	}
	for _, p := range c.Params {
		if strings.HasPrefix(p.Name, OptimPrefix) {
			return nil, fmt.Errorf("parameter %q uses the optimizer state prefix %q", p.Name, OptimPrefix)
		}
		f.Tensors = append(f.Tensors, p)
	}
	for _, s := range c.Optim {
		s.Name = OptimPrefix + s.Name
		if s.Name == StepTensor {
			return nil, fmt.Errorf("optimizer state %q is reserved for the step count", s.Name)
		}
		f.Tensors = append(f.Tensors, s)
	}
	if c.Step < 0 || c.Step > maxStep {
		return nil, fmt.Errorf("step %d is outside [0, 2^53]", c.Step)
	}
	if c.Step != 0 || len(c.Optim) > 0 {
		f.Tensors = append(f.Tensors, Tensor{Name: StepTensor, DType: F64, Shape: []int{}, F64: []float64{float64(c.Step)}})
	}
	return f, nil
}

// FromFile interprets safetensors content as a checkpoint; source names the
// file in errors. Tensors outside OptimPrefix are parameters, so a file of
// plain weights gives a checkpoint with no optimizer state. The checkpoint
// takes over f's tensor data.
func FromFile(f *File, source string) (*Checkpoint, error) {
	c := &Checkpoint{Source: source}
	if v, ok := f.Metadata[KeyFormat]; ok && v != Format {
		return nil, fmt.Errorf("%s: checkpoint format %q, this mlc reads %q", source, v, Format)
	}
	for k, v := range f.Metadata {
		switch k {
		case KeyFormat:
		case KeyModel:
			c.Model = v
		case KeyConfig:
			c.Config = v
		case KeyDType:
			c.DType = v
		case KeyVersion:
			c.Version = v
		default:
			if c.Metadata == nil {
				c.Metadata = map[string]string{}
			}
			c.Metadata[k] = v
		}
	}
	for _, t := range f.Tensors {
		switch {
		case t.Name == StepTensor:
			step, err := parseStep(&t)
			if err != nil {
				return nil, fmt.Errorf("%s: tensor %q: %w", source, t.Name, err)
			}
			c.Step = step
		case strings.HasPrefix(t.Name, OptimPrefix):
			t.Name = strings.TrimPrefix(t.Name, OptimPrefix)
			c.Optim = append(c.Optim, t)
		default:
			c.Params = append(c.Params, t)
		}
	}
	return c, nil
}

func parseStep(t *Tensor) (int64, error) {
	if t.DType != F64 || len(t.Shape) != 0 {
		return 0, fmt.Errorf("%s%s, want an F64 scalar", t.DType, formatShape(t.Shape))
	}
	v := t.F64[0]
	if v < 0 || v > maxStep || v != math.Trunc(v) {
		return 0, fmt.Errorf("step %v is not a whole number in [0, 2^53]", v)
	}
	return int64(v), nil
}

// SaveCheckpoint writes c to path with WriteFileAtomic.
func SaveCheckpoint(path string, c *Checkpoint) error {
	f, err := c.File()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFileAtomic(path, f)
}

// LoadCheckpoint reads the checkpoint or plain weights file at path. It
// checks the file's structure; Verify checks it against a model.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return FromFile(f, path)
}

// Verify checks that the checkpoint holds exactly the parameters params, with
// their dtypes and shapes, and was written for model (when both it and the
// file name a model). The error names the first mismatch: the model, then
// each spec in order, then any parameter the model does not have.
func (c *Checkpoint) Verify(model string, params []Spec) error {
	if model != "" && c.Model != "" && model != c.Model {
		return fmt.Errorf("%s: written for model %q, this is %q", c.source(), c.Model, model)
	}
	return verifyTensors(c.source(), "", "a parameter", c.Params, params)
}

// VerifyOptim checks that the checkpoint holds exactly the optimizer state
// state (names without OptimPrefix), as resuming training needs.
func (c *Checkpoint) VerifyOptim(state []Spec) error {
	if !c.HasOptim() && len(state) > 0 {
		return fmt.Errorf("%s: holds no optimizer state (weights only), this optimizer needs %d tensors", c.source(), len(state))
	}
	return verifyTensors(c.source(), OptimPrefix, "optimizer state", c.Optim, state)
}

func (c *Checkpoint) source() string {
	if c.Source == "" {
		return "checkpoint"
	}
	return c.Source
}

// verifyTensors compares have with want; prefix is prepended to names in
// messages so that they read as in the file.
func verifyTensors(source, prefix, kind string, have []Tensor, want []Spec) error {
	byName := make(map[string]*Tensor, len(have))
	for i := range have {
		byName[have[i].Name] = &have[i]
	}
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w.Name] = true
		t, ok := byName[w.Name]
		switch {
		case !ok:
			return fmt.Errorf("%s: missing tensor %s", source, quote(prefix+w.Name))
		case t.DType != w.DType:
			return fmt.Errorf("%s: tensor %s: dtype %s, model wants %s", source, quote(prefix+w.Name), t.DType, w.DType)
		case !slices.Equal(t.Shape, w.Shape):
			return fmt.Errorf("%s: tensor %s: shape %s, model wants %s", source, quote(prefix+w.Name), formatShape(t.Shape), formatShape(w.Shape))
		}
	}
	for _, t := range have {
		if !wanted[t.Name] {
			return fmt.Errorf("%s: unexpected tensor %s: not %s of this model", source, quote(prefix+t.Name), kind)
		}
	}
	return nil
}
