//go:build mpi

package dist

// The MPI tests run in two roles. Run by go test, the launcher tests start
// this same test binary under mpirun, with MLC_DIST_WORKER naming what each
// rank does; TestWorker is that rank's side and skips when the variable is
// unset. They need mpirun (apt-get install openmpi-bin) and skip without it,
// unless MLC_DIST_NEED_MPIRUN is set (CI), when they fail.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const workerEnv = "MLC_DIST_WORKER"

// mpirun runs np ranks of this test binary's TestWorker in the given role
// and returns their merged output, mpirun's exit code and the wall time.
// It fails the test when the job outlives limit.
func mpirun(t *testing.T, np int, role string, limit time.Duration) (string, int, time.Duration) {
	t.Helper()
	bin := ""
	for _, name := range []string{"mpirun", "mpirun.openmpi"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("MLC_DIST_NEED_MPIRUN") != "" { // CI: a skip would hide the tests
			t.Fatal("mpirun not found (MLC_DIST_NEED_MPIRUN is set): apt-get install openmpi-bin")
		}
		t.Skip("mpirun not found: apt-get install openmpi-bin to run the MPI tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
		"-np", fmt.Sprint(np), "-x", workerEnv,
		os.Args[0], "-test.run", "^TestWorker$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), workerEnv+"="+role)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("mpirun -np %d (%s) still ran after %v; output:\n%s", np, role, limit, out.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("mpirun: %v", err)
		}
		code = ee.ExitCode()
	}
	return out.String(), code, took
}

func TestMPICollectives(t *testing.T) {
	for _, np := range []int{2, 3} {
		out, code, _ := mpirun(t, np, "collectives", 2*time.Minute)
		if code != 0 || strings.Count(out, "--- PASS: TestWorker ") != np {
			t.Errorf("mpirun -np %d: exit code %d, want %d ranks passing; output:\n%s", np, code, np, out)
		}
	}
}

// TestMPIFaults checks that a rank that dies, or hangs, ends the whole job
// within a bounded time with a message that says what happened, while the
// other rank waits in an all-reduce.
func TestMPIFaults(t *testing.T) {
	for _, tc := range []struct {
		role string
		code int
		want []string
	}{
		{"exit", 7, []string{"exited with non-zero status", "Exit code:    7"}},
		{"kill", -1, []string{"rank 1", "exited on signal 9 (Killed)"}},
		{"return", -1, []string{"rank 1", "exiting improperly", "without calling \"finalize\""}},
		{"hang", 3, []string{"dist: rank 0 of 2: an all-reduce of 32 bytes has waited", "watchdog, Options.Timeout 2s"}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			t.Parallel() // each job mostly waits: mpirun's start, a timeout
			out, code, took := mpirun(t, 2, tc.role, time.Minute)
			if code == 0 || tc.code > 0 && code != tc.code {
				t.Errorf("mpirun exit code %d, want non-zero (%d)", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "--- PASS: TestWorker") {
				t.Errorf("a rank passed, but every rank should have been ended:\n%s", out)
			}
			if took > 20*time.Second {
				t.Errorf("the job took %v to end", took)
			}
			t.Logf("the job ended in %v with exit code %d", took.Round(time.Millisecond), code)
		})
	}
}

func TestRequireNotLaunched(t *testing.T) {
	if underLauncher() {
		t.Skip("started by an MPI launcher")
	}
	_, err := Init(Options{Require: true})
	if err == nil || !strings.Contains(err.Error(), "not started by mpirun (OMPI_COMM_WORLD_SIZE is unset): run it as mpirun -np N") {
		t.Errorf("Init(Require) outside mpirun: got %v", err)
	}
	if c, err := Init(Options{}); err != nil || c.MPI() || c.Size() != 1 {
		t.Errorf("Init outside mpirun: %v", err)
	}
}

