// Command gorgwork runs the peer benchmark's workloads in Gorgonia
// (gorgonia.org/gorgonia, the TapeMachine and VanillaSolver), printing one
// JSON result per line (see internal/benchutil). The thread count is
// GOMAXPROCS, which the runner sets.
//
//	gorgwork -seed ../internal/golden/testdata/xor_seed.json xor
//	gorgwork mlp
//
// Gorgonia's Rectify is x ⊙ (x ≥ 0), so its ReLU derivative at exactly 0 is
// 1 where NumPy, PyTorch and mlc use 0. The text's XOR input [0,0] hits 0 at
// epoch 0, so Gorgonia's final XOR loss differs from the others by about
// 1e-6; the runner expects and reports that.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	// Gorgonia v0.9.18 reaches go4.org/unsafe/assume-no-moving-gc through
	// gorgonia.org/tensor at a 2022 version that panics at init under any Go
	// release it has not heard of (go1.26 included). The 2023 version is a
	// no-op; importing it here keeps go.mod at that version.
	_ "go4.org/unsafe/assume-no-moving-gc"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
)

func main() {
	seed := flag.String("seed", "../internal/golden/testdata/xor_seed.json", "the reference text's XOR golden file (data, initial weights)")
	reps := flag.Int("reps", 0, "repetitions (0: the workload's default)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gorgwork [flags] xor|mlp")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	rep := func(def int) int {
		if *reps > 0 {
			return *reps
		}
		return def
	}
	switch flag.Arg(0) {
	case "xor":
		x, err := benchutil.ReadXOR(*seed)
		if err != nil {
			benchutil.Fatalf("gorgwork: %v", err)
		}
		xor(x, rep(3))
	case "mlp":
		mlp(rep(9))
	default:
		benchutil.Fatalf("gorgwork: unknown workload %q", flag.Arg(0))
	}
}

func must(n *G.Node, err error) *G.Node {
	if err != nil {
		benchutil.Fatalf("gorgwork: %+v", err)
	}
	return n
}

func check(err error) {
	if err != nil {
		benchutil.Fatalf("gorgwork: %+v", err)
	}
}

func dense64(shape []int, data []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), data...)))
}

// xorNet is the text's XOR network as a Gorgonia graph: the text's loss
// (with its +1e-8 terms) differentiated by Gorgonia's symbolic autodiff.
type xorNet struct {
	g              *G.ExprGraph
	W1, b1, W2, b2 *G.Node
	vm             G.VM
	solver         G.Solver
}

func newXORNet(x *benchutil.XOR) *xorNet {
	n := &xorNet{g: G.NewGraph()}
	g := n.g
	X := G.NewMatrix(g, G.Float64, G.WithShape(4, 2), G.WithName("X"), G.WithValue(dense64([]int{4, 2}, x.X)))
	Y := G.NewMatrix(g, G.Float64, G.WithShape(4, 1), G.WithName("y"), G.WithValue(dense64([]int{4, 1}, x.Y)))
	n.W1 = G.NewMatrix(g, G.Float64, G.WithShape(2, 4), G.WithName("W1"), G.WithValue(dense64([]int{2, 4}, x.W1)))
	n.b1 = G.NewMatrix(g, G.Float64, G.WithShape(1, 4), G.WithName("b1"), G.WithValue(dense64([]int{1, 4}, x.B1)))
	n.W2 = G.NewMatrix(g, G.Float64, G.WithShape(4, 1), G.WithName("W2"), G.WithValue(dense64([]int{4, 1}, x.W2)))
	n.b2 = G.NewMatrix(g, G.Float64, G.WithShape(1, 1), G.WithName("b2"), G.WithValue(dense64([]int{1, 1}, x.B2)))
	z1 := must(G.BroadcastAdd(must(G.Mul(X, n.W1)), n.b1, nil, []byte{0}))
	a1 := must(G.Rectify(z1))
	z2 := must(G.BroadcastAdd(must(G.Mul(a1, n.W2)), n.b2, nil, []byte{0}))
	a2 := must(G.Sigmoid(z2))
	eps := G.NewConstant(1e-8)
	one := G.NewConstant(1.0)
	// loss = -mean(y·log(a2+eps) + (1-y)·log(1-a2+eps))
	pos := must(G.HadamardProd(Y, must(G.Log(must(G.Add(a2, eps))))))
	neg := must(G.HadamardProd(must(G.Sub(one, Y)), must(G.Log(must(G.Add(must(G.Sub(one, a2)), eps))))))
	loss := must(G.Neg(must(G.Mean(must(G.Add(pos, neg))))))
	learnables := G.Nodes{n.W1, n.b1, n.W2, n.b2}
	_, err := G.Grad(loss, learnables...)
	check(err)
	n.vm = G.NewTapeMachine(g, G.BindDualValues(learnables...))
	n.solver = G.NewVanillaSolver(G.WithLearnRate(x.LR))
	return n
}

