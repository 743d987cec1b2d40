package data

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

func seq(n, per int) runtime.JSONTensor {
	t := runtime.JSONTensor{Shape: []int{n, per}}
	for i := range n * per {
		t.Data = append(t.Data, runtime.JSONFloat(i))
	}
	return t
}

// TestTensorsEpochs: every example appears once per epoch, batches keep
// inputs aligned, and a restored position draws what an unbroken run does.
func TestTensorsEpochs(t *testing.T) {
	train := map[string]runtime.JSONTensor{"x": seq(10, 2), "y": seq(10, 1)}
	d, err := Tensors(train, nil, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[float64]int{}
	for range 3 { // one epoch: 3 batches of 3, one example waits
		b, _ := d.Next()
		for i := range 3 {
			x, y := b["x"].Data[2*i], b["y"].Data[i]
			if float64(x) != 2*float64(y) {
				t.Fatalf("x and y come from different examples: %v, %v", x, y)
			}
			seen[float64(y)]++
		}
	}
	if len(seen) != 9 {
		t.Fatalf("an epoch drew %d distinct examples of 9", len(seen))
	}
	state := d.State()
	want, _ := d.Next()
	want2, _ := d.Next()
	e, _ := Tensors(train, nil, 3, 7)
	if err := e.Restore(state); err != nil {
		t.Fatal(err)
	}
	got, _ := e.Next()
	got2, _ := e.Next()
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(got2, want2) {
		t.Fatal("a restored dataset draws other batches")
	}
}

// TestFileDataset: a .safetensors file of examples is checked against the
// model's inputs, each mistake named.
func TestFileDataset(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, ts ...safetensors.Tensor) string {
		p := filepath.Join(dir, name)
		if err := safetensors.WriteFileAtomic(p, &safetensors.File{Tensors: ts}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	x := safetensors.Tensor{Name: "x", DType: safetensors.F64, Shape: []int{6, 2}, F64: make([]float64, 12)}
	y := safetensors.Tensor{Name: "y", DType: safetensors.I32, Shape: []int{6}, I32: make([]int32, 6)}
	vx := safetensors.Tensor{Name: "val/x", DType: safetensors.F64, Shape: []int{4, 2}, F64: make([]float64, 8)}
	vy := safetensors.Tensor{Name: "val/y", DType: safetensors.I32, Shape: []int{4}, I32: make([]int32, 4)}
	shapes := map[string][]int{"x": {2, 2}, "y": {2}}
	opts := func(path string) Options { return Options{Path: path, Shapes: shapes, Log: func(string, ...any) {}} }
	d, err := New(opts(write("ok.safetensors", x, y, vx, vy)))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Validation()) != 2 {
		t.Errorf("%d validation batches, want 2", len(d.Validation()))
	}
	bad := x
	bad.Shape, bad.F64 = []int{4, 3}, make([]float64, 12)
	extra := y
	extra.Name = "z"
	for _, c := range []struct {
		path, want string
	}{
		{write("missing.safetensors", x), `no tensor "y" for the model's input y[2]`},
		{write("shape.safetensors", bad, y), `tensor "x" has shape [4 3]; want [N,2]`},
		{write("extra.safetensors", x, y, extra), `tensor "z" is not an input of the model (its inputs: x, y)`},
		{filepath.Join(dir, "data.csv"), "give a .safetensors file"},
	} {
		if _, err := New(opts(c.path)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
}
