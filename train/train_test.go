package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// TestPlotSkipsNonFinite: a diverged run's NaN and Inf rows do not stop
// the plot.
func TestPlotSkipsNonFinite(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, CSVFile)
	if err := os.WriteFile(csv, []byte("step,loss,val_loss\n0,2.5,\n1,1.5,NaN\n2,NaN,\n3,+Inf,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := PlotCurve(csv, filepath.Join(dir, PlotFile), "m"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, PlotFile)); err != nil || st.Size() == 0 {
		t.Fatalf("no plot: %v", err)
	}
}

// TestOpenKeepsCSVConsistent: resuming at step 3 drops loss.csv's rows of
// steps 3 and later (written after the checkpoint by a killed run), and
// removes the temporary files killed saves left.
func TestOpenKeepsCSVConsistent(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CSVFile), []byte("step,loss,val_loss\n0,4,\n1,3,\n2,2,\n3,1,\n4,0.5,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, safetensors.TempPrefix+CheckpointFile+"-123")
	if err := os.WriteFile(tmp, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir, true, false, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.rows) != 3 || d.rows[2][0] != "2" {
		t.Fatalf("kept rows %v, want steps 0, 1, 2", d.rows)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file not removed: %v", err)
	}
	if err := d.saveCSV([][]string{{"3", "0.9", ""}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, CSVFile))
	if string(b) != "step,loss,val_loss\n0,4,\n1,3,\n2,2,\n3,0.9,\n" {
		t.Fatalf("loss.csv:\n%s", b)
	}
	// A second run cannot take the same directory while this one holds it.
	if _, err := Open(dir, true, false, 3); err == nil || !strings.Contains(err.Error(), "another mlc train") {
		t.Fatalf("second Open: %v", err)
	}
}

// TestHorizon: -resume -steps N moves the schedule's end to N; N must be
// past the checkpoint and the warmup.
func TestHorizon(t *testing.T) {
	st := Settings{Steps: 500, Optimizer: passes.OptimizerConfig{Kind: "adamw", Warmup: 20, Steps: 500}}
	if err := st.Horizon(800, 500); err != nil || st.Steps != 800 || st.Optimizer.Steps != 800 {
		t.Fatalf("%+v, %v", st, err)
	}
	if err := st.Horizon(400, 500); err == nil || !strings.Contains(err.Error(), "already at step 500") {
		t.Fatalf("steps before the checkpoint: %v", err)
	}
	flat := Settings{Steps: 100, Optimizer: passes.OptimizerConfig{Kind: "sgd"}}
	if err := flat.Horizon(200, 100); err != nil || flat.Optimizer.Steps != 0 {
		t.Fatalf("a run without a schedule keeps none: %+v, %v", flat, err)
	}
}

// TestCheckSettings: each bad number gives the flag's name.
func TestCheckSettings(t *testing.T) {
	good := Settings{Steps: 10, Optimizer: passes.OptimizerConfig{Kind: "sgd", LR: 0.1}}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	nan := func() float64 { z := 0.0; return z / z }()
	for _, c := range []struct {
		mut  func(*Settings)
		want string
	}{
		{func(s *Settings) { s.Steps = -5 }, "-steps"},
		{func(s *Settings) { s.Optimizer.LR = nan }, "-lr"},
		{func(s *Settings) { s.Optimizer.LR = 0 }, "-lr"},
		{func(s *Settings) { s.Optimizer.Clip = -1 }, "-clip"},
		{func(s *Settings) { s.L2 = nan }, "-l2"},
	} {
		s := good
		c.mut(&s)
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
	}
}

func TestResumeNote(t *testing.T) {
	if n := (Job{0, 2}).ResumeNote(map[string]string{"train.ranks": "2"}, 8); n != "" {
		t.Errorf("same ranks: %q", n)
	}
	if n := (Job{0, 1}).ResumeNote(map[string]string{}, 8); n != "" {
		t.Errorf("one process, no key: %q", n)
	}
	if n := (Job{0, 1}).ResumeNote(map[string]string{"train.ranks": "2"}, 8); !strings.Contains(n, "from 16 to 8 examples") {
		t.Errorf("2 ranks resumed on 1: %q", n)
	}
}

// TestDistModes: a run under mpirun must ask for -dist mpi, and -dist
// takes only mpi.
func TestDistModes(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_RANK", "1")
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	if _, err := Dist(""); err == nil || !strings.Contains(err.Error(), "rank 1 of 2 without -dist mpi") {
		t.Errorf("under mpirun without -dist: %v", err)
	}
	if _, err := Dist("nccl"); err == nil || !strings.Contains(err.Error(), "-dist takes mpi") {
		t.Errorf("-dist nccl: %v", err)
	}
	t.Setenv("OMPI_COMM_WORLD_SIZE", "1")
	t.Setenv("OMPI_COMM_WORLD_RANK", "0")
	if j, err := Dist(""); err != nil || j.Parallel() {
		t.Errorf("mpirun -np 1 without -dist: %+v, %v", j, err)
	}
}
