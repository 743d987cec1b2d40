package dist

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// underLauncher reports whether an MPI launcher started this test process.
func underLauncher() bool { return launcher().name != "" }

func TestLocal(t *testing.T) {
	c := Local()
	if c.Rank() != 0 || c.Size() != 1 || c.MPI() {
		t.Fatalf("Local: rank %d size %d mpi %v, want 0 1 false", c.Rank(), c.Size(), c.MPI())
	}
	f32 := []float32{1.5, -2, 3}
	f64 := []float64{1.5, -2, 3}
	b := []byte("abc")
	for name, err := range map[string]error{
		"AllreduceSum f32":  AllreduceSum(c, f32),
		"AllreduceMean f32": AllreduceMean(c, f32),
		"AllreduceSum f64":  AllreduceSum(c, f64),
		"AllreduceMean f64": AllreduceMean(c, f64),
		"Broadcast f64":     Broadcast(c, f64),
		"Broadcast bytes":   Broadcast(c, b),
		"Barrier":           c.Barrier(),
		"Check":             c.Check(Part{"model", []byte("m")}, Part{"data", nil}),
	} {
		if err != nil {
			t.Errorf("%s on one process: %v", name, err)
		}
	}
	if !slices.Equal(f32, []float32{1.5, -2, 3}) || !slices.Equal(f64, []float64{1.5, -2, 3}) || string(b) != "abc" {
		t.Errorf("one-process collectives changed their buffers: %v %v %q", f32, f64, b)
	}
	if err := c.Finalize(); err != nil {
		t.Fatal(err)
	}
	if err := c.Finalize(); err != nil {
		t.Errorf("second Finalize: %v", err)
	}
	if err := AllreduceSum(c, f32); err == nil || !strings.Contains(err.Error(), "after Finalize") {
		t.Errorf("AllreduceSum after Finalize: got %v, want an error saying so", err)
	}
}