func xor(x *benchutil.XOR, reps int) {
	var n *xorNet
	setup := func() {
		if n != nil {
			n.vm.Close()
		}
		n = newXORNet(x)
	}
	learn := func() G.Nodes { return G.Nodes{n.W1, n.b1, n.W2, n.b2} }
	run := func() {
		vg := G.NodesToValueGrads(learn())
		for range x.Epochs {
			check(n.vm.RunAll())
			check(n.solver.Step(vg))
			n.vm.Reset()
		}
	}
	times, allocs := benchutil.Measure(0, reps, 1, setup, run)
	// The final loss comes from the trained parameters through a plain Go
	// forward pass: after RunAll the TapeMachine has reused a2's memory for
	// the backward pass, so a2.Value() no longer holds the predictions.
	val := func(n *G.Node) []float64 { return n.Value().Data().([]float64) }
	a2 := benchutil.XORPredict(x, val(n.W1), val(n.b1), val(n.W2), val(n.b2))
	n.vm.Close()
	benchutil.Emit(benchutil.Result{
		Workload: "xor 10k epochs", Tool: "Gorgonia", Threads: benchutil.Threads(), Unit: "run",
		Times: times, Allocs: benchutil.Ptr(allocs / float64(x.Epochs)),
		FinalLoss: benchutil.Ptr(benchutil.TextLoss(a2, x.Y)),
		Note:      "TapeMachine + VanillaSolver; ReLU'(0)=1; allocs per epoch",
	})
}

// mlp times one SGD step (lr 0.1) of the 784-256-256-10 ReLU network, batch
// 64, f32, softmax cross-entropy (mean), He initialisation.
func mlp(reps int) {
	const batch = 64
	sizes := []int{784, 256, 256, 10}
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, batch*sizes[0])
	for i := range xs {
		xs[i] = r.Float32()
	}
	onehot := make([]float32, batch*sizes[3])
	for i := range batch {
		onehot[i*sizes[3]+r.IntN(sizes[3])] = 1
	}
	g := G.NewGraph()
	X := G.NewMatrix(g, G.Float32, G.WithShape(batch, sizes[0]), G.WithName("X"),
		G.WithValue(tensor.New(tensor.WithShape(batch, sizes[0]), tensor.WithBacking(xs))))
	Y := G.NewMatrix(g, G.Float32, G.WithShape(batch, sizes[3]), G.WithName("y"),
		G.WithValue(tensor.New(tensor.WithShape(batch, sizes[3]), tensor.WithBacking(onehot))))
	var learnables G.Nodes
	h := X
	for l := range 3 {
		in, out := sizes[l], sizes[l+1]
		w := make([]float32, in*out)
		std := math.Sqrt(2 / float64(in))
		for i := range w {
			w[i] = float32(r.NormFloat64() * std)
		}
		W := G.NewMatrix(g, G.Float32, G.WithShape(in, out), G.WithName(fmt.Sprintf("W%d", l+1)),
			G.WithValue(tensor.New(tensor.WithShape(in, out), tensor.WithBacking(w))))
		b := G.NewMatrix(g, G.Float32, G.WithShape(1, out), G.WithName(fmt.Sprintf("b%d", l+1)),
			G.WithInit(G.Zeroes()))
		learnables = append(learnables, W, b)
		h = must(G.BroadcastAdd(must(G.Mul(h, W)), b, nil, []byte{0}))
		if l < 2 {
			h = must(G.Rectify(h))
		}
	}
	logp := must(G.LogSoftMax(h))
	loss := must(G.Neg(must(G.Mean(must(G.Sum(must(G.HadamardProd(logp, Y)), 1))))))
	_, err := G.Grad(loss, learnables...)
	check(err)
	vm := G.NewTapeMachine(g, G.BindDualValues(learnables...))
	defer vm.Close()
	solver := G.NewVanillaSolver(G.WithLearnRate(0.1))
	vg := G.NodesToValueGrads(learnables)
	var last float64
	times, allocs := benchutil.Measure(3, reps, 10, nil, func() {
		check(vm.RunAll())
		check(solver.Step(vg))
		last = float64(loss.Value().Data().(float32))
		vm.Reset()
	})
	benchutil.Emit(benchutil.Result{
		Workload: "mlp step", Tool: "Gorgonia", Threads: benchutil.Threads(), Unit: "step",
		Times: times, Allocs: benchutil.Ptr(allocs), FinalLoss: benchutil.Ptr(last),
		Note: "TapeMachine + VanillaSolver",
	})
}
