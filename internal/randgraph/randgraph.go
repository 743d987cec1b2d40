// Package randgraph builds random, valid mlc models for differential testing:
// the random-graph fuzzer (compile.FuzzPasses) compiles each one at -O0 and
// with every pass, and checks that the interpreter on both programs and the
// generated code of the optimized one compute the same outputs, loss,
// gradients and parameter updates.
//
// A model comes from a byte string (the fuzzer's input, or SeedBytes of a
// number). Structural decisions (which op, which operand, shapes, axes,
// attributes) read the bytes one at a time, so the fuzzer's mutations change
// the graph locally; when the bytes run out, decisions continue from a
// generator seeded by a hash of the whole input. Numeric values (parameter,
// input and constant data) always come from that seeded generator. The same
// bytes give the same model, node for node.
//
// # What a model contains
//
// A model is f64. It starts with one to three Params of random shapes (rank
// 0–4, dimensions 1–5, explicit random values) and then applies 3 to
// Config.MaxOps ops drawn from the op table (see [Coverage]: every op of
// graph.AllOps is either drawn or excluded with a reason). Operands are picked
// among the values built so far (recent ones more often, so chains grow
// deep) or made fresh as leaves: Params, Inputs (float, i32 ids, bool masks,
// with values the caller feeds), States, Consts (uniform, uniform-by-data,
// random data, small integers) and causal masks. Binary operands are made to
// broadcast: the partner's shape is the same, has 1s, lacks leading axes, is
// a scalar, expands the 1s of the first, or adds leading axes — or it is any
// earlier value whose shape happens to broadcast, the first one included
// (x⊙x). MatMul draws transA/transB and broadcast batch axes; reductions draw
// axes and keepdims; Softmax and LogSoftmax an axis; Gather, ScatterAdd,
// OneHot and CrossEntropy take i32 ids (constants, inputs, or ArgMax results)
// within the range their consumer accepts. The model declares one to three
// Outputs (usually floats, sometimes masks, ids, or a Param itself) and a
// scalar Loss: a sum of Σ(v ⊙ W) terms over the values nothing else used
// (W fixed random weights), plus sometimes a CrossEntropy, BCEWithLogits or
// MSE term. Model.Optimizer and Model.L2 draw the update rule.
//
// # Staying finite and differentiable
//
// Every value carries a bound on its magnitude, and a positive lower bound
// where one is known. The generator keeps values in the domains where the
// ops are finite and smooth, so that the three engines can be compared to a
// tight relative tolerance:
//
//   - Log, Sqrt, Rsqrt, Div's denominator and Pow with a negative or
//     non-integer exponent only see values ≥ 0.1, made positive by
//     σ(x)+c, x²+c, exp(x), |x|+c or softmax(x)+c (c > 0) when needed.
//   - Exp sees values of magnitude ≤ 4 (squashed by tanh or a constant
//     scale first); any value that may exceed 10³ is scaled down at once.
//     So gradients stay finite too.
//   - Ops that are not differentiable where values tie — ReLU and Abs at 0,
//     Maximum/Minimum at a = b, Max and ArgMax where two elements are equal,
//     and comparisons feeding Where — get an operand jittered by a constant
//     of distinct random values (x + J, |J| ∈ [0.1, 1.5]), unless it is a leaf
//     with distinct random values already. Exact structural ties (a value
//     broadcast along the reduced axis, ReLU of a ReLU's zeros, x vs x) thus
//     become gaps of order 0.1, far beyond the rounding differences that
//     reassociation and other kernels introduce.
//   - Helper ops without gradient rules (SoftmaxGrad, LogSoftmaxGrad,
//     LayerNormGrad, GELUGrad) only read values that do not depend on a
//     Param; NoGrad ops (comparisons, ArgMax, OneHot, GlobalNorm,
//     LRSchedule) stop gradients as the op table says.
//   - The optimizer never divides by a gradient's own magnitude: Adam and
//     RMSProp use ε = 1, so a gradient that is 0 in one engine and 1e-17 in
//     another cannot become a visible difference after a step.
package randgraph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// MinBytes is the shortest input New accepts.
const MinBytes = 4

// ErrShort is New's error for an input shorter than MinBytes: the fuzzer
// skips such inputs.
var ErrShort = errors.New("randgraph: input shorter than MinBytes")

// Defaults of Config.
const (
	DefaultMaxOps   = 20
	DefaultMaxElems = 256
)

