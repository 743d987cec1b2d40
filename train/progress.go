package train

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress is the one-line progress display Run shows on a terminal
// (Options.Progress): step n/N, steps per second, the time left and the
// last loss, rewritten in place with \r at most ten times a second and
// cleared at the end, so that the run's log lines stay as they are.
type progress struct {
	w           io.Writer
	total       int
	start, step int
	loss        float64
	began, last time.Time
	width       int // of the line on screen, to blank it
	now         func() time.Time
}

// progressEvery is the least time between two redraws.
const progressEvery = 100 * time.Millisecond

func newProgress(w io.Writer, start, total int) *progress {
	p := &progress{w: w, total: total, start: start, step: start, now: time.Now}
	p.began = p.now()
	return p
}

// update records that step steps are done, the last with the given loss,
// and redraws the line unless it did less than progressEvery ago.
func (p *progress) update(step int, loss float64) {
	p.step, p.loss = step, loss
	if t := p.now(); t.Sub(p.last) >= progressEvery {
		p.last = t
		p.draw(p.line(t))
	}
}

// line is the text of the line at time t.
func (p *progress) line(t time.Time) string {
	done := p.step - p.start
	el := t.Sub(p.began).Seconds()
	s := fmt.Sprintf("step %d/%d", p.step, p.total)
	if done > 0 && el > 0 {
		rate := float64(done) / el
		left := time.Duration(float64(p.total-p.step) / rate * float64(time.Second))
		s += fmt.Sprintf("  %.1f steps/s  ETA %s  loss %.4f", rate, left.Round(time.Second), p.loss)
	}
	return s
}

func (p *progress) draw(s string) {
	pad := max(p.width-len(s), 0)
	fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
	p.width = len(s)
}

// clear blanks the line and returns the cursor to its start, for the
// text that follows (the final log line, an error).
func (p *progress) clear() {
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}

// Write clears the line before a log line (a validation loss) goes out;
// the next update draws it again under it.
func (p *progress) Write(b []byte) (int, error) {
	p.clear()
	p.last = time.Time{}
	return p.w.Write(b)
}
