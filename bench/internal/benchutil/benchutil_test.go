package benchutil

import (
	"testing"
	"time"
)

// TestMeasureWarmsAfterGC checks that each repetition's timed calls follow
// an untimed call (or setup) rather than the collection, except for slow
// calls, and that the times are per call.
func TestMeasureWarmsAfterGC(t *testing.T) {
	calls, setups := 0, 0
	times, _ := Measure(1, 3, 2, nil, func() { calls++ })
	if len(times) != 3 || calls != 1+3*(1+2) {
		t.Errorf("fast f: %d times, %d calls; want 3 and %d (warm-up, then an untimed call and 2 timed per repetition)", len(times), calls, 1+3*3)
	}
	calls = 0
	Measure(1, 3, 1, func() { setups++ }, func() { calls++ })
	if calls != 1+3 || setups != 1+3 {
		t.Errorf("with setup: %d calls, %d setups; want 4 and 4 (setup is the warm call)", calls, setups)
	}
	calls = 0
	times, _ = Measure(1, 2, 1, nil, func() { calls++; time.Sleep(11 * time.Millisecond) })
	if calls != 1+2 || times[0] < 0.011 {
		t.Errorf("slow f: %d calls, times %v; want 3 calls (no extra call) of at least 11 ms", calls, times)
	}
}
