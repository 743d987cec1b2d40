package randgraph

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
)

// TestCoverageIsTheOpTable: every op of the table is drawn or excluded with a
// reason, and nothing else is.
func TestCoverageIsTheOpTable(t *testing.T) {
	cov := Coverage()
	for _, op := range graph.AllOps() {
		why, ok := cov[op]
		if !ok {
			t.Errorf("%s: neither drawn nor excluded; add it to opGens (or to excluded, with the reason)", op)
		}
		drawn := false
		for _, o := range opGens {
			if o.op == op {
				drawn = true
			}
		}
		if drawn && excluded[op] != "" {
			t.Errorf("%s: both drawn and excluded (%s)", op, why)
		}
	}
	if len(cov) != len(graph.AllOps()) {
		t.Errorf("coverage lists %d ops, the table has %d", len(cov), len(graph.AllOps()))
	}
}

// TestEveryOpAppears: over a few hundred seeds every drawn op and every leaf
// op shows up in some built graph (forward or, for the losses' helpers,
// training), so no generator is dead.
func TestEveryOpAppears(t *testing.T) {
	seen := map[graph.Op]int{}
	for seed := range uint64(400) {
		m, err := FromSeed(seed, Config{})
		if err != nil {
			t.Fatal(err)
		}
		for op, n := range OpCounts(m.Forward) {
			seen[op] += n
		}
	}
	for _, op := range graph.AllOps() {
		if Coverage()[op] == "drawn" || (excluded[op] != "" && !isEffectOrRandom(op)) {
			if seen[op] == 0 {
				t.Errorf("%s never appears in 400 models", op)
			}
		}
	}
	t.Logf("op counts over 400 models: %v", seen)
}

func isEffectOrRandom(op graph.Op) bool {
	// QMatMul and RoundBF16 are neither, but only passes (Quantize,
	// MixedPrecision) make them; compile's tests run them in both engines.
	return op.Info().Has(graph.Effect) || op == graph.OpDropoutMask || op == graph.OpQMatMul || op == graph.OpRoundBF16
}

// TestDeterministic: the same bytes give the same graph and inputs, in New
// and in every later Build.
func TestDeterministic(t *testing.T) {
	for seed := range uint64(50) {
		a, err := FromSeed(seed, Config{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := FromSeed(seed, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Forward.String() != b.Forward.String() {
			t.Fatalf("seed %d: two models differ", seed)
		}
		g, err := dsl.Build(a.Name, a.Forward.Source, dsl.Options{Train: true}, a.Build)
		if err != nil {
			t.Fatal(err)
		}
		if g.String() != a.Forward.String() {
			t.Fatalf("seed %d: Build gives another graph than New", seed)
		}
		for name, in := range a.Inputs {
			if !equalTensor(in, b.Inputs[name]) {
				t.Fatalf("seed %d: input %s differs", seed, name)
			}
		}
	}
}

func equalTensor(a, b Tensor) bool {
	if a.DType != b.DType || len(a.Shape) != len(b.Shape) || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			return false
		}
	}
	return true
}

// TestShortInputs: inputs shorter than MinBytes are rejected with ErrShort;
// any longer input, whatever its bytes, gives a valid model.
func TestShortInputs(t *testing.T) {
	for n := range MinBytes {
		if _, err := New(make([]byte, n), Config{}); !errors.Is(err, ErrShort) {
			t.Errorf("%d bytes: err %v, want ErrShort", n, err)
		}
	}
	for _, data := range [][]byte{make([]byte, MinBytes), bytes.Repeat([]byte{0xff}, 64), bytes.Repeat([]byte{0x80, 7}, 300)} {
		if _, err := New(data, Config{}); err != nil {
			t.Errorf("%x: %v", data, err)
		}
	}
}

// TestManySeedsValid: many seeds give valid graphs with inputs for every
// Input node, within the size bounds.
func TestManySeedsValid(t *testing.T) {
	n := uint64(2000)
	if !testutil.LongTests() {
		n = 300
	}
	for seed := range n {
		m, err := FromSeed(seed, Config{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if m.Forward.Loss == nil || len(m.Forward.Outputs) == 0 {
			t.Fatalf("seed %d: no loss or no outputs", seed)
		}
		for _, in := range m.Forward.Inputs() {
			v, ok := m.Inputs[in.Name]
			if !ok || v.DType != in.Type.DType || !graph.Shape(v.Shape).Equal(in.Type.Shape) {
				t.Fatalf("seed %d: input %s (%s) has value %v", seed, in.Name, in.Type, v)
			}
		}
		for _, n := range m.Forward.Nodes {
			if n.Type.Shape.Rank() > maxRank || n.Type.Shape.Size() > DefaultMaxElems {
				t.Fatalf("seed %d: %s is too big", seed, n)
			}
		}
	}
}

// FuzzGenerator: any input of MinBytes or more gives a valid model.
func FuzzGenerator(f *testing.F) {
	for seed := range uint64(4) {
		f.Add(SeedBytes(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := New(data, Config{})
		if errors.Is(err, ErrShort) {
			t.Skip()
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}