// TestWorker is one rank's side of the launcher tests.
func TestWorker(t *testing.T) {
	role := os.Getenv(workerEnv)
	if role == "" {
		t.Skip("runs as a rank under mpirun, started by TestMPICollectives and TestMPIFaults")
	}
	timeout := 30 * time.Second
	if role == "hang" {
		timeout = 2 * time.Second
	}
	c, err := Init(Options{Require: true, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if role != "collectives" {
		fault(t, c, role)
		return
	}
	defer func() {
		if err := c.Finalize(); err != nil {
			t.Error(err)
		}
	}()
	if c.Size() < 2 || c.Rank() < 0 || c.Rank() >= c.Size() || !c.MPI() {
		t.Fatalf("rank %d of %d (mpi %v)", c.Rank(), c.Size(), c.MPI())
	}
	if r, n, ok := Launched(); !ok || r != c.Rank() || n != c.Size() {
		t.Errorf("Launched: rank %d of %d (ok %v), MPI says %d of %d", r, n, ok, c.Rank(), c.Size())
	}
	if _, err := Init(Options{Require: true}); err == nil || !strings.Contains(err.Error(), "Init under MPI called twice") {
		t.Errorf("a second Init: got %v, want the called-twice error", err)
	}
	t.Run("sum of integers", func(t *testing.T) { sumIntegers(t, c) })
	t.Run("sum of random values", func(t *testing.T) {
		sumRandom[float64](t, c, 1000)
		sumRandom[float32](t, c, 1000)
		sumRandom[float64](t, c, 1<<18+3) // 2 MB: MPI's large-message path
	})
	t.Run("mean", func(t *testing.T) { mean(t, c) })
	t.Run("mean of large buffers", func(t *testing.T) { meanLarge(t, c) })
	t.Run("broadcast", func(t *testing.T) { broadcast(t, c) })
	t.Run("bucketed", func(t *testing.T) { bucketed(t, c) })
	t.Run("check", func(t *testing.T) { check(t, c) })
	t.Run("no allocations", func(t *testing.T) { allocs(t, c) })
	t.Run("Go's nil-dereference panic survives MPI_Init", func(t *testing.T) {
		// Open MPI installs signal handlers of its own; Go's SIGSEGV
		// handler must stay in place, or a nil dereference would crash
		// the rank instead of panicking.
		if err := deref(nil); err == nil || !strings.Contains(err.Error(), "nil pointer dereference") {
			t.Errorf("reading through a nil pointer: got %v, want a recovered runtime error", err)
		}
	})
}

func deref(p *struct{ x int }) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	_ = p.x
	return nil
}

// fault plays rank 1's failure while rank 0 waits for it in an all-reduce.
func fault(t *testing.T, c *Comm, role string) {
	x := []float64{1, 2, 3, 4}
	if c.Rank() == 1 {
		time.Sleep(100 * time.Millisecond) // let rank 0 enter the all-reduce
		switch role {
		case "exit":
			os.Exit(7)
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case "return":
			os.Exit(0) // without Finalize
		case "hang":
			time.Sleep(time.Minute)
		}
		t.Fatalf("rank 1 outlived its %s", role)
	}
	err := AllreduceSum(c, x)
	t.Errorf("rank 0's all-reduce returned (%v) although rank 1 is gone", err)
}

func sumIntegers(t *testing.T, c *Comm) {
	const n = 5000
	x64 := make([]float64, n)
	x32 := make([]float32, n)
	for i := range n {
		x64[i] = float64(c.Rank()*1_000_000 + i)
		x32[i] = float32(c.Rank()*1000 + i%1000)
	}
	if err := AllreduceSum(c, x64); err != nil {
		t.Fatal(err)
	}
	if err := AllreduceSum(c, x32); err != nil {
		t.Fatal(err)
	}
	p := c.Size()
	ranks := p * (p - 1) / 2 // Σ r
	for i := range n {
		if want := float64(ranks*1_000_000 + p*i); x64[i] != want {
			t.Fatalf("float64 sum of element %d is %v, want %v", i, x64[i], want)
		}
		if want := float32(ranks*1000 + p*(i%1000)); x32[i] != want {
			t.Fatalf("float32 sum of element %d is %v, want %v", i, x32[i], want)
		}
	}
}

// values is rank r's random vector, which every rank can regenerate.
func values[T Float](r, n int) []T {
	g := rand.New(rand.NewPCG(uint64(r), 42))
	x := make([]T, n)
	for i := range x {
		x[i] = T(g.NormFloat64() * math.Exp(4*g.NormFloat64()))
	}
	return x
}

// sumRandom compares the all-reduce with the sum in rank order. With two
// ranks the sum is one addition, so it must match bit for bit; with more
// MPI may add in another order, which changes the last bits.
func sumRandom[T Float](t *testing.T, c *Comm, n int) {
	x := values[T](c.Rank(), n)
	if err := AllreduceSum(c, x); err != nil {
		t.Fatal(err)
	}
	want := make([]T, n)
	abs := make([]float64, n)
	for r := range c.Size() {
		for i, v := range values[T](r, n) {
			want[i] += v
			abs[i] += math.Abs(float64(v))
		}
	}
	var z T
	eps := math.Pow(2, -52)
	if any(z) == any(float32(0)) {
		eps = math.Pow(2, -23)
	}
	for i := range x {
		tol := 0.0
		if c.Size() > 2 {
			tol = float64(c.Size()) * eps * abs[i]
		}
		if d := math.Abs(float64(x[i] - want[i])); d > tol || math.IsNaN(d) {
			t.Fatalf("%T sum of %d values, element %d: %v, serial sum %v (tolerance %g)", z, n, i, x[i], want[i], tol)
		}
	}
}

func mean(t *testing.T, c *Comm) {
	x := make([]float64, 100)
	y := make([]float32, 100)
	for i := range x {
		x[i] = float64(c.Rank() + i)
		y[i] = float32(c.Rank()*3 + i)
	}
	if err := AllreduceMean(c, x); err != nil {
		t.Fatal(err)
	}
	if err := AllreduceMean(c, y); err != nil {
		t.Fatal(err)
	}
	p := c.Size()
	for i := range x {
		// Σ_r (r + i) / p = (p−1)/2 + i, computed as the sum's quotient.
		if want := float64(p*(p-1)/2+p*i) / float64(p); x[i] != want {
			t.Fatalf("float64 mean of element %d: %v, want %v", i, x[i], want)
		}
		if want := float32(3*p*(p-1)/2+p*i) / float32(p); y[i] != want {
			t.Fatalf("float32 mean of element %d: %v, want %v", i, y[i], want)
		}
	}
}

// meanLarge compares the mean of a large buffer (divided share by share
// after a reduce-scatter) with the all-reduced sum divided by N.
func meanLarge(t *testing.T, c *Comm) {
	for _, n := range []int{meanSplit / 4, 1<<18 + 7} {
		x := values[float32](c.Rank(), n)
		if err := AllreduceMean(c, x); err != nil {
			t.Fatal(err)
		}
		want := values[float32](c.Rank(), n)
		if err := AllreduceSum(c, want); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i] /= float32(c.Size())
		}
		abs := make([]float64, n)
		for q := range c.Size() {
			for i, v := range values[float32](q, n) {
				abs[i] += math.Abs(float64(v)) / (1 << 23)
			}
		}
		for i := range x {
			// Bit for bit with two ranks; with more, MPI's order of
			// addition may differ between the two collectives.
			if d := math.Abs(float64(x[i] - want[i])); c.Size() == 2 && d != 0 || d > abs[i] {
				t.Fatalf("mean of %d float32, element %d: %v, sum÷N %v", n, i, x[i], want[i])
			}
		}
	}
	const n = 1<<16 + 1
	y := values[float64](c.Rank(), n)
	want := slices.Clone(y)
	abs := make([]float64, n)
	for q := range c.Size() {
		for i, v := range values[float64](q, n) {
			abs[i] += math.Abs(v) / (1 << 52)
		}
	}
	if err := AllreduceMean(c, y); err != nil {
		t.Fatal(err)
	}
	if err := AllreduceSum(c, want); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i] /= float64(c.Size())
		if d := math.Abs(y[i] - want[i]); c.Size() == 2 && d != 0 || d > abs[i] {
			t.Fatalf("mean of float64, element %d: %v, sum÷N %v", i, y[i], want[i])
		}
	}
}

