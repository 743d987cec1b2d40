package kernels

import (
	"os"
	"time"
)

// A ThreadTuner chooses the thread count of one entry point of a generated
// model (its forward, backward or update pass, Predict's pass, Prefill's,
// DecodeStep's). Splitting a kernel between cores pays only when the kernel
// is large enough, and whether a whole pass gains depends on more than each
// kernel's size: on a small model two threads can take longer than one,
// because each core then reads what the other wrote. So the tuner measures:
// after tuneWarmup untimed calls on all of the Pool's threads (buffers grow,
// caches fill), it times tuneRounds calls on all threads and tuneRounds on
// one, alternating, and from then on runs the pass on whichever was faster
// by its median call. (The fastest call, used at first, favoured whichever
// count varied more: on a machine whose second core is at times shared
// with other work, a two-thread pass with one lucky call out of five won
// and then ran slower than one thread for good.)
// The choice changes speed only: every kernel computes each element by the
// same expression however it is split, so the results are the same bits.
//
// MLC_TUNE=off, read when the package is initialised, turns it off: every
// call then uses all of the Pool's threads.
type ThreadTuner struct {
	calls   int
	times   [2][tuneRounds]time.Duration // the timed calls on all threads, on one
	threads int                          // the choice, 0 while timing
}

const (
	tuneWarmup = 2
	tuneRounds = 5
)

// tuneOn is false when MLC_TUNE=off.
var tuneOn = os.Getenv("MLC_TUNE") != "off"

// Begin sets p's thread count for the call about to run and returns when
// it started (the zero time when the call is not timed); pass it to End
// when the call returns.
func (t *ThreadTuner) Begin(p *Pool) time.Time {
	all := len(p.workers)
	switch {
	case all == 1 || !tuneOn:
		p.setActive(all)
		return time.Time{}
	case t.threads > 0:
		p.setActive(t.threads)
		return time.Time{}
	}
	n := all
	if i := t.calls - tuneWarmup; i >= 0 && i%2 == 1 {
		n = 1
	}
	p.setActive(n)
	return time.Now()
}

// End records a call that Begin timed, and makes the choice after the last.
func (t *ThreadTuner) End(p *Pool, start time.Time) {
	if start.IsZero() {
		return
	}
	d := time.Since(start)
	i := t.calls - tuneWarmup
	t.calls++
	if i < 0 {
		return
	}
	t.times[i%2][i/2] = d
	if i+1 == 2*tuneRounds {
		t.threads = len(p.workers)
		if t.median(1) <= t.median(0) {
			t.threads = 1
		}
	}
}

// median returns the median of the timed calls on all threads (k = 0) or
// on one (k = 1), sorting them in place.
func (t *ThreadTuner) median(k int) time.Duration {
	ts := &t.times[k]
	for i := 1; i < len(ts); i++ { // insertion sort: five values, no allocation
		for j := i; j > 0 && ts[j] < ts[j-1]; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
	return ts[len(ts)/2]
}

// Threads returns the thread count t chose, or 0 while it is timing.
func (t *ThreadTuner) Threads() int { return t.threads }
