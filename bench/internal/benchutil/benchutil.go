// Package benchutil holds what the Go workers of the peer benchmark share:
// the result record every worker prints (one JSON object per line, the same
// form the Python scripts print), timing with allocation counts, and the
// reference text's XOR data.
package benchutil

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"time"
)

// Result is one measured configuration: a workload run by one tool at one
// thread count. Times holds one entry per repetition, in seconds per Unit.
// The runner (cmd/peers) reads these from the workers' standard output.
type Result struct {
	Workload string    `json:"workload"`
	Tool     string    `json:"tool"`
	Threads  int       `json:"threads"`
	Unit     string    `json:"unit"` // what one time measures: "run", "step", "call", "token", "256 tokens"
	Times    []float64 `json:"times_s,omitempty"`
	// Allocs is heap allocations per Unit (Go tools only), nil when unknown.
	Allocs *float64 `json:"allocs,omitempty"`
	// Flops is the floating-point operations of one Unit, for GFLOP/s.
	Flops float64 `json:"flops,omitempty"`
	// Bytes is the bytes one Unit reads from memory (the read-bandwidth
	// rows: the working set; decoding with the cache: the weights and the
	// cache it reads per token), for GB/s and the roofline.
	Bytes float64 `json:"bytes,omitempty"`
	// Tokens is the tokens produced by one Unit, for tokens/s.
	Tokens float64 `json:"tokens,omitempty"`
	// FinalLoss is the loss the workload ends with (XOR: the text's loss,
	// with its +1e-8 terms, from one forward pass after the last epoch).
	FinalLoss *float64 `json:"final_loss,omitempty"`
	Note      string   `json:"note,omitempty"`
	// Skipped, when set, says why the configuration did not run.
	Skipped string `json:"skipped,omitempty"`
}

// Emit prints r as one JSON line on standard output.
func Emit(r Result) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchutil:", err)
		os.Exit(1)
	}
	fmt.Println(string(b))
}

// Fatalf prints a message on standard error and exits non-zero.
func Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// Ptr returns a pointer to v.
func Ptr(v float64) *float64 { return &v }

// Measure runs f warm times, then reps repetitions of inner calls each, and
// returns the seconds per call of every repetition and the heap
// allocations per call over all timed calls (runtime.MemStats.Mallocs; it
// counts every goroutine's allocations, which is what a library's
// background workers cost too).
//
// Each repetition starts with a garbage collection, so that one tool's
// garbage is not collected in another's timing, and the timed calls never
// come right after it: setup, when not nil, runs after the collection
// (outside the timing and the allocation count), and it should end with an
// untimed call like f's where f's state allows it; without setup, and
// with warm > 0, one untimed call of f runs after the collection, unless
// a repetition takes longer than 10 ms (then the collection's effect on
// caches is lost in the noise, and the extra call would double the time).
func Measure(warm, reps, inner int, setup func(), f func()) (times []float64, allocs float64) {
	last := time.Duration(0)
	for range warm {
		if setup != nil {
			setup()
		}
		t0 := time.Now()
		f()
		last = time.Since(t0) * time.Duration(inner)
	}
	var ms runtime.MemStats
	var mallocs uint64
	times = make([]float64, 0, reps)
	for range reps {
		runtime.GC()
		if setup != nil {
			setup()
		} else if warm > 0 && last < 10*time.Millisecond {
			f()
		}
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		t0 := time.Now()
		for range inner {
			f()
		}
		d := time.Since(t0)
		last = d
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		times = append(times, d.Seconds()/float64(inner))
	}
	return times, float64(mallocs) / float64(reps*inner)
}

// Threads returns GOMAXPROCS, the thread count of a Go worker.
func Threads() int { return runtime.GOMAXPROCS(0) }

// XOR is the reference text's data and initial weights, read from the
// golden file internal/golden/testdata/xor_seed.json of the main module.
type XOR struct {
	X      []float64 // [4,2]
	Y      []float64 // [4,1]
	W1     []float64 // [2,4]
	B1     []float64 // [1,4]
	W2     []float64 // [4,1]
	B2     []float64 // [1,1]
	LR     float64
	Epochs int
	// FinalLoss is the text's NumPy program's loss after the last epoch.
	FinalLoss float64
}

// ReadXOR reads the golden XOR file.
func ReadXOR(path string) (*XOR, error) {
	type tensor struct {
		Data []float64 `json:"data"`
	}
	var doc struct {
		XX     tensor `json:"X"`
		YY     tensor `json:"y"`
		LR     float64
		Epochs int
		Init   map[string]tensor `json:"init"`
		Final  float64           `json:"final_loss"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	x := &XOR{
		X: doc.XX.Data, Y: doc.YY.Data,
		W1: doc.Init["W1"].Data, B1: doc.Init["b1"].Data,
		W2: doc.Init["W2"].Data, B2: doc.Init["b2"].Data,
		LR: doc.LR, Epochs: doc.Epochs, FinalLoss: doc.Final,
	}
	if len(x.X) != 8 || len(x.Y) != 4 || len(x.W1) != 8 || len(x.B1) != 4 || len(x.W2) != 4 || len(x.B2) != 1 || x.Epochs <= 0 {
		return nil, fmt.Errorf("%s: unexpected shapes or epochs", path)
	}
	return x, nil
}

// TextLoss is the reference text's loss of predictions a2 against y:
// -mean(y·log(a2+1e-8) + (1-y)·log(1-a2+1e-8)).
func TextLoss(a2, y []float64) float64 {
	s := 0.0
	for i := range a2 {
		s += y[i]*math.Log(a2[i]+1e-8) + (1-y[i])*math.Log(1-a2[i]+1e-8)
	}
	return -s / float64(len(a2))
}

// XORPredict is the text's forward pass a2 = σ(ReLU(X·W1 + b1)·W2 + b2) in
// plain Go, for tools whose own forward values cannot be read back reliably.
func XORPredict(x *XOR, W1, b1, W2, b2 []float64) []float64 {
	a2 := make([]float64, 4)
	for i := range 4 {
		z2 := b2[0]
		for j := range 4 {
			z1 := x.X[2*i]*W1[j] + x.X[2*i+1]*W1[4+j] + b1[j]
			z2 += max(z1, 0) * W2[j]
		}
		a2[i] = 1 / (1 + math.Exp(-z2))
	}
	return a2
}
