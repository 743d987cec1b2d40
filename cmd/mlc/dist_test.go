//go:build mpi

package main

// Data-parallel training under mpirun (needs an mlc built with -tags mpi
// and Open MPI): equivalence with one process, resume, a killed rank, and
// ranks that disagree. Like dist's MPI tests they skip without mpirun
// unless MLC_DIST_NEED_MPIRUN is set (CI), when they fail.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

// distBinary is mlc built with -tags mpi.
func distBinary(t *testing.T) string { return mlcBuild(t, "mpi") }

func mpirunPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"mpirun", "mpirun.openmpi"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MLC_DIST_NEED_MPIRUN") != "" {
		t.Fatal("mpirun not found (MLC_DIST_NEED_MPIRUN is set): apt-get install openmpi-bin")
	}
	t.Skip("mpirun not found: apt-get install openmpi-bin to run the data-parallel tests")
	return ""
}

// job is a command's merged output and exit code.
type job struct {
	out  string
	code int
	took time.Duration
}

// runJob runs name args with the cache, failing the test when it outlives
// limit. start, when set, is called once the process has started.
func runJob(t *testing.T, limit time.Duration, cache string, start func(*exec.Cmd), name string, args ...string) job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "MLC_CACHE="+cache, "GOMAXPROCS=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if start != nil {
		start(cmd)
	}
	err := cmd.Wait()
	j := job{out: out.String(), took: time.Since(began)}
	if ctx.Err() != nil {
		t.Fatalf("%s %s still ran after %v; output:\n%s", filepath.Base(name), strings.Join(args, " "), limit, j.out)
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		j.code = ee.ExitCode()
	}
	return j
}

// mpiArgs prefixes mpirun's flags for np ranks (an MPMD job when np is 0
// and the args hold ":" separated parts).
func mpiArgs(np int, args ...string) []string {
	a := []string{"--oversubscribe", "--allow-run-as-root", "--bind-to", "none", "-x", "MLC_CACHE", "-x", "GOMAXPROCS"}
	if np > 0 {
		a = append(a, "-np", strconv.Itoa(np))
	}
	return append(a, args...)
}

// writeData writes n random examples for an mlp of in inputs and k
// classes to dir/data.safetensors.
func writeData(t *testing.T, dir string, n, in, k int, seed uint64) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	x := safetensors.Tensor{Name: "X", DType: safetensors.F64, Shape: []int{n, in}}
	y := safetensors.Tensor{Name: "labels", DType: safetensors.I32, Shape: []int{n}}
	for range n * in {
		x.F64 = append(x.F64, r.NormFloat64())
	}
	for range n {
		y.I32 = append(y.I32, int32(r.IntN(k)))
	}
	path := filepath.Join(dir, "data.safetensors")
	if err := safetensors.WriteFileAtomic(path, &safetensors.File{Tensors: []safetensors.Tensor{x, y}}); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadParams(t *testing.T, dir string) (*safetensors.Checkpoint, map[string][]float64) {
	t.Helper()
	ck, _, err := train.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil {
		t.Fatalf("the checkpoint does not load: %v", err)
	}
	ps := map[string][]float64{}
	for _, p := range ck.Params {
		v := append([]float64{}, p.F64...)
		for _, f := range p.F32 {
			v = append(v, float64(f))
		}
		ps[p.Name] = v
	}
	return ck, ps
}

// maxDiff is the largest difference between two parameter sets.
func maxDiff(t *testing.T, a, b map[string][]float64) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d parameters against %d", len(a), len(b))
	}
	d := 0.0
	for name, x := range a {
		y, ok := b[name]
		if !ok || len(y) != len(x) {
			t.Fatalf("parameter %s differs in presence or size", name)
		}
		for i := range x {
			d = math.Max(d, math.Abs(x[i]-y[i]))
		}
	}
	return d
}

// distTrain is an mlp run on a data file with Adam and clipping, so that
// the optimizer state and the clipping norm must agree too.
func distTrain(data, dtype string, batch int, extra ...string) []string {
	return append([]string{"train", "-model", "mlp", "-config", "sizes=6-8-3,act=tanh", "-dtype", dtype,
		"-batch", strconv.Itoa(batch), "-data", data, "-opt", "adam", "-lr", "0.05", "-clip", "1",
		"-seed", "5", "-log", "1", "-save-every", "0"}, extra...)
}

