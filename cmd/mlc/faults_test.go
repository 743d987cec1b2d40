package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

// The fault-injection suite: runs of mlc train killed at random moments,
// stopped by SIGTERM, diverging, or started over another run. Each checks
// its outcome: nothing lost, the checkpoint loads, and resuming gives what
// an uninterrupted run gives, bit for bit.

// builtMLC is mlc built once per test binary for a set of build tags.
type builtMLC struct {
	once sync.Once
	path string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*builtMLC{}
)

// mlcBuild builds mlc (with the build tags, "" for none) once, for the
// tests that run it as a process.
func mlcBuild(t *testing.T, tags string) string {
	t.Helper()
	buildsMu.Lock()
	b := builds[tags]
	if b == nil {
		b = &builtMLC{}
		builds[tags] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "mlc-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "mlc")
		if out, err := exec.Command("go", "build", "-tags", tags, "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("building mlc (tags %q): %v", tags, b.err)
	}
	return b.path
}

// mlcBinary is mlc built without build tags.
func mlcBinary(t *testing.T) string { return mlcBuild(t, "") }

// faultArgs is a small run with everything a checkpoint must carry: AdamW,
// a warmup + cosine schedule, clipping, dropout and a save after every step.
var faultArgs = []string{"train", "-model", "mlp", "-config", "sizes=12-16-16-4,batch=8,dropout=0.2", "-opt", "adamw", "-lr", "0.01",
	"-warmup", "3", "-lr-min", "0.001", "-clip", "1", "-steps", "300", "-seed", "3", "-log", "50"}

// reference trains faultArgs without interruption and returns its
// checkpoint and loss.csv.
func reference(t *testing.T, bin, cache string) (ckpt, lossCSV []byte) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, append(faultArgs, "-ckpt", dir)...)
	cmd.Env = append(os.Environ(), "MLC_CACHE="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	return readFile(t, filepath.Join(dir, ckptFile)), readFile(t, filepath.Join(dir, csvFile))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runners lists the live processes running a binary under dir.
func runners(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && strings.HasPrefix(exe, dir) {
			out = append(out, p)
		}
	}
	return out
}

// checkConsistent checks that dir's checkpoint loads and loss.csv holds a
// row for each of its steps, none of them non-finite.
func checkConsistent(t *testing.T, dir string) int64 {
	t.Helper()
	ck, err := safetensors.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil {
		t.Fatalf("the checkpoint does not load after the kill: %v", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(readFile(t, filepath.Join(dir, csvFile)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(rows)-1) < ck.Step {
		t.Fatalf("loss.csv has %d rows for a checkpoint after step %d", len(rows)-1, ck.Step)
	}
	return ck.Step
}

// TestKillDuringSaves: kill -9 at random moments of a run that saves after
// every step; each time the checkpoint loads, loss.csv covers it, no runner
// outlives mlc, and resuming to the end equals the uninterrupted run.
func TestKillDuringSaves(t *testing.T) {
	testutil.Long(t, "runs mlc train many times")
	bin := mlcBinary(t)
	cache := t.TempDir()
	wantCkpt, wantCSV := reference(t, bin, cache)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for attempt := 0; attempt < 8; attempt++ {
		args := append(append([]string{}, faultArgs...), "-save-every", "1", "-ckpt", dir)
		if _, err := os.Stat(filepath.Join(dir, ckptFile)); err == nil {
			args = []string{"train", "-resume", "-ckpt", dir, "-save-every", "1"}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "MLC_CACHE="+cache)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d failed: %v\n%s", attempt, err, out.String())
			}
			attempt = 1 << 20 // finished before a kill
			continue
		case <-time.After(time.Duration(300+r.IntN(700)) * time.Millisecond):
		}
		cmd.Process.Kill()
		<-done
		kills++
		time.Sleep(100 * time.Millisecond)
		if left := runners(cache); len(left) > 0 {
			t.Fatalf("a runner outlived the killed mlc: %v", left)
		}
		if _, err := os.Stat(filepath.Join(dir, ckptFile)); err == nil {
			checkConsistent(t, dir)
		}
	}
	if kills == 0 {
		t.Fatal("no run was killed: the runs finished too fast to test anything")
	}
	if _, err := os.Stat(filepath.Join(dir, ckptFile)); err == nil {
		cmd := exec.Command(bin, "train", "-resume", "-ckpt", dir)
		cmd.Env = append(os.Environ(), "MLC_CACHE="+cache)
		if b, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(b), "the run is complete") {
			t.Fatalf("final resume: %v\n%s", err, b)
		}
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, ckptFile)), wantCkpt) {
		t.Error("after the kills and resumes, the checkpoint differs from the uninterrupted run's")
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, csvFile)), wantCSV) {
		t.Error("after the kills and resumes, loss.csv differs from the uninterrupted run's")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, safetensors.TempPrefix+"*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	t.Logf("%d kills", kills)
}

