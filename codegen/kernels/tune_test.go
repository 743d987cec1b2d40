package kernels

import (
	"testing"
	"time"
)

// TestThreadTuner: a pass that takes longer on all threads ends up on one,
// one that takes longer on one ends up on all, and a Pool of one thread is
// never timed. The passes sleep for a time that depends on the thread
// count the tuner set, 2 ms against 6 ms, a difference that other work on
// the machine does not reverse in the median of five calls. A pass that is
// slower on all threads but for one call out of five (a core that is at
// times shared with other work) ends up on one thread.
func TestThreadTuner(t *testing.T) {
	if !tuneOn {
		t.Skip("MLC_TUNE=off")
	}
	p := NewPool(2)
	defer p.Close()
	for _, tc := range []struct {
		name      string
		slowOnAll bool
		luckyAll  bool // the first timed call on all threads is the fastest of all
		want      int
	}{
		{"slower on two", true, false, 1},
		{"slower on one", false, false, 2},
		{"slower on two but once", true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tu ThreadTuner
			seen := map[int]int{}
			for call := range tuneWarmup + 2*tuneRounds + 3 {
				start := tu.Begin(p)
				n := p.Threads()
				seen[n]++
				d := 2 * time.Millisecond
				if (n == 2) == tc.slowOnAll {
					d = 6 * time.Millisecond
				}
				if tc.luckyAll && call == tuneWarmup {
					d = time.Millisecond / 2
				}
				time.Sleep(d)
				tu.End(p, start)
				if call < tuneWarmup+2*tuneRounds-1 && tu.Threads() != 0 {
					t.Fatalf("call %d: chose %d threads before timing every round", call, tu.Threads())
				}
			}
			if tu.Threads() != tc.want {
				t.Fatalf("chose %d threads, want %d (calls on all %v, on one %v)", tu.Threads(), tc.want, tu.times[0], tu.times[1])
			}
			if seen[1] < tuneRounds || seen[2] < tuneWarmup+tuneRounds {
				t.Fatalf("calls per thread count %v: want at least %d on one and %d on two", seen, tuneRounds, tuneWarmup+tuneRounds)
			}
			if p.Threads() != tc.want {
				t.Fatalf("pool left at %d threads", p.Threads())
			}
		})
	}
	var tu ThreadTuner
	one := NewPool(1)
	defer one.Close()
	if start := tu.Begin(one); !start.IsZero() {
		t.Fatal("a one-thread pool's calls are timed")
	}
}

func TestThreadTunerAllocs(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var tu ThreadTuner
	if a := testing.AllocsPerRun(50, func() { tu.End(p, tu.Begin(p)) }); a != 0 {
		t.Fatalf("%v allocations per call", a)
	}
}
