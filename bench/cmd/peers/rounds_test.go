package main

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
)

func res(w, tool string, threads, round int, times ...float64) row {
	return row{Result: benchutil.Result{Workload: w, Tool: tool, Threads: threads, Unit: "step", Times: times}, Round: round}
}

// TestRoundsAndBestPeer checks the merge of rounds, the per-round ratios
// and the choice of each peer's best thread count up to mlc's.
func TestRoundsAndBestPeer(t *testing.T) {
	*rounds = 3
	jobs := []job{
		{tool: "mlc", threads: 1, workloads: []string{"w"}},
		{tool: "mlc", threads: 2, workloads: []string{"w"}},
		{tool: "peer", threads: 1, workloads: []string{"w"}},
		{tool: "peer", threads: 2, workloads: []string{"w"}},
	}
	// Round 2 is slow for everyone (background load): per-round ratios
	// cancel it. The peer at 2 threads is slower than at 1 except in round 3.
	raw := []row{
		res("w", "peer", 2, 1, 30, 30, 30), res("w", "mlc", 1, 1, 10, 11, 9), res("w", "peer", 1, 1, 20, 20), res("w", "mlc", 2, 1, 6),
		res("w", "mlc", 1, 2, 40), res("w", "peer", 1, 2, 80), res("w", "mlc", 2, 2, 24), res("w", "peer", 2, 2, 120),
		res("w", "mlc", 1, 3, 10), res("w", "peer", 1, 3, 20), res("w", "mlc", 2, 3, 6), res("w", "peer", 2, 3, 12),
	}
	rep := &report{Rounds: 3, Results: mergeRounds(raw, jobs)}
	if len(rep.Results) != 4 || rep.Results[0].Tool != "mlc" || rep.Results[0].Threads != 1 || rep.Results[3].Threads != 2 {
		t.Fatalf("merged rows out of the jobs' order: %+v", rep.Results)
	}
	finish(rep, 0)
	m1 := rep.Results[0]
	if len(m1.Times) != 5 || len(m1.RoundMedians) != 3 || m1.Median != 10 {
		t.Errorf("mlc 1t: %d times, round medians %v, median %v; want 5, [10 40 10], 10", len(m1.Times), m1.RoundMedians, m1.Median)
	}
	want := map[int]struct {
		threads int
		ratio   float64
	}{
		1: {1, 0.5}, // 10/20, 40/80, 10/20
		2: {1, 0.3}, // 6/20, 24/80, 6/12 (round 3's best is 2 threads): median 0.3
	}
	if len(rep.Best) != 2 {
		t.Fatalf("best-peer rows: %+v", rep.Best)
	}
	for _, s := range rep.Best {
		w := want[s.Threads]
		if s.Peer != "peer" || s.PeerThreads != w.threads || math.Abs(s.Ratio-w.ratio) > 1e-12 || s.Rounds != 3 {
			t.Errorf("mlc %dt: peer %s at %dt, ratio %v over %d rounds; want peer at %dt, %v over 3", s.Threads, s.Peer, s.PeerThreads, s.Ratio, s.Rounds, w.threads, w.ratio)
		}
	}
	// The detailed table's ratio: the peer's time over mlc's at the same
	// thread count, per round.
	if p2 := rep.Results[3]; math.Abs(p2.VsMLC-5) > 1e-12 || p2.VsMLCRounds != 3 {
		t.Errorf("peer 2t ÷ mlc %v over %d rounds, want 5 over 3", p2.VsMLC, p2.VsMLCRounds)
	}
}

// TestSkippedRound checks that a row skipped in every round is skipped,
// and one skipped in some rounds keeps the others and says so.
func TestSkippedRound(t *testing.T) {
	*rounds = 2
	jobs := []job{{tool: "a", threads: 1, workloads: []string{"w"}}, {tool: "b", threads: 1, workloads: []string{"w"}}}
	sk := func(tool string, round int) row {
		r := res("w", tool, 1, round)
		r.Skipped = "broken"
		return r
	}
	rs := mergeRounds([]row{sk("a", 1), sk("a", 2), sk("b", 1), res("w", "b", 1, 2, 3)}, jobs)
	if rs[0].Skipped != "broken" {
		t.Errorf("a: skipped %q, want broken", rs[0].Skipped)
	}
	if rs[1].Skipped != "" || len(rs[1].Times) != 1 || rs[1].Note == "" {
		t.Errorf("b: %+v, want one time and a note of the skipped round", rs[1])
	}
}

// TestRoofline checks the bound and the fraction: bytes ÷ the bandwidth of
// the smallest working set that holds them.
func TestRoofline(t *testing.T) {
	*rounds = 1
	tok := res("tok", "mlc", 1, 1, 100e-6)
	tok.Bytes = 2e6
	small, big, huge := res("bw small", "read kernel", 1, 1, 1e-6), res("bw big", "read kernel", 1, 1, 100e-6), res("bw huge", "read kernel", 1, 1, 1)
	small.Bytes, big.Bytes, huge.Bytes = 1e5, 8e6, 2.56e8 // 100 GB/s, 80 GB/s, 256 GB/s
	jobs := []job{{tool: "mlc", threads: 1, workloads: []string{"tok"}}, {tool: "read kernel", threads: 1, workloads: []string{"bw small", "bw big", "bw huge"}}}
	rep := &report{Results: mergeRounds([]row{tok, small, big, huge}, jobs)}
	finish(rep, 0)
	if len(rep.Roofline) != 1 {
		t.Fatalf("roofline: %+v", rep.Roofline)
	}
	r := rep.Roofline[0]
	// 2 MB at 80 GB/s: 25 µs, against 100 µs.
	if r.Level != "bw big" || math.Abs(r.Bound-25e-6) > 1e-12 || math.Abs(r.Fraction-0.25) > 1e-9 {
		t.Errorf("roofline %+v; want bw big, bound 25 µs, fraction 0.25", r)
	}
}
