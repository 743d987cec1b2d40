package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// pyEnv is the environment the Python processes get besides their thread
// counts: OMP_WAIT_POLICY, OpenBLAS's kernels (OPENBLAS_CORETYPE) and, with
// Debian's OpenMP build of OpenBLAS, a library path that loads it (see
// pythonEnv).
var pyEnv []string

// pythonEnv picks the Python processes' thread-pool settings.
//
// PyTorch runs its own operators on an OpenMP pool (libgomp) and its matrix
// products in whatever libblas.so.3 is. Debian's default OpenBLAS is the
// pthreads build, so at 2 threads there are two pools of 2 threads on 2
// cores; with libgomp's default spin-waiting they fight, and PyTorch at 2
// threads was slower than at 1. Debian's libopenblas0-openmp is OpenBLAS
// built on OpenMP: loaded instead (through LD_LIBRARY_PATH, for these
// processes only), ATen and BLAS share one pool. -blas and -omp-wait choose;
// README.md gives the measurements behind the defaults.
func pythonEnv() []string {
	var env []string
	if *ompWait != "unset" {
		env = append(env, "OMP_WAIT_POLICY="+strings.ToUpper(*ompWait))
	}
	switch core := *obCore; core {
	case "auto":
		// OpenBLAS 0.3.21 (Debian 12) picks its Haswell (AVX2) kernels on
		// AMD CPUs with AVX-512; its SkylakeX kernels need AVX-512 F, CD,
		// BW, DQ and VL, and were 1.2-2.5x faster at sgemm n=256-1024 here.
		if cpuHas("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl") {
			env = append(env, "OPENBLAS_CORETYPE=SKYLAKEX")
		}
	case "off":
	default:
		env = append(env, "OPENBLAS_CORETYPE="+core)
	}
	variant := *blasVar
	find := func(v string) string {
		m, _ := filepath.Glob("/usr/lib/*/openblas-" + v + "/libblas.so.3")
		if len(m) == 0 {
			return ""
		}
		return filepath.Dir(m[0])
	}
	switch variant {
	case "auto":
		if dir := find("openmp"); dir != "" {
			variant = "openmp"
		} else {
			return env // whatever libblas.so.3 the system selects
		}
	case "openmp", "pthread":
	default:
		fatalf("peers: -blas must be openmp, pthread or auto")
	}
	dir := find(variant)
	if dir == "" {
		fatalf("peers: -blas %s: no /usr/lib/*/openblas-%s/libblas.so.3 (apt-get install -y libopenblas0-%s)", variant, variant, variant)
	}
	path := dir
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		path += ":" + old
	}
	return append(env, "LD_LIBRARY_PATH="+path)
}

// rowKey identifies a row across rounds.
type rowKey struct {
	workload, tool string
	threads        int
}