func broadcast(t *testing.T, c *Comm) {
	f32 := values[float32](c.Rank(), 1000)
	f64 := values[float64](c.Rank(), 1<<18+5) // 2 MB
	b := []byte(fmt.Sprintf("rank %02d", c.Rank()))
	for _, err := range []error{Broadcast(c, f32), Broadcast(c, f64), Broadcast(c, b)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(f32, values[float32](0, 1000)) || !slices.Equal(f64, values[float64](0, 1<<18+5)) {
		t.Errorf("rank %d: broadcast floats differ from rank 0's", c.Rank())
	}
	if string(b) != "rank 00" {
		t.Errorf("rank %d: broadcast bytes %q, want %q", c.Rank(), b, "rank 00")
	}
}

// bucketed compares Reducer with one all-reduce per slice, over slices
// shaped like a small model's gradients: views of one array (in place) and
// separate arrays (staged), with buckets that split them and one that
// holds everything.
func bucketed(t *testing.T, c *Comm) {
	shapes := []int{8192, 2048, 128, 128, 2048, 128, 3, 8192, 512, 128, 1}
	total := 0
	for _, n := range shapes {
		total += n
	}
	for _, layout := range []string{"one array", "clipped views", "separate arrays"} {
		for _, bucket := range []int{1000, 16 << 10, 0} {
			ref := split(values[float32](c.Rank(), total), shapes, "separate arrays")
			// The tolerance for more than two ranks, where MPI's order of
			// addition may depend on the message: Σ_r |x_r| ε_32 per rank.
			abs := make([]float64, total)
			for q := range c.Size() {
				for i, v := range values[float32](q, total) {
					abs[i] += math.Abs(float64(v)) * float64(c.Size()) / (1 << 23)
				}
			}
			tol := split32(abs, shapes)
			got := split(values[float32](c.Rank(), total), shapes, layout)
			for _, g := range ref {
				if err := AllreduceMean(c, g); err != nil {
					t.Fatal(err)
				}
			}
			r, err := NewReducer(c, got, bucket)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Mean(); err != nil {
				t.Fatal(err)
			}
			for k := range ref {
				for i := range ref[k] {
					d := math.Abs(float64(got[k][i] - ref[k][i]))
					if c.Size() == 2 && d != 0 || d > tol[k][i] {
						t.Fatalf("%s, %d-byte buckets (%d, %d staged): slice %d element %d is %v, unbucketed %v", layout, bucket, r.Buckets(), r.Staged(), k, i, got[k][i], ref[k][i])
					}
				}
			}
			if layout == "one array" && r.Staged() != 0 || layout == "separate arrays" && bucket != 1000 && r.Staged() == 0 {
				t.Errorf("%s, %d-byte buckets: %d of %d buckets staged", layout, bucket, r.Staged(), r.Buckets())
			}
		}
	}
}

// split32 cuts x into slices of the given lengths.
func split32(x []float64, shapes []int) [][]float64 {
	var s [][]float64
	for _, n := range shapes {
		s, x = append(s, x[:n]), x[n:]
	}
	return s
}

// split cuts x into slices of the given lengths: views of x, views
// clipped to their length (as a generated model's Grads are), or copies.
func split(x []float32, shapes []int, layout string) [][]float32 {
	var s [][]float32
	at := 0
	for _, n := range shapes {
		switch layout {
		case "one array":
			s = append(s, x[at:at+n])
		case "clipped views":
			s = append(s, x[at:at+n:at+n])
		default:
			s = append(s, slices.Clone(x[at:at+n]))
		}
		at += n
	}
	return s
}

func check(t *testing.T, c *Comm) {
	parts := func(config string) []Part {
		return []Part{{"model", []byte("gpt IR")}, {"config", []byte(config)}, {"data", []byte("corpus")}}
	}
	if err := c.Check(parts("d=128")...); err != nil {
		t.Errorf("equal parts: %v", err)
	}
	config := "d=128"
	if c.Rank() == 1 {
		config = "d=64"
	}
	err := c.Check(parts(config)...)
	if err == nil || !strings.Contains(err.Error(), "dist: ranks disagree: rank 1 differs from rank 0 in config (sha256 ") || strings.Contains(err.Error(), "rank 2") {
		t.Errorf("rank %d: rank 1's config differs: got %v", c.Rank(), err)
	}
	p := parts("d=128")
	if c.Rank() == c.Size()-1 {
		p = append(p, Part{"seed", []byte("1")})
	}
	err = c.Check(p...)
	if want := fmt.Sprintf("dist: ranks disagree: rank %d passes 4 parts, rank 0 passes 3", c.Size()-1); err == nil || err.Error() != want {
		t.Errorf("rank %d: the last rank passes one more part: got %v, want %s", c.Rank(), err, want)
	}
}

func allocs(t *testing.T, c *Comm) {
	x := make([]float32, 4096)
	big := make([]float32, meanSplit)
	grads := split(make([]float32, 5000), []int{1000, 3000, 1000}, "separate arrays")
	r, err := NewReducer(c, grads, 8000)
	if err != nil {
		t.Fatal(err)
	}
	// In a slice, not a map: every rank must run them in the same order.
	for _, f := range []struct {
		name string
		f    func()
	}{
		{"AllreduceMean", func() { AllreduceMean(c, x) }},
		{"AllreduceMean, large", func() { AllreduceMean(c, big) }},
		{"Broadcast", func() { Broadcast(c, x) }},
		{"Reducer.Mean", func() { r.Mean() }},
	} {
		if n := testing.AllocsPerRun(20, f.f); n != 0 {
			t.Errorf("%s allocates %v times per call", f.name, n)
		}
	}
}