// TestDistEquivalence: 2 ranks with batch b train the same parameters as
// 1 process with batch 2b on the same data order, to 1e-12 in float64 and
// 1e-5 in float32; a 2-rank run interrupted by -until and resumed ends
// where the unbroken one does.
func TestDistEquivalence(t *testing.T) {
	mpirun := mpirunPath(t)
	bin := distBinary(t)
	cache, work := t.TempDir(), t.TempDir()
	data := writeData(t, work, 40, 6, 3, 7) // 40 examples: epochs of 5 global batches of 8, so the 12 steps reshuffle
	const steps = "12"
	for _, c := range []struct {
		dtype string
		tol   float64
	}{{"f64", 1e-12}, {"f32", 1e-5}} {
		one, two := filepath.Join(work, c.dtype+"-one"), filepath.Join(work, c.dtype+"-two")
		j := runJob(t, 3*time.Minute, cache, nil, bin, distTrain(data, c.dtype, 8, "-steps", steps, "-ckpt", one)...)
		if j.code != 0 {
			t.Fatalf("1 process, batch 8: exit %d\n%s", j.code, j.out)
		}
		j = runJob(t, 3*time.Minute, cache, nil, mpirun, mpiArgs(2, append([]string{bin}, distTrain(data, c.dtype, 4, "-steps", steps, "-ckpt", two, "-dist", "mpi")...)...)...)
		if j.code != 0 {
			t.Fatalf("2 ranks, batch 4: exit %d\n%s", j.code, j.out)
		}
		if n := strings.Count(j.out, "training mlp"); n != 1 {
			t.Errorf("2 ranks printed the training banner %d times, want once (rank 0 only):\n%s", n, j.out)
		}
		ck1, p1 := loadParams(t, one)
		ck2, p2 := loadParams(t, two)
		if ck1.Step != 12 || ck2.Step != 12 {
			t.Fatalf("checkpoints at steps %d and %d, want 12", ck1.Step, ck2.Step)
		}
		d := maxDiff(t, p1, p2)
		t.Logf("%s: max |Δparam| between 1×8 and 2×4 after %s steps: %.3g", c.dtype, steps, d)
		if d > c.tol {
			t.Errorf("%s: parameters differ by %.3g, more than %g", c.dtype, d, c.tol)
		}
		// Not vacuous: the runs moved the parameters, and 2 ranks that
		// each trained alone on their own shard (no averaging) would not
		// agree: a single process with batch 4 ends elsewhere.
		half := filepath.Join(work, c.dtype+"-half")
		if j := runJob(t, 3*time.Minute, cache, nil, bin, distTrain(data, c.dtype, 4, "-steps", steps, "-ckpt", half)...); j.code != 0 {
			t.Fatalf("1 process, batch 4: exit %d\n%s", j.code, j.out)
		}
		_, ph := loadParams(t, half)
		if d := maxDiff(t, p1, ph); d < 1e-3 {
			t.Errorf("%s: batch 4 and batch 8 end within %.3g of each other: the comparison cannot fail", c.dtype, d)
		}
	}

	// Resume: 2 ranks stop at step 5 and resume to 12.
	one := filepath.Join(work, "f64-two")
	_, want := loadParams(t, one)
	parts := filepath.Join(work, "f64-parts")
	j := runJob(t, 3*time.Minute, cache, nil, mpirun, mpiArgs(2, append([]string{bin}, distTrain(data, "f64", 4, "-steps", steps, "-until", "5", "-ckpt", parts, "-dist", "mpi")...)...)...)
	if j.code != 0 {
		t.Fatalf("2 ranks to step 5: exit %d\n%s", j.code, j.out)
	}
	j = runJob(t, 3*time.Minute, cache, nil, mpirun, mpiArgs(2, bin, "train", "-resume", "-ckpt", parts, "-dist", "mpi")...)
	if j.code != 0 {
		t.Fatalf("2 ranks resumed: exit %d\n%s", j.code, j.out)
	}
	ck, got := loadParams(t, parts)
	if ck.Step != 12 {
		t.Fatalf("resumed checkpoint at step %d, want 12", ck.Step)
	}
	if d := maxDiff(t, want, got); d != 0 {
		t.Errorf("2 ranks interrupted at step 5 and resumed end %.3g from the unbroken run; want bit for bit", d)
	}
	csv, err := os.ReadFile(filepath.Join(parts, csvFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(string(csv)), "\n"); n != 12 {
		t.Errorf("loss.csv has %d rows after the header, want 12:\n%s", n, csv)
	}
}

// rankPID finds the mlc process of the given rank among parent's
// descendants (mpirun starts them through its own daemon on one host).
func rankPID(bin string, rank int) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != bin {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == "OMPI_COMM_WORLD_RANK="+strconv.Itoa(rank) {
				return pid
			}
		}
	}
	return 0
}

// limitAfterKill bounds the time from a rank's death to the job's end.
const limitAfterKill = 30 * time.Second

