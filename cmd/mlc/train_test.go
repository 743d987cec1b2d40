package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlc-dev/mlc/internal/golden"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

// TestTrainXOR: mlc train -model xor runs the reference text's experiment and
// reproduces xor_seed.json: final parameters to 1e-10, every recorded loss
// to 3e-8 (the NumPy program adds 1e-8 inside its logs), and it prints the
// loss at epochs 0, 2000, …, 8000 and the final predictions.
func TestTrainXOR(t *testing.T) {
	testutil.Long(t, "builds generated code")
	t.Setenv("MLC_CACHE", t.TempDir())
	var gold golden.XORSeed
	golden.MustLoad("xor_seed.json", &gold)
	dir := t.TempDir()
	code, out, errs := runCLI("train", "-model", "xor", "-ckpt", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, epoch := range []string{"step      0  loss 0.81466", "step   2000", "step   4000", "step   6000", "step   8000"} {
		if !strings.Contains(out, epoch) {
			t.Errorf("output lacks %q:\n%s", epoch, out)
		}
	}
	if !strings.Contains(out, "yhat [4,1] = [0.00101300379473") {
		t.Errorf("no final predictions:\n%s", out)
	}
	ck, err := safetensors.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 10000 {
		t.Errorf("checkpoint after step %d", ck.Step)
	}
	for name, want := range gold.Final {
		p, ok := ck.Param(name)
		if !ok {
			t.Fatalf("checkpoint lacks %s", name)
		}
		if d := testutil.CompareSlices(p.F64, want.Data, 1e-10); d != "" {
			t.Errorf("final %s: %s", name, d)
		}
	}
	f, err := os.Open(filepath.Join(dir, csvFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 10001 {
		t.Fatalf("loss.csv: %d rows, %v", len(rows), err)
	}
	for i, want := range gold.LossesEvery100 {
		got, _ := strconv.ParseFloat(rows[1+100*i][1], 64)
		if math.Abs(got-want) > 3e-8 {
			t.Errorf("loss at epoch %d: %.12g, recorded %.12g", 100*i, got, want)
		}
	}
	png, err := os.ReadFile(filepath.Join(dir, pngFile))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("loss.png: %v", err)
	}
}

// TestResumeIsBitExact: N steps in one go equal k steps, a saved checkpoint,
// a resume and N−k more, bit for bit, with AdamW, a warmup + cosine
// schedule, clipping and dropout (so the optimizer state, the step counter
// and the dropout generator must all survive the checkpoint).
func TestResumeIsBitExact(t *testing.T) {
	testutil.Long(t, "builds generated code")
	t.Setenv("MLC_CACHE", t.TempDir())
	args := []string{"train", "-model", "mlp", "-config", "sizes=12-16-16-4,batch=8,dropout=0.2", "-opt", "adamw", "-lr", "0.01", "-beta1", "0.85", "-warmup", "3", "-lr-min", "0.001", "-clip", "1", "-steps", "20", "-seed", "7", "-log", "5"}
	whole, parts := t.TempDir(), t.TempDir()
	if code, _, errs := runCLI(append(args, "-ckpt", whole)...); code != 0 {
		t.Fatalf("whole run: %s", errs)
	}
	if code, _, errs := runCLI(append(args, "-ckpt", parts, "-until", "8")...); code != 0 {
		t.Fatalf("first part: %s", errs)
	}
	mid, err := safetensors.LoadCheckpoint(filepath.Join(parts, ckptFile))
	if err != nil || mid.Step != 8 || !mid.HasOptim() {
		t.Fatalf("checkpoint after the first part: step %v, optim %v, %v", mid.Step, mid.HasOptim(), err)
	}
	// The optimizer flags travel with the checkpoint, -beta1 included, so
	// the resumed run below can only be bit-exact if it uses them.
	// So does the whole config, the keys left at their defaults included,
	// so that a changed default cannot change a resumed run.
	if _, st, err := train.LoadCheckpoint(filepath.Join(parts, ckptFile)); err != nil || st.Optimizer.Beta1 != 0.85 || st.Optimizer.Kind != "adamw" ||
		!strings.Contains(st.Config, "act=relu") || !strings.Contains(st.Config, "sizes=12-16-16-4") {
		t.Fatalf("saved settings: %+v, %v", st, err)
	}
	if code, _, errs := runCLI("train", "-resume", "-ckpt", parts); code != 0 {
		t.Fatalf("resume: %s", errs)
	}
	a, err := os.ReadFile(filepath.Join(whole, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(parts, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("resumed run's checkpoint differs from the uninterrupted run's")
	}
	// The CSVs agree too: the resumed run appended steps 8..19.
	ca, _ := os.ReadFile(filepath.Join(whole, csvFile))
	cb, _ := os.ReadFile(filepath.Join(parts, csvFile))
	if !bytes.Equal(ca, cb) {
		t.Fatalf("loss curves differ:\n%s\nvs\n%s", ca, cb)
	}
}

// TestTrainBadCheckpoints: each broken checkpoint gives one line naming the file.
func TestTrainBadCheckpoints(t *testing.T) {
	testutil.Long(t, "builds generated code")
	t.Setenv("MLC_CACHE", t.TempDir())
	good := t.TempDir()
	if code, _, errs := runCLI("train", "-model", "xor", "-steps", "5", "-ckpt", good); code != 0 {
		t.Fatal(errs)
	}
	data, err := os.ReadFile(filepath.Join(good, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	otherModel := t.TempDir()
	if code, _, errs := runCLI("train", "-model", "seedmlp", "-ckpt", otherModel); code != 0 {
		t.Fatal(errs)
	}
	cases := map[string]struct {
		bytes []byte
		model string
		want  string
	}{
		"truncated":        {data[:len(data)/2], "", "truncated"},
		"corrupted header": {append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, []byte("{\"a\": 1}")...), "", "header"},
		"missing":          {nil, "", "no such file"},
		"another model":    {nil, "xor", `written for model "seedmlp", not "xor"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			switch {
			case name == "another model":
				dir = otherModel
			case c.bytes != nil:
				if err := os.WriteFile(filepath.Join(dir, ckptFile), c.bytes, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"train", "-resume", "-ckpt", dir}
			if c.model != "" {
				args = append(args, "-model", c.model)
			}
			code, _, errs := runCLI(args...)
			path := filepath.Join(dir, ckptFile)
			if code != 1 || !strings.Contains(errs, path) || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("exit %d, stderr %q; want one line naming %s and %q", code, errs, path, c.want)
			}
		})
	}
}

// TestTrainInterrupt: Ctrl-C (SIGINT) stops training after the current
// step, saves a checkpoint and exits cleanly; the run then resumes.
func TestTrainInterrupt(t *testing.T) {
	testutil.Long(t, "builds mlc and generated code")
	cache := t.TempDir()
	bin := filepath.Join(t.TempDir(), "mlc")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mlc: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "train", "-model", "xor", "-steps", "100000000", "-log", "2000", "-ckpt", dir)
	cmd.Env = append(os.Environ(), "MLC_CACHE="+cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var stdout strings.Builder
	timeout := time.After(60 * time.Second)
	for started := false; !started; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("mlc exited early:\n%s", stdout.String())
			}
			stdout.WriteString(l + "\n")
			started = strings.HasPrefix(l, "step   4000")
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("training did not start:\n%s", stdout.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		stdout.WriteString(l + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted after step") || !strings.Contains(stdout.String(), "saved ") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	ck, err := safetensors.LoadCheckpoint(filepath.Join(dir, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step < 4000 || ck.Step >= 100000000 {
		t.Fatalf("checkpoint after step %d", ck.Step)
	}
}