// mergeRounds gathers each row's rounds into one row: the times of every
// round, and the median of each round (perRound), from which finish takes
// the row's median and its ratios. Rows come out in the order of jobs.
func mergeRounds(raw []row, jobs []job) []row {
	pos := map[rowKey]int{}
	for i, j := range jobs {
		for _, w := range j.workloads {
			pos[rowKey{w, j.tool, j.threads}] = i
		}
	}
	merged := map[rowKey]*row{}
	var keys []rowKey
	for _, r := range raw {
		k := rowKey{r.Workload, r.Tool, r.Threads}
		m := merged[k]
		if m == nil {
			m = &row{perRound: map[int]float64{}}
			*m = r
			m.perRound = map[int]float64{}
			m.Times = nil
			m.Skipped = ""
			merged[k] = m
			keys = append(keys, k)
		}
		if r.Skipped != "" {
			m.skips = append(m.skips, fmt.Sprintf("round %d: %s", r.Round, r.Skipped))
			continue
		}
		if len(m.Times) == 0 {
			// The first round that ran gives the record's fields.
			skips, pr := m.skips, m.perRound
			*m = r
			m.skips, m.perRound, m.Times = skips, pr, nil
		}
		m.Times = append(m.Times, r.Times...)
		m.perRound[r.Round] = median(r.Times)
		if r.Allocs != nil && (m.Allocs == nil || *r.Allocs > *m.Allocs) {
			m.Allocs = r.Allocs // the most of any round
		}
		if r.FinalLoss != nil {
			m.FinalLoss = r.FinalLoss
		}
		if r.Note != "" && !strings.Contains(m.Note, r.Note) {
			m.Note = strings.TrimPrefix(m.Note+"; "+r.Note, "; ")
		}
	}
	slices.SortStableFunc(keys, func(a, b rowKey) int { return pos[a] - pos[b] })
	var out []row
	for _, k := range keys {
		m := merged[k]
		if len(m.Times) == 0 {
			m.Skipped = strings.TrimPrefix(m.skips[0], "round 1: ")
		} else if len(m.skips) > 0 {
			m.Note = strings.TrimPrefix(m.Note+"; skipped in "+strings.Join(m.skips, "; "), "; ")
		}
		for r := 1; r <= *rounds; r++ {
			if v, ok := m.perRound[r]; ok {
				m.RoundMedians = append(m.RoundMedians, v)
			}
		}
		out = append(out, *m)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// ratioOver is the median over rounds of a's time over b's, in the rounds
// both ran; for rows without rounds (the onnx group), the ratio of their
// medians. The second result is the number of rounds it used (0: medians).
func ratioOver(a, b *row) (float64, int) {
	if len(a.perRound) == 0 || len(b.perRound) == 0 {
		return a.Median / b.Median, 0
	}
	var rs []float64
	for r, va := range a.perRound {
		if vb, ok := b.perRound[r]; ok && vb > 0 {
			rs = append(rs, va/vb)
		}
	}
	if len(rs) == 0 {
		return a.Median / b.Median, 0
	}
	return median(rs), len(rs)
}

// summary is one line of the table against the best peer: mlc at a thread
// count against a peer at its fastest thread count up to the same number.
type summary struct {
	Workload    string  `json:"workload"`
	Threads     int     `json:"threads"`
	Peer        string  `json:"peer"`
	PeerThreads int     `json:"peer_threads"` // the peer's fastest thread count ≤ Threads (by its median)
	MLC         float64 `json:"mlc_s"`
	PeerTime    float64 `json:"peer_s"`
	// Ratio is mlc's time over the peer's best, the median over rounds of
	// each round's ratio (that round's best thread count): ≤ 1, mlc is faster.
	Ratio   float64 `json:"mlc_over_peer"`
	Rounds  int     `json:"rounds"`
	Caveat  string  `json:"caveat,omitempty"`
	PerUnit string  `json:"per"`
}

// bestPeers compares every mlc row with every peer at the peer's best
// thread count up to mlc's.
func bestPeers(rs []row) []summary {
	var out []summary
	for i := range rs {
		m := &rs[i]
		if m.Tool != "mlc" || m.Median == 0 {
			continue
		}
		var peers []string
		for _, r := range rs {
			if r.Workload == m.Workload && !strings.HasPrefix(r.Tool, "mlc") && r.Median > 0 && !slices.Contains(peers, r.Tool) {
				peers = append(peers, r.Tool)
			}
		}
		for _, p := range peers {
			var cands []*row
			for k := range rs {
				r := &rs[k]
				if r.Workload == m.Workload && r.Tool == p && r.Threads <= m.Threads && r.Median > 0 {
					cands = append(cands, r)
				}
			}
			if len(cands) == 0 {
				continue
			}
			best := cands[0]
			for _, c := range cands {
				if c.Median < best.Median {
					best = c
				}
			}
			s := summary{Workload: m.Workload, Threads: m.Threads, Peer: p, PeerThreads: best.Threads,
				MLC: m.Median, PeerTime: best.Median, Caveat: caveat(m.Workload), PerUnit: m.Unit}
			// Per round: mlc over the best of the candidates that ran.
			var ratios []float64
			for r, vm := range m.perRound {
				b := math.Inf(1)
				for _, c := range cands {
					if v, ok := c.perRound[r]; ok {
						b = min(b, v)
					}
				}
				if !math.IsInf(b, 1) {
					ratios = append(ratios, vm/b)
				}
			}
			if len(ratios) > 0 {
				s.Ratio, s.Rounds = median(ratios), len(ratios)
			} else {
				s.Ratio = m.Median / best.Median
			}
			out = append(out, s)
		}
	}
	return out
}

// caveat says where a workload's tools do different work.
func caveat(workload string) string {
	switch {
	case workload == "gpt decode 256 tok, recompute":
		return "different work: mlc's Predict runs over its whole static window of 256 positions at every step (the prefix padded), PyTorch over the prefix only; and different algorithms, see the token rows"
	case strings.HasPrefix(workload, "gpt token @ctx") && strings.HasSuffix(workload, "recompute"):
		return "different algorithms: mlc's causal attention skips the score tiles above the diagonal (about half the work), PyTorch computes every score and masks"
	}
	return ""
}

// printCaveats prints the † notes of the workloads that have one.
func printCaveats(out io.Writer, rs []row) {
	var seen []string
	for _, r := range rs {
		if r.Caveat != "" && r.Median > 0 && !slices.Contains(seen, r.Workload) {
			seen = append(seen, r.Workload)
			fmt.Fprintf(out, "† %s: %s.\n", r.Workload, r.Caveat)
		}
	}
}

// printBest prints the table against each peer's best thread count.
func printBest(out io.Writer, rep *report) {
	if len(rep.Best) == 0 {
		return
	}
	fmt.Fprintf(out, "\nmlc against each peer at the peer's fastest thread count up to mlc's (each round's best;\n"+
		"mlc ÷ peer is the median over the rounds of mlc's time over that best; ≤ 1 means mlc is faster):\n\n")
	t := [][]string{{"workload", "threads", "peer", "peer's best", "per", "mlc", "peer", "mlc ÷ peer"}}
	last := ""
	for _, s := range rep.Best {
		if s.Workload != last && last != "" {
			t = append(t, nil)
		}
		last = s.Workload
		name := s.Workload
		if s.Caveat != "" {
			name += " †"
		}
		t = append(t, []string{name, strconv.Itoa(s.Threads), s.Peer, fmt.Sprintf("%dt", s.PeerThreads), s.PerUnit,
			fmtDur(s.MLC), fmtDur(s.PeerTime), fmt.Sprintf("%.3g", s.Ratio)})
	}
	writeTable(out, t, []bool{false, true, false, true, false, true, true, true})
}

// roofline is one line of the roofline table: decoding one token with the
// cache against the time it takes to read the bytes it must read.
type roofline struct {
	Workload  string  `json:"workload"`
	Threads   int     `json:"threads"`
	Bytes     float64 `json:"bytes_per_token"` // weights + the KV cache at that context
	Level     string  `json:"bandwidth_row"`   // the read-bandwidth row used
	GBps      float64 `json:"gb_per_s"`
	Bound     float64 `json:"bound_s"` // Bytes ÷ bandwidth
	Tool      string  `json:"tool"`
	ToolT     int     `json:"tool_threads"`
	Latency   float64 `json:"latency_s"`
	Fraction  float64 `json:"fraction_of_roofline"` // Bound ÷ Latency, the median of the rounds'
	Rounds    int     `json:"rounds"`
	LevelSize float64 `json:"bandwidth_working_set"`
}

// rooflines compares every token row that says how many bytes it reads
// (mlc's decode rows) and the same workload's peers (at their best thread
// count up to the row's) with the read bandwidth measured in the same run
// at the same thread count: the bandwidth of the smallest working set that
// holds the bytes.
func rooflines(rs []row) []roofline {
	var out []roofline
	for i := range rs {
		m := &rs[i]
		if m.Tool != "mlc" || m.Bytes == 0 || m.Median == 0 {
			continue
		}
		var level *row
		for k := range rs {
			b := &rs[k]
			if b.Tool == "read kernel" && b.Threads == m.Threads && b.Median > 0 && b.Bytes >= m.Bytes && (level == nil || b.Bytes < level.Bytes) {
				level = b
			}
		}
		if level == nil {
			continue
		}
		add := func(r *row) {
			f, n := ratioOver(level, r) // pass time over token time
			out = append(out, roofline{Workload: m.Workload, Threads: m.Threads, Bytes: m.Bytes, Level: level.Workload,
				GBps: level.Bytes / level.Median / 1e9, Bound: m.Bytes / (level.Bytes / level.Median),
				Tool: r.Tool, ToolT: r.Threads, Latency: r.Median, Fraction: f * m.Bytes / level.Bytes, Rounds: n, LevelSize: level.Bytes})
		}
		add(m)
		// Each peer at its fastest thread count up to mlc's.
		best := map[string]*row{}
		var peers []string
		for k := range rs {
			r := &rs[k]
			if r.Workload == m.Workload && !strings.HasPrefix(r.Tool, "mlc") && r.Median > 0 && r.Threads <= m.Threads {
				if best[r.Tool] == nil {
					peers = append(peers, r.Tool)
				}
				if best[r.Tool] == nil || r.Median < best[r.Tool].Median {
					best[r.Tool] = r
				}
			}
		}
		for _, p := range peers {
			add(best[p])
		}
	}
	return out
}

// printRoofline prints the bandwidth rows' GB/s and the roofline table.
func printRoofline(out io.Writer, rep *report) {
	if len(rep.Roofline) == 0 {
		return
	}
	fmt.Fprintf(out, "\nRoofline of decoding with the cache. A token reads every weight once (%s at ctx 64) and the\n"+
		"keys and values of every cached position; the bound is those bytes ÷ the read bandwidth measured in\n"+
		"this run, at the same thread count, over the smallest working set that holds them (a vectorised sum,\n"+
		"cmd/gptwork stream). %% of roofline: bound ÷ latency, the median of the rounds' ratios.\n\n", fmtBytes(rep.Roofline[0].Bytes))
	t := [][]string{{"workload", "threads", "bytes/token", "bandwidth", "bound", "tool", "latency", "% of roofline"}}
	last := ""
	for _, r := range rep.Roofline {
		if r.Workload != last && last != "" {
			t = append(t, nil)
		}
		last = r.Workload
		tool := r.Tool
		if r.Tool != "mlc" {
			tool = fmt.Sprintf("%s %dt", r.Tool, r.ToolT)
		}
		t = append(t, []string{r.Workload, strconv.Itoa(r.Threads), fmtBytes(r.Bytes),
			fmt.Sprintf("%.0f GB/s (%s)", r.GBps, fmtBytes(r.LevelSize)), fmtDur(r.Bound), tool, fmtDur(r.Latency),
			fmt.Sprintf("%.0f%%", 100*r.Fraction)})
	}
	writeTable(out, t, []bool{false, true, true, true, true, false, true, true})
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.3g MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.3g KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// cpuHas reports whether /proc/cpuinfo lists every one of the flags.
func cpuHas(flags ...string) bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			have := strings.Fields(v)
			for _, f := range flags {
				if !slices.Contains(have, f) {
					return false
				}
			}
			return true
		}
	}
	return false
}