// TestDistRankKilled: a rank killed mid-run (SIGKILL to its mlc process,
// after the first checkpoints) ends the job with an error within a bounded
// time, and the checkpoint directory holds a checkpoint that loads.
func TestDistRankKilled(t *testing.T) {
	mpirun := mpirunPath(t)
	bin := distBinary(t)
	cache, work := t.TempDir(), t.TempDir()
	data := writeData(t, work, 64, 6, 3, 8)
	dir := filepath.Join(work, "run")
	args := distTrain(data, "f64", 4, "-steps", "100000000", "-ckpt", dir, "-dist", "mpi", "-log", "1000", "-save-every", "2")
	var killedAt time.Time
	j := runJob(t, 3*time.Minute, cache, func(cmd *exec.Cmd) {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(dir, ckptFile)); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // mid-run, between saves or inside one
		pid := rankPID(bin, 1)
		if pid == 0 {
			t.Errorf("no mlc process of rank 1 found")
			return
		}
		killedAt = time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill rank 1: %v", err)
		}
	}, mpirun, mpiArgs(2, append([]string{bin}, args...)...)...)
	if killedAt.IsZero() {
		t.Fatalf("rank 1 was not killed; output:\n%s", j.out)
	}
	exited := time.Since(killedAt)
	if exited > limitAfterKill {
		t.Errorf("the job ended %v after rank 1 was killed, more than %v", exited.Round(time.Millisecond), limitAfterKill)
	}
	if j.code == 0 {
		t.Errorf("mpirun exited 0 after a rank was killed; output:\n%s", j.out)
	}
	t.Logf("exit %d; output:\n%s", j.code, j.out)
	ck, _ := loadParams(t, dir)
	if ck.Step < 2 || ck.Step%2 != 0 {
		t.Errorf("checkpoint at step %d, want a positive multiple of 2", ck.Step)
	}
	if tmp, err := safetensors.TempFiles(filepath.Join(dir, ckptFile)); err == nil && len(tmp) > 0 {
		t.Logf("temporary files left by the interrupted save (removed by the next run): %v", tmp)
	}
}

// TestDistMismatch: ranks started with another model config, other
// settings or other data (an MPMD job: one command line per rank) stop
// before the first step, every rank naming what differs.
func TestDistMismatch(t *testing.T) {
	mpirun := mpirunPath(t)
	bin := distBinary(t)
	cache, work := t.TempDir(), t.TempDir()
	data := writeData(t, work, 40, 6, 3, 7)
	other := filepath.Join(work, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	otherData := writeData(t, other, 40, 6, 3, 8) // same shapes, other values
	base := func(extra ...string) []string {
		return append([]string{"-np", "1", bin}, distTrain(data, "f64", 4, append([]string{"-steps", "3", "-dist", "mpi"}, extra...)...)...)
	}
	cases := []struct {
		name  string
		rank1 []string // rank 1's extra flags (later flags win)
		want  string
	}{
		{"config", []string{"-lr", "0.01"}, "rank 1 differs from rank 0 in config"},
		{"data", []string{"-data", otherData}, "rank 1 differs from rank 0 in data"},
		{"model", []string{"-config", "sizes=6-9-3,act=tanh"}, "rank 1 differs from rank 0 in model"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(base(), ":")
			args = append(args, base(c.rank1...)...)
			j := runJob(t, 3*time.Minute, cache, nil, mpirun, mpiArgs(0, args...)...)
			if j.code == 0 {
				t.Fatalf("exit 0, want a failure; output:\n%s", j.out)
			}
			if !strings.Contains(j.out, c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, j.out)
			}
			for _, l := range strings.Split(j.out, "\n") {
				if strings.Contains(l, "disagree") {
					t.Log(l)
				}
			}
			if strings.Contains(j.out, "step      0") {
				t.Errorf("a rank trained before the check:\n%s", j.out)
			}
		})
	}
}

// TestDistNotLaunched: -dist mpi outside mpirun is a one-line error.
func TestDistNotLaunched(t *testing.T) {
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Skipf("%s is set: this test runs outside mpirun", v)
		}
	}
	code, _, stderr := runCLI("train", "-model", "xor", "-steps", "2", "-dist", "mpi")
	if code == 0 || !strings.Contains(stderr, "not started by mpirun") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("exit %d, stderr %q; want one line saying it was not started by mpirun", code, stderr)
	}
}

