package data

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

func writeTensors(t *testing.T, n int, offset float64) string {
	t.Helper()
	x := safetensors.Tensor{Name: "x", DType: safetensors.F64, Shape: []int{n, 3}}
	y := safetensors.Tensor{Name: "y", DType: safetensors.I32, Shape: []int{n}}
	vx := safetensors.Tensor{Name: "val/x", DType: safetensors.F64, Shape: []int{n, 3}}
	vy := safetensors.Tensor{Name: "val/y", DType: safetensors.I32, Shape: []int{n}}
	for i := range n {
		for j := range 3 {
			x.F64 = append(x.F64, float64(10*i+j)+offset)
			vx.F64 = append(vx.F64, -float64(10*i+j))
		}
		y.I32 = append(y.I32, int32(i))
		vy.I32 = append(vy.I32, int32(-i))
	}
	path := filepath.Join(t.TempDir(), "d.safetensors")
	if err := safetensors.WriteFileAtomic(path, &safetensors.File{Tensors: []safetensors.Tensor{x, y, vx, vy}}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestShards: the ranks' shares of each batch, in rank order, are the
// batch one process with the global batch draws, epoch after epoch;
// validation is rank 0's, cut into the ranks' batch size.
func TestShards(t *testing.T) {
	path := writeTensors(t, 20, 0)
	const ranks, b = 3, 2
	opts := func(batch, rank, n int) Options {
		return Options{Path: path, Seed: 9, Shapes: map[string][]int{"x": {batch, 3}, "y": {batch}}, Rank: rank, Ranks: n}
	}
	one, err := New(opts(ranks*b, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	var shards []Dataset
	for r := range ranks {
		d, err := New(opts(b, r, ranks))
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, d)
	}
	for step := range 8 { // 20 examples: 3 global batches of 6 an epoch
		want, _ := one.Next()
		var got []Batch
		for _, d := range shards {
			bt, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, bt)
		}
		for name, w := range want {
			var rows []runtime.JSONFloat
			for r, bt := range got {
				if bt[name].Shape[0] != b {
					t.Fatalf("rank %d's %s has shape %v, want %d rows", r, name, bt[name].Shape, b)
				}
				rows = append(rows, bt[name].Data...)
			}
			if !slices.Equal(rows, w.Data) {
				t.Fatalf("step %d, %s: the shares %v are not the global batch %v", step, name, rows, w.Data)
			}
		}
	}
	if v := shards[1].Validation(); v != nil {
		t.Errorf("rank 1 has %d validation batches, want none (rank 0 evaluates)", len(v))
	}
	v0, vg := shards[0].Validation(), one.Validation()
	if len(v0) != ranks*len(vg) || len(vg) == 0 {
		t.Fatalf("rank 0 has %d validation batches, want %d × %d", len(v0), ranks, len(vg))
	}
	for i, g := range vg {
		var got []runtime.JSONFloat
		for r := range ranks {
			got = append(got, v0[i*ranks+r]["x"].Data...)
		}
		if !slices.Equal(got, g["x"].Data) {
			t.Errorf("validation batch %d: the shares are not the global batch", i)
		}
	}
	if a, c := Fingerprint(shards[0]), Fingerprint(shards[2]); a != c {
		t.Errorf("two ranks of the same data have fingerprints %s and %s", a, c)
	}
	other, err := New(Options{Path: writeTensors(t, 20, 0.5), Seed: 9, Shapes: map[string][]int{"x": {b, 3}, "y": {b}}, Rank: 1, Ranks: ranks})
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(other) == Fingerprint(shards[1]) {
		t.Error("other data has the same fingerprint")
	}
	if _, err := New(opts(b, 3, ranks)); err == nil {
		t.Error("rank 3 of 3 was accepted")
	}
}

// TestShardUneven: a batch that cannot be cut into equal shares is an
// error, not a short share.
func TestShardUneven(t *testing.T) {
	b := Batch{"x": seq(5, 2)}
	if _, err := rowsOf(b, 0, 2); err == nil {
		t.Error("5 rows cut between 2 ranks")
	}
	got, err := rowsOf(Batch{"x": seq(4, 2)}, 1, 2)
	if err != nil || !reflect.DeepEqual(got["x"].Data, seq(4, 2).Data[4:]) {
		t.Errorf("rank 1 of 2 of 4 rows: %v, %v", got, err)
	}
}
