package train

import (
	"strings"
	"testing"
	"time"
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