// TestDistInterruptOneRank: SIGTERM to one rank's mlc (a scheduler's
// stop, a Ctrl-C that reached one process) stops every rank after the
// same step: the job ends with 0, and rank 0 saved that step, with
// loss.csv up to it.
func TestDistInterruptOneRank(t *testing.T) {
	mpirun := mpirunPath(t)
	bin := distBinary(t)
	cache, work := t.TempDir(), t.TempDir()
	data := writeData(t, work, 64, 6, 3, 8)
	dir := filepath.Join(work, "run")
	csvPath := filepath.Join(dir, csvFile)
	args := distTrain(data, "f64", 4, "-steps", "100000000", "-ckpt", dir, "-dist", "mpi", "-log", "1000", "-save-every", "5")
	signalled := false
	j := runJob(t, 3*time.Minute, cache, func(cmd *exec.Cmd) {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(csvPath); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if pid := rankPID(bin, 1); pid != 0 {
			signalled = syscall.Kill(pid, syscall.SIGTERM) == nil
		}
	}, mpirun, mpiArgs(2, append([]string{bin}, args...)...)...)
	if !signalled {
		t.Fatalf("rank 1 was not signalled; output:\n%s", j.out)
	}
	if j.code != 0 {
		t.Fatalf("exit %d after SIGTERM to rank 1, want 0 (every rank stops and rank 0 saves); output:\n%s", j.code, j.out)
	}
	ck, _ := loadParams(t, dir)
	csv, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(strings.TrimSpace(string(csv)), "\n"); int64(rows) != ck.Step || ck.Step < 5 {
		t.Errorf("checkpoint at step %d, loss.csv with %d rows; want equal, from step 5 on", ck.Step, rows)
	}
	if !strings.Contains(j.out, fmt.Sprintf("saved %s after step %d", filepath.Join(dir, ckptFile), ck.Step)) {
		t.Errorf("rank 0 did not report saving step %d:\n%s", ck.Step, j.out)
	}
}

// TestDistTextModel: the text pipeline under -dist mpi: a tiny gpt
// (float32, no dropout) on this repository's codegen sources, 2 ranks of
// batch 2 against 1 process of batch 4: the same parameters to 1e-5, and
// the same validation loss, which rank 0 computes over every rank's share
// of the validation batches.
func TestDistTextModel(t *testing.T) {
	mpirun := mpirunPath(t)
	bin := distBinary(t)
	cache, work := t.TempDir(), t.TempDir()
	corpus, err := filepath.Abs(filepath.Join("..", "..", "codegen"))
	if err != nil {
		t.Fatal(err)
	}
	args := func(batch int, dir string, extra ...string) []string {
		return append([]string{"train", "-model", "gpt", "-config", "vocab=300,ctx=16,d=16,heads=2,layers=1,ffn=32,dropout=0",
			"-batch", strconv.Itoa(batch), "-steps", "6", "-log", "1", "-data", corpus, "-ckpt", dir}, extra...)
	}
	one, two := filepath.Join(work, "one"), filepath.Join(work, "two")
	j1 := runJob(t, 3*time.Minute, cache, nil, bin, args(4, one)...)
	if j1.code != 0 {
		t.Fatalf("1 process: exit %d\n%s", j1.code, j1.out)
	}
	j2 := runJob(t, 3*time.Minute, cache, nil, mpirun, mpiArgs(2, append([]string{bin}, args(2, two, "-dist", "mpi")...)...)...)
	if j2.code != 0 {
		t.Fatalf("2 ranks: exit %d\n%s", j2.code, j2.out)
	}
	_, p1 := loadParams(t, one)
	_, p2 := loadParams(t, two)
	d := maxDiff(t, p1, p2)
	t.Logf("gpt f32: max |Δparam| between 1×4 and 2×2 after 6 steps: %.3g", d)
	if d > 1e-5 {
		t.Errorf("parameters differ by %.3g, more than 1e-5", d)
	}
	val := func(out string) string {
		for _, l := range strings.Split(strings.ReplaceAll(out, "\r", "\n"), "\n") {
			if strings.Contains(l, "validation loss") {
				return strings.TrimSpace(l)
			}
		}
		return ""
	}
	// The same step's validation loss, to within what the parameters'
	// difference allows: the two runs sum their gradients in different
	// orders, so the printed loss may differ in its last digit.
	v1, v2 := val(j1.out), val(j2.out)
	f1, f2 := strings.Fields(v1), strings.Fields(v2)
	same := len(f1) > 1 && len(f2) == len(f1) && strings.Join(f1[:len(f1)-1], " ") == strings.Join(f2[:len(f2)-1], " ")
	if same {
		l1, err1 := strconv.ParseFloat(f1[len(f1)-1], 64)
		l2, err2 := strconv.ParseFloat(f2[len(f2)-1], 64)
		same = err1 == nil && err2 == nil && math.Abs(l1-l2) <= 1e-5
	}
	if !same {
		t.Errorf("validation: 1 process %q, 2 ranks %q", v1, v2)
	}
}
