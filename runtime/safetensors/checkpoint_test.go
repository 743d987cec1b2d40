package safetensors

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// xorCheckpoint is a training checkpoint of the 2-4-1 XOR network.
func xorCheckpoint() *Checkpoint {
	return &Checkpoint{
		Model:   "xor",
		Config:  "hidden=4",
		DType:   "f64",
		Version: "v0.1.0",
		Step:    1234,
		Params: []Tensor{
			{Name: "W1", DType: F64, Shape: []int{2, 4}, F64: []float64{1, 2, 3, 4, 5, 6, 7, 8}},
			{Name: "b1", DType: F64, Shape: []int{1, 4}, F64: []float64{0.1, 0.2, 0.3, 0.4}},
			{Name: "W2", DType: F64, Shape: []int{4, 1}, F64: []float64{-1, -2, -3, -4}},
			{Name: "b2", DType: F64, Shape: []int{1, 1}, F64: []float64{0.5}},
		},
		Optim: []Tensor{
			{Name: "W1.m", DType: F64, Shape: []int{2, 4}, F64: make([]float64, 8)},
			{Name: "W1.v", DType: F64, Shape: []int{2, 4}, F64: make([]float64, 8)},
		},
		Metadata: map[string]string{"run": "nightly"},
	}
}

func xorSpecs() []Spec {
	return []Spec{
		{Name: "W1", DType: F64, Shape: []int{2, 4}},
		{Name: "b1", DType: F64, Shape: []int{1, 4}},
		{Name: "W2", DType: F64, Shape: []int{4, 1}},
		{Name: "b2", DType: F64, Shape: []int{1, 1}},
	}
}

func specsOf(ts []Tensor) []Spec {
	var out []Spec
	for i := range ts {
		out = append(out, ts[i].Spec())
	}
	return out
}

func TestCheckpointRoundTrip(t *testing.T) {
	want := xorCheckpoint()
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := SaveCheckpoint(path, want); err != nil {
		t.Fatal(err)
	}

	// The file's own layout: names, prefix and metadata as documented.
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"W1", "b2", "optim/W1.m", "optim/W1.v", "optim/step"} {
		if _, ok := f.Lookup(name); !ok {
			t.Errorf("file lacks tensor %q", name)
		}
	}
	wantMeta := map[string]string{
		"mlc.format": Format, "mlc.model": "xor", "mlc.config": "hidden=4",
		"mlc.dtype": "f64", "mlc.version": "v0.1.0", "run": "nightly",
	}
	if !maps.Equal(f.Metadata, wantMeta) {
		t.Errorf("metadata %v, want %v", f.Metadata, wantMeta)
	}

	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != path || got.Model != want.Model || got.Config != want.Config || got.DType != want.DType ||
		got.Version != want.Version || got.Step != want.Step || !maps.Equal(got.Metadata, want.Metadata) {
		t.Errorf("got %+v", got)
	}
	if d := diffFiles(&File{Tensors: want.Params}, &File{Tensors: got.Params}); d != "" {
		t.Errorf("params: %s", d)
	}
	if d := diffFiles(&File{Tensors: want.Optim}, &File{Tensors: got.Optim}); d != "" {
		t.Errorf("optimizer state: %s", d)
	}
	if err := got.Verify("xor", xorSpecs()); err != nil {
		t.Error(err)
	}
	if err := got.VerifyOptim(specsOf(want.Optim)); err != nil {
		t.Error(err)
	}
}

// Weights from another tool: no mlc metadata, no optimizer state.
func TestWeightsOnlyFileLoads(t *testing.T) {
	path := filepath.Join("testdata", "tiny_f32.safetensors")
	c, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.HasOptim() || c.Step != 0 || c.Model != "" || len(c.Params) != 1 {
		t.Fatalf("got %+v", c)
	}
	if err := c.Verify("xor", []Spec{{Name: "weight", DType: F32, Shape: []int{2, 2}}}); err != nil {
		t.Fatal(err)
	}
	if w, ok := c.Param("weight"); !ok || w.F32[3] != 3.25 {
		t.Fatalf("weight = %+v", w)
	}
	checkErr(t, c.VerifyOptim([]Spec{{Name: "weight.m", DType: F32, Shape: []int{2, 2}}}), path, "holds no optimizer state (weights only)")
}

