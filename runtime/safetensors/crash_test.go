package safetensors

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The child mode of TestKillDuringSave: the path to save to, and the first
// version to write.
const (
	crashPathEnv  = "MLC_SAFETENSORS_CRASH_PATH"
	crashStartEnv = "MLC_SAFETENSORS_CRASH_START"
)

// crashRounds is how many children are killed; each kill lands inside a
// save, so four rounds already leave temporary files to check, and the test
// stays within a few seconds under the race detector.
const crashRounds = 4

// crashElems sizes the checkpoint so that one save (24 MiB, written and
// synced) takes long enough for a kill to land inside it.
const crashElems = 4 << 20

// crashCheckpoint fills c with version v of the child's checkpoint, reusing
// its buffers. Every element depends on v, so a file mixing two versions
// fails checkCrashCheckpoint.
func crashCheckpoint(c *Checkpoint, v int) *Checkpoint {
	if c == nil {
		c = &Checkpoint{
			Model:  "crash",
			Params: []Tensor{{Name: "W", DType: F32, Shape: []int{crashElems / 1024, 1024}, F32: make([]float32, crashElems)}},
			Optim:  []Tensor{{Name: "W.m", DType: F64, Shape: []int{crashElems / 4}, F64: make([]float64, crashElems/4)}},
		}
	}
	c.Step = int64(v)
	for i := range c.Params[0].F32 {
		c.Params[0].F32[i] = float32(v) + float32(i%997)
	}
	for i := range c.Optim[0].F64 {
		c.Optim[0].F64[i] = float64(v) * float64(i)
	}
	return c
}

// checkCrashCheckpoint returns the version of a complete checkpoint from
// crashCheckpoint, or an error.
func checkCrashCheckpoint(c *Checkpoint) (int, error) {
	v := int(c.Step)
	if err := c.Verify("crash", []Spec{{Name: "W", DType: F32, Shape: []int{crashElems / 1024, 1024}}}); err != nil {
		return 0, err
	}
	if err := c.VerifyOptim([]Spec{{Name: "W.m", DType: F64, Shape: []int{crashElems / 4}}}); err != nil {
		return 0, err
	}
	for i, x := range c.Params[0].F32 {
		if x != float32(v)+float32(i%997) {
			return 0, fmt.Errorf("W[%d] = %v, not from version %d", i, x, v)
		}
	}
	for i, x := range c.Optim[0].F64 {
		if x != float64(v)*float64(i) {
			return 0, fmt.Errorf("W.m[%d] = %v, not from version %d", i, x, v)
		}
	}
	return v, nil
}

// crashChild saves successive versions to path until it is killed,
// printing "saving N" before and "saved N" after each save. It gives up
// after a while in case the parent died.
func crashChild(t *testing.T, path string) {
	v, err := strconv.Atoi(os.Getenv(crashStartEnv))
	if err != nil {
		t.Fatal(err)
	}
	var c *Checkpoint
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); v++ {
		c = crashCheckpoint(c, v)
		fmt.Printf("saving %d\n", v)
		if err := SaveCheckpoint(path, c); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("saved %d\n", v)
	}
}

// TestKillDuringSave kills a process that saves checkpoints in a loop with
// SIGKILL at random moments. The file at the path must always be one
// complete version: the last one the child reported or, if the kill came
// between the rename and the report, the next.
func TestKillDuringSave(t *testing.T) {
	if path := os.Getenv(crashPathEnv); path != "" {
		crashChild(t, path)
		return
	}
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("cannot start a subprocess")
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	next := 1
	for round := range crashRounds {
		reported := killChildMidSave(t, path, next, round)
		c, err := LoadCheckpoint(path)
		if err != nil {
			t.Fatalf("round %d: after the kill: %v", round, err)
		}
		v, err := checkCrashCheckpoint(c)
		if err != nil {
			t.Fatalf("round %d: after the kill: %v", round, err)
		}
		if v != reported && v != reported+1 {
			t.Fatalf("round %d: file holds version %d, the child last reported %d", round, v, reported)
		}
		next = v + 1
	}

	// Kills mid-save leave temporary files; they are identifiable and do
	// not get in the way of the next save.
	temps, err := TempFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(temps) == 0 {
		t.Fatal("no kill landed mid-save (no temporary file left); the test proved nothing")
	}
	if all, err := os.ReadDir(filepath.Dir(path)); err != nil || len(all) != 1+len(temps) {
		t.Fatalf("directory holds %d files, TempFiles found %d besides the checkpoint (%v)", len(all), len(temps), err)
	}
	if err := SaveCheckpoint(path, crashCheckpoint(nil, next)); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := checkCrashCheckpoint(c); err != nil || v != next {
		t.Fatalf("save after the kills: version %d, %v; want %d", v, err, next)
	}
	t.Logf("%d temporary files left by kills", len(temps))
}

// killChildMidSave starts a child that saves versions first, first+1, … to
// path, waits for its first completed save, then kills it at a random point
// of a later save and returns the last version it reported saved.
func killChildMidSave(t *testing.T, path string, first, round int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringSave$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashStartEnv+"="+strconv.Itoa(first))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	type event struct {
		saved bool // "saved N" rather than "saving N"
		v     int
		at    time.Time
	}
	events := make(chan event)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			verb, num, _ := strings.Cut(sc.Text(), " ")
			if v, err := strconv.Atoi(num); err == nil && (verb == "saving" || verb == "saved") {
				events <- event{verb == "saved", v, time.Now()}
			}
		}
	}()
	reported := first - 1 // the last version the child reported saved
	next := func() event {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("round %d: the child exited before it was killed", round)
			}
			if e.saved {
				reported = e.v
			}
			return e
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the child printed nothing for 30s", round)
		}
		panic("unreachable")
	}

	// Time one complete save, then kill the following one at a random
	// point within that duration.
	var began time.Time
	for {
		e := next()
		if !e.saved {
			began = e.at
		} else if !began.IsZero() {
			break
		}
	}
	took := time.Since(began)
	for next().saved {
	}
	delay := time.Duration(rand.Int64N(int64(took)))
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	for e := range events { // whatever was already in the pipe
		if e.saved {
			reported = e.v
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("round %d: the child exited cleanly, it was meant to be killed", round)
	}
	t.Logf("round %d: a save took %v, killed %v into the next; last reported version %d", round, took.Round(time.Millisecond), delay.Round(time.Millisecond), reported)
	return reported
}
