package train

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/generated/xor"
)

// TestProgress: the line shows step, rate, ETA and loss; redraws are
// throttled to progressEvery; a log line and the end clear it.
func TestProgress(t *testing.T) {
	var b strings.Builder
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	p := newProgress(&b, 100, 300)
	p.now = func() time.Time { return now }
	p.began = t0

	now = t0.Add(2 * time.Second)
	p.update(120, 1.23456)
	if got, want := b.String(), "\rstep 120/300  10.0 steps/s  ETA 18s  loss 1.2346"; got != want {
		t.Fatalf("first line %q, want %q", got, want)
	}
	b.Reset()
	now = now.Add(50 * time.Millisecond)
	p.update(121, 1.2)
	if b.Len() != 0 {
		t.Fatalf("redrawn after 50ms: %q", b.String())
	}
	now = now.Add(60 * time.Millisecond)
	p.update(130, 1.1)
	if got := b.String(); !strings.HasPrefix(got, "\rstep 130/300 ") || !strings.Contains(got, "loss 1.1000") {
		t.Fatalf("second line %q", got)
	}

	b.Reset()
	width := p.width
	p.Write([]byte("step    130  validation loss 1.0\n"))
	if got, want := b.String(), "\r"+strings.Repeat(" ", width)+"\rstep    130  validation loss 1.0\n"; got != want {
		t.Fatalf("log line written as %q, want %q", got, want)
	}
	b.Reset()
	now = now.Add(time.Millisecond)
	p.update(131, 1.0)
	if !strings.HasPrefix(b.String(), "\rstep 131/300") {
		t.Fatalf("not redrawn after a log line: %q", b.String())
	}
	b.Reset()
	p.clear()
	if got := b.String(); got != "\r"+strings.Repeat(" ", width)+"\r" {
		t.Fatalf("clear wrote %q", got)
	}
	b.Reset()
	p.clear()
	if b.Len() != 0 {
		t.Fatalf("a second clear wrote %q", b.String())
	}
}

// TestRunProgress: with Options.Progress, Run draws the progress line
// instead of the periodic log lines, and clears it before its last line.
func TestRunProgress(t *testing.T) {
	st := Settings{Model: "xor", DType: "f64", Steps: 2000}
	st.Optimizer.Kind, st.Optimizer.LR = "sgd", 0.1
	ds, _ := data.New(data.Options{Example: xorBatch()})
	var b strings.Builder
	if _, err := Run(context.Background(), Local[float64](xor.New()), Options{Settings: st, Data: ds, Log: 500, Out: &b, Progress: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "\rstep 500/2000  ") || strings.Contains(out, "step    500  loss") {
		t.Fatalf("no progress line, or log lines with it:\n%q", out)
	}
	i := strings.LastIndex(out, "\r")
	j := strings.LastIndex(out[:i], "\r")
	if strings.Trim(out[j+1:i], " ") != "" || !strings.HasPrefix(out[i+1:], "step   1999  loss ") {
		t.Fatalf("the line is not cleared before the last log line:\n%q", out)
	}
}