// TestSIGTERMSaves: SIGTERM (and SIGHUP) stop the run after the current
// step with a checkpoint, like Ctrl-C; the resumed run equals an
// uninterrupted one.
func TestSIGTERMSaves(t *testing.T) {
	testutil.Long(t, "runs mlc train")
	bin := mlcBinary(t)
	cache := t.TempDir()
	wantCkpt, wantCSV := reference(t, bin, cache)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, append(append([]string{}, faultArgs...), "-log", "1", "-ckpt", dir)...)
			cmd.Env = append(os.Environ(), "MLC_CACHE="+cache)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			pipe, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(pipe)
			for sc.Scan() && !strings.HasPrefix(sc.Text(), "step     20") {
			}
			cmd.Process.Signal(sig)
			for sc.Scan() {
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit after %v: %v\n%s", sig, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted after step") {
				t.Fatalf("stderr: %s", stderr.String())
			}
			step := checkConsistent(t, dir)
			if step < 20 || step >= 300 {
				t.Fatalf("checkpoint after step %d", step)
			}
			res := exec.Command(bin, "train", "-resume", "-ckpt", dir)
			res.Env = cmd.Env
			if b, err := res.CombinedOutput(); err != nil {
				t.Fatalf("resume: %v\n%s", err, b)
			}
			if !bytes.Equal(readFile(t, filepath.Join(dir, ckptFile)), wantCkpt) || !bytes.Equal(readFile(t, filepath.Join(dir, csvFile)), wantCSV) {
				t.Error("the resumed run differs from the uninterrupted one")
			}
		})
	}
}

// TestDivergenceStops: a learning rate far too large makes the loss
// non-finite; the run stops there with the text's advice, the last good
// checkpoint stays, loadable and finite, and the plot is drawn.
func TestDivergenceStops(t *testing.T) {
	testutil.Long(t, "runs mlc train")
	t.Setenv("MLC_CACHE", t.TempDir())
	dir := t.TempDir()
	code, _, errs := runCLI("train", "-model", "mlp", "-config", "sizes=12-16-4,batch=8", "-lr", "1e6", "-steps", "50", "-save-every", "1", "-ckpt", dir)
	if code != 1 || !strings.Contains(errs, "training diverged at step") || !strings.Contains(errs, "lower the learning rate") ||
		!strings.Contains(errs, "the last good checkpoint") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	ck, err := safetensors.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ck.Params {
		for _, v := range p.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("the kept checkpoint holds a non-finite %s", p.Name)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, pngFile)); err != nil {
		t.Error(err)
	}
}

// TestFreshRunRefusesExisting: a fresh run into a directory holding a
// checkpoint is refused, naming the model there, and changes nothing;
// -force replaces it.
func TestFreshRunRefusesExisting(t *testing.T) {
	testutil.Long(t, "runs mlc train")
	t.Setenv("MLC_CACHE", t.TempDir())
	dir := t.TempDir()
	if code, _, errs := runCLI("train", "-model", "mlp", "-config", "sizes=12-16-4,batch=8", "-steps", "5", "-ckpt", dir); code != 0 {
		t.Fatal(errs)
	}
	before := snapshotDir(t, dir)
	code, _, errs := runCLI("train", "-model", "xor", "-steps", "10", "-ckpt", dir)
	if code != 1 || !strings.Contains(errs, `holds a checkpoint of model "mlp" after step 5`) || !strings.Contains(errs, "-force") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if after := snapshotDir(t, dir); after != before {
		t.Fatalf("the refused run changed the directory:\n%s\nvs\n%s", before, after)
	}
	if code, _, errs := runCLI("train", "-model", "xor", "-steps", "10", "-ckpt", dir, "-force"); code != 0 {
		t.Fatal(errs)
	}
	if ck, _, err := train.LoadCheckpoint(filepath.Join(dir, ckptFile)); err != nil || ck.Model != "xor" || ck.Step != 10 {
		t.Fatalf("after -force: %v", err)
	}
}

// snapshotDir lists a directory's files with their contents' sizes and
// hashes, for comparing before and after.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		data := readFile(t, filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s %d bytes\n%s\n", e.Name(), len(data), data)
	}
	return b.String()
}

// TestResumeMovesHorizon: the README's resume example trains: -resume
// -steps N after a run with a warmup and cosine schedule moves the
// schedule's end to N, so the weights change (they stayed byte-identical
// when the old horizon kept the rate at -lr-min 0).
func TestResumeMovesHorizon(t *testing.T) {
	testutil.Long(t, "runs mlc train")
	t.Setenv("MLC_CACHE", t.TempDir())
	dir := t.TempDir()
	if code, _, errs := runCLI("train", "-model", "mlp", "-config", "sizes=12-16-4,batch=8", "-opt", "adamw", "-lr", "0.003", "-warmup", "5", "-steps", "30", "-ckpt", dir); code != 0 {
		t.Fatal(errs)
	}
	before, _, err := train.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("train", "-resume", "-ckpt", dir, "-steps", "60")
	if code != 0 || !strings.Contains(out, "for 60 steps") {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	after, st, err := train.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil || after.Step != 60 || st.Optimizer.Steps != 60 {
		t.Fatalf("after the resume: step %d, schedule end %d, %v", after.Step, st.Optimizer.Steps, err)
	}
	p0, _ := before.Param("W1")
	p1, _ := after.Param("W1")
	if slices.Equal(p0.F32, p1.F32) {
		t.Fatal("the resumed steps did not change the weights")
	}
	code, _, errs = runCLI("train", "-resume", "-ckpt", dir)
	if code != 1 || !strings.Contains(errs, "the run is complete (step 60 of 60)") {
		t.Fatalf("a complete run resumed without -steps: exit %d, %s", code, errs)
	}
}