func TestVerify(t *testing.T) {
	specs := func(edit func([]Spec) []Spec) []Spec { return edit(xorSpecs()) }
	tests := []struct {
		name  string
		model string
		want  []Spec
		err   string // "" for success
	}{
		{"match", "xor", xorSpecs(), ""},
		{"model unnamed by caller", "", xorSpecs(), ""},
		{"other model", "gpt", xorSpecs(), `ckpt.safetensors: written for model "xor", this is "gpt"`},
		{"missing", "xor", specs(func(s []Spec) []Spec { return append(s, Spec{Name: "b3", DType: F64, Shape: []int{1}}) }),
			`ckpt.safetensors: missing tensor "b3"`},
		{"shape", "xor", specs(func(s []Spec) []Spec { s[0].Shape = []int{4, 2}; return s }),
			`ckpt.safetensors: tensor "W1": shape [2,4], model wants [4,2]`},
		{"dtype", "xor", specs(func(s []Spec) []Spec { s[1].DType = F32; return s }),
			`ckpt.safetensors: tensor "b1": dtype F64, model wants F32`},
		{"first of two mismatches", "xor", specs(func(s []Spec) []Spec { s[3].Shape = []int{1}; s[2].Shape = []int{1}; return s }),
			`ckpt.safetensors: tensor "W2": shape [4,1], model wants [1]`},
		{"unexpected", "xor", specs(func(s []Spec) []Spec { return s[:3] }),
			`ckpt.safetensors: unexpected tensor "b2": not a parameter of this model`},
	}
	c := xorCheckpoint()
	c.Source = "ckpt.safetensors"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Verify(tt.model, tt.want)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Fatalf("error %v\nwant    %s", err, tt.err)
			}
		})
	}
}

func TestVerifyOptim(t *testing.T) {
	c := xorCheckpoint()
	c.Source = "ckpt.safetensors"
	want := []Spec{{Name: "W1.m", DType: F64, Shape: []int{2, 4}}, {Name: "W1.v", DType: F64, Shape: []int{2, 4}}, {Name: "b1.m", DType: F64, Shape: []int{1, 4}}}
	err := c.VerifyOptim(want)
	if err == nil || err.Error() != `ckpt.safetensors: missing tensor "optim/b1.m"` {
		t.Fatalf("error %v", err)
	}
	err = c.VerifyOptim(want[:1])
	if err == nil || err.Error() != `ckpt.safetensors: unexpected tensor "optim/W1.v": not optimizer state of this model` {
		t.Fatalf("error %v", err)
	}
}

func TestCheckpointFileRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Checkpoint)
		want string
	}{
		{"param under optim/", func(c *Checkpoint) { c.Params[0].Name = "optim/W1" }, `parameter "optim/W1" uses the optimizer state prefix`},
		{"optim named step", func(c *Checkpoint) { c.Optim[0].Name = "step" }, `"optim/step" is reserved`},
		{"reserved metadata", func(c *Checkpoint) { c.Metadata["mlc.model"] = "x" }, `metadata key "mlc.model" is reserved`},
		{"negative step", func(c *Checkpoint) { c.Step = -1 }, "step -1 is outside"},
		{"bad tensor", func(c *Checkpoint) { c.Params[0].F64 = nil }, `tensor "W1": shape [2,4] needs 8 F64 values, has 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := xorCheckpoint()
			tt.edit(c)
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			checkErr(t, SaveCheckpoint(path, c), path, tt.want)
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a failed save created the file (stat: %v)", err)
			}
		})
	}
}

func TestFromFileRejects(t *testing.T) {
	step := func(tt Tensor) *File {
		tt.Name = StepTensor
		return &File{Tensors: []Tensor{tt}}
	}
	tests := []struct {
		name string
		f    *File
		want string
	}{
		{"newer format", &File{Metadata: map[string]string{KeyFormat: "mlc-checkpoint/2"}}, `checkpoint format "mlc-checkpoint/2", this mlc reads "mlc-checkpoint/1"`},
		{"step not F64", step(Tensor{DType: I32, Shape: []int{}, I32: []int32{3}}), "I32[], want an F64 scalar"},
		{"step not scalar", step(Tensor{DType: F64, Shape: []int{1}, F64: []float64{3}}), "F64[1], want an F64 scalar"},
		{"step fractional", step(Tensor{DType: F64, Shape: []int{}, F64: []float64{2.5}}), "step 2.5 is not a whole number"},
		{"step negative", step(Tensor{DType: F64, Shape: []int{}, F64: []float64{-1}}), "step -1 is not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromFile(tt.f, "ckpt.safetensors")
			checkErr(t, err, "ckpt.safetensors", tt.want)
		})
	}
}

// The four failures the issue names, as a user meets them: each is one line
// that names the file.
func TestLoadFailuresNameTheFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := SaveCheckpoint(good, xorCheckpoint()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := append([]byte(nil), data...)
	corrupt[8+bytes.IndexByte(corrupt[8:], ',')] = ';' // breaks the JSON header
	tests := []struct {
		path, want string
	}{
		{write("truncated.safetensors", data[:len(data)-3]), "truncated"},
		{write("corrupt.safetensors", corrupt), "corrupted header: not valid JSON"},
		{good, `written for model "xor", this is "gpt"`},
		{filepath.Join(dir, "missing.safetensors"), "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			c, err := LoadCheckpoint(tt.path)
			if err == nil {
				err = c.Verify("gpt", nil)
			}
			checkErr(t, err, tt.path, tt.want)
		})
	}
}