// Config bounds the models.
type Config struct {
	MaxOps   int        // ops drawn from the table (default DefaultMaxOps)
	MaxElems int        // elements of the largest value (default DefaultMaxElems)
	Exclude  []graph.Op // ops never drawn, to look past a known finding
}

func (c Config) withDefaults() Config {
	if c.MaxOps <= 0 {
		c.MaxOps = DefaultMaxOps
	}
	if c.MaxElems <= 0 {
		c.MaxElems = DefaultMaxElems
	}
	return c
}

// Tensor is an input's value: row-major data of the input's dtype (i32 ids
// and bool masks as 0/1 stored in float64).
type Tensor struct {
	DType graph.DType
	Shape []int
	Data  []float64
}

// Model is one random model.
type Model struct {
	Name   string
	Data   []byte // the bytes it was made from
	Config Config
	// Inputs holds a value for every Input the model declares.
	Inputs map[string]Tensor
	// Optimizer and L2 configure TrainStep (compile.Options takes both).
	Optimizer passes.OptimizerConfig
	L2        float64
	// Forward is one build of the model in eval mode, for printing.
	Forward *graph.Graph
}

// Build builds the model on b; every call builds the same graph.
func (m *Model) Build(b *dsl.Builder) {
	g := newGen(m.Data, m.Config, b)
	g.run()
}

// New makes the model of data. It returns ErrShort for an input shorter than
// MinBytes; any other error is a bug in the generator (it built an invalid
// graph).
func New(data []byte, cfg Config) (*Model, error) {
	if len(data) < MinBytes {
		return nil, ErrShort
	}
	cfg = cfg.withDefaults()
	m := &Model{Name: "randgraph", Data: slices.Clone(data), Config: cfg}
	var gen *gen
	g, err := dsl.Build(m.Name, "internal/randgraph", dsl.Options{Float: graph.F64}, func(b *dsl.Builder) {
		gen = newGen(m.Data, cfg, b)
		gen.run()
	})
	if err != nil {
		return nil, fmt.Errorf("randgraph: input %x: %w", data, err)
	}
	m.Forward = g
	m.Inputs = gen.inputs
	m.Optimizer, m.L2 = gen.optimizer, gen.l2
	return m, nil
}

// SeedBytes is the 32-byte input that stands for a seed: TestRandomGraphs
// walks seeds, and the committed corpus holds some of these.
func SeedBytes(seed uint64) []byte {
	r := splitmix{state: seed}
	out := make([]byte, 32)
	for i := 0; i < len(out); i += 8 {
		binary.LittleEndian.PutUint64(out[i:], r.next())
	}
	return out
}

// FromSeed is New(SeedBytes(seed), cfg).
func FromSeed(seed uint64, cfg Config) (*Model, error) { return New(SeedBytes(seed), cfg) }

// OpCounts counts the nodes of each op in g.
func OpCounts(g *graph.Graph) map[graph.Op]int {
	c := map[graph.Op]int{}
	for _, n := range g.Nodes {
		c[n.Op]++
	}
	return c
}

// ParseOps reads a comma-separated list of op names (for Config.Exclude from
// an environment variable).
func ParseOps(s string) ([]graph.Op, error) {
	var ops []graph.Op
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		op, ok := graph.LookupOp(f)
		if !ok {
			return nil, fmt.Errorf("randgraph: unknown op %q", f)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// ---- sources of randomness ----

// splitmix is SplitMix64: small, fast and good enough for test data.
type splitmix struct{ state uint64 }

func (r *splitmix) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float is uniform in [0, 1).
func (r *splitmix) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// stream hands out structural decisions: the input's bytes first, then a
// generator seeded by the input's hash.
type stream struct {
	data []byte
	pos  int
	rest splitmix
}

func newStream(data []byte) *stream {
	h := fnv.New64a()
	h.Write(data)
	return &stream{data: data, rest: splitmix{state: h.Sum64()}}
}

func (s *stream) byte() byte {
	if s.pos < len(s.data) {
		b := s.data[s.pos]
		s.pos++
		return b
	}
	return byte(s.rest.next() >> 56)
}

// intn is a decision in [0, n).
func (s *stream) intn(n int) int {
	switch {
	case n <= 1:
		return 0
	case n <= 256:
		return int(s.byte()) % n
	}
	v := uint64(s.byte())<<8 | uint64(s.byte())
	return int(v % uint64(n))
}

// chance is true with probability about num/den.
func (s *stream) chance(num, den int) bool { return s.intn(den) < num }