func TestInitOneProcess(t *testing.T) {
	if underLauncher() {
		t.Skip("started by an MPI launcher")
	}
	c, err := Init(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Size() != 1 || c.Rank() != 0 || c.MPI() {
		t.Errorf("Init outside mpirun: rank %d size %d mpi %v, want the one-process Comm", c.Rank(), c.Size(), c.MPI())
	}
}

func TestScale(t *testing.T) {
	// Dividing by 3 must round the quotient once; multiplying by a rounded
	// 1/3 does not for this value.
	x := []float64{5}
	scale(x, 3)
	if want := 5.0 / 3; x[0] != want {
		t.Errorf("5 scaled by 3: %v, want %v", x[0], want)
	}
	if five := 5.0; five*(1/3.0) == five/3 {
		t.Fatal("the test value does not tell division from the product with the inverse")
	}
	y := []float32{3, -5, 1e-30}
	scale(y, 4)
	if !slices.Equal(y, []float32{0.75, -1.25, 2.5e-31}) {
		t.Errorf("scaled by 4: %v", y)
	}
}

// TestReducerPlan checks the bucket boundaries, the splitting of large
// slices and the merging of slices that continue one array.
func TestReducerPlan(t *testing.T) {
	c := Local()
	arr := make([]float32, 10)
	cases := []struct {
		name          string
		grads         [][]float32
		bucket        int
		want          [][]int // per bucket, the lengths of its pieces
		staged        int
		stagedLengths []int
	}{
		{"one array, split", [][]float32{arr}, 16, [][]int{{4}, {4}, {2}}, 0, nil},
		{"one array, one bucket", [][]float32{arr}, 0, [][]int{{10}}, 0, nil},
		{"views with spare capacity merge", [][]float32{arr[0:3], arr[3:5], arr[5:10]}, 24, [][]int{{6}, {4}}, 0, nil},
		{"views clipped to their length stay apart", [][]float32{arr[0:3:3], arr[3:5:5], arr[5:10]}, 24, [][]int{{3, 2, 1}, {4}}, 1, []int{6}},
		{"separate arrays", [][]float32{make([]float32, 3), make([]float32, 5), make([]float32, 2)}, 16, [][]int{{3, 1}, {4}, {2}}, 1, []int{4}},
		{"out of order views", [][]float32{arr[5:7], arr[0:5]}, 0, [][]int{{2, 5}}, 1, []int{7}},
	}
	for _, tc := range cases {
		r, err := NewReducer(c, tc.grads, tc.bucket)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got [][]int
		var stages []int
		for _, b := range r.buckets {
			var l []int
			for _, p := range b.pieces {
				l = append(l, len(p))
			}
			got = append(got, l)
			if b.stage != nil {
				stages = append(stages, len(b.stage))
			}
		}
		if !slices.EqualFunc(got, tc.want, slices.Equal) || r.Buckets() != len(tc.want) || r.Staged() != tc.staged || !slices.Equal(stages, tc.stagedLengths) {
			t.Errorf("%s: buckets %v (staged %d, stages %v), want %v (staged %d, stages %v)", tc.name, got, r.Staged(), stages, tc.want, tc.staged, tc.stagedLengths)
		}
		if err := r.Mean(); err != nil {
			t.Errorf("%s: Mean on one process: %v", tc.name, err)
		}
	}
	if _, err := NewReducer(c, [][]float64{make([]float64, 4)}, 7); err == nil || !strings.Contains(err.Error(), "smaller than one 8-byte element") {
		t.Errorf("a 7-byte bucket of float64: got %v", err)
	}
}

// TestDigestDiffs checks the consistency check's messages on made-up
// digest tables of three ranks.
func TestDigestDiffs(t *testing.T) {
	parts := []Part{{"model", []byte("gpt")}, {"config", []byte("d=128")}, {"data", []byte("corpus")}}
	other := []Part{{"model", []byte("gpt")}, {"config", []byte("d=64")}, {"data", []byte("corpus")}}
	renamed := []Part{{"model", []byte("gpt")}, {"config", []byte("d=128")}, {"dataset", []byte("corpus")}}
	table := func(ranks ...[]Part) []byte {
		var b []byte
		for _, p := range ranks {
			b = append(b, digests(p)...)
		}
		return b
	}
	if err := digestDiffs(parts, table(parts, parts, parts)); err != nil {
		t.Errorf("equal ranks: %v", err)
	}
	err := digestDiffs(parts, table(parts, parts, other))
	if err == nil || !strings.Contains(err.Error(), "rank 2 differs from rank 0 in config (sha256 ") || strings.Contains(err.Error(), "rank 1") || strings.Contains(err.Error(), "\n") {
		t.Errorf("rank 2's config differs: got %v", err)
	}
	err = digestDiffs(parts, table(parts, renamed, parts))
	if err == nil || !strings.Contains(err.Error(), `rank 1 labels part 3 other than rank 0 ("data" on this rank)`) {
		t.Errorf("rank 1 renames a part: got %v", err)
	}
	counts := []byte{3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}
	if err := countDiffs(counts); err == nil || err.Error() != "dist: ranks disagree: rank 2 passes 2 parts, rank 0 passes 3" {
		t.Errorf("rank 2 passes fewer parts: got %v", err)
	}
	var many []string
	for i := range 6 {
		many = append(many, string(rune('a'+i)))
	}
	if err := mismatch(many); err == nil || err.Error() != "dist: ranks disagree: a; b; c; d; and 2 more" {
		t.Errorf("six differences: got %v", err)
	}
}

// BenchmarkScale measures the ÷N of AllreduceMean on a gpt-sized gradient
// (875264 float32), which the all-reduce's time should dwarf.
func BenchmarkScale(b *testing.B) {
	x := make([]float32, 875264)
	for i := range x {
		x[i] = float32(i)
	}
	b.SetBytes(int64(4 * len(x)))
	for _, n := range []int{2, 3} {
		b.Run(fmt.Sprintf("by %d", n), func(b *testing.B) {
			for b.Loop() {
				scale(x, n)
			}
		})
	}
}

func TestLaunched(t *testing.T) {
	for _, v := range []string{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE"} {
		t.Setenv(v, "")
	}
	for _, tc := range []struct {
		env        []string // name, value, …
		rank, size int
		ok         bool
	}{
		{nil, 0, 1, false},
		{[]string{"OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_SIZE", "4"}, 3, 4, true},
		{[]string{"PMI_RANK", "1", "PMI_SIZE", "2"}, 1, 2, true},
		{[]string{"OMPI_COMM_WORLD_RANK", "4", "OMPI_COMM_WORLD_SIZE", "4"}, 0, 1, false}, // rank out of range
		{[]string{"OMPI_COMM_WORLD_SIZE", "4"}, 0, 1, false},                              // no rank
	} {
		for i := 0; i < len(tc.env); i += 2 {
			t.Setenv(tc.env[i], tc.env[i+1])
		}
		if r, n, ok := Launched(); r != tc.rank || n != tc.size || ok != tc.ok {
			t.Errorf("Launched with %v: %d, %d, %v; want %d, %d, %v", tc.env, r, n, ok, tc.rank, tc.size, tc.ok)
		}
		for i := 0; i < len(tc.env); i += 2 {
			t.Setenv(tc.env[i], "")
		}
	}
}
