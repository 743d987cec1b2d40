package compile

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/graph"
)

// MemoryNeeded estimates the bytes a program's buffers take when it runs:
// parameters, gradients (twice: AccumulateGrads keeps a copy), optimizer
// state and, per entry point, its activations — as the memory plan packs
// them for generated code, or one buffer per value for the interpreter.
func MemoryNeeded(prog *graph.Program, interp bool) float64 {
	var total float64
	seen := map[string]bool{}
	for _, g := range prog.Graphs() {
		for _, n := range g.Nodes {
			if (n.Op == graph.OpParam || n.Op == graph.OpState) && !seen[n.Name] {
				seen[n.Name] = true
				b := float64(n.Type.Bytes())
				if n.Op == graph.OpParam {
					b *= 3 // the value, its gradient, the accumulated gradient
				}
				total += b
			}
		}
		if p := g.Plan; p != nil {
			if interp {
				total += float64(p.NaiveBytes)
			} else {
				total += float64(p.PlannedBytes)
			}
		}
	}
	return total
}

// CheckMemory refuses a program whose buffers would not fit in the memory
// this machine has available, before anything is allocated.
func CheckMemory(prog *graph.Program, interp bool) error {
	need := MemoryNeeded(prog, interp)
	avail, ok := availableMemory()
	if !ok || need <= float64(avail) {
		return nil
	}
	return fmt.Errorf("%s needs %s for its buffers (parameters, gradients, optimizer state, activations), more than the %s of memory available; choose a smaller config", prog.Name, byteString(need), byteString(float64(avail)))
}

// availableMemory reads MemAvailable from /proc/meminfo (Linux).
func availableMemory() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// byteString prints a byte count with a binary unit.
func byteString(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return strconv.FormatFloat(b, 'f', 1, 64) + " " + units[i]
}
