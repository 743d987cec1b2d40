package codegen_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
)

// TestBF16Products: under bf16 mixed precision every product of the
// training step runs on gemmBF16 (or gemmBF16OnThread, in split kernels
// and fused attention), with the packing buffers reserved in New; no
// rounding loop is left where only products and bf16 storage's casts read
// the rounded value (those round it themselves), and the f32 build has
// none of it.
func TestBF16Products(t *testing.T) {
	const config = "vocab=64,ctx=16,d=32,heads=2,layers=1,ffn=128,batch=2"
	var prog *graph.Program
	src := func(o compile.Options) string {
		t.Helper()
		o.Float = graph.F32
		res, err := compile.Zoo("gpt", config, o)
		if err != nil {
			t.Fatal(err)
		}
		prog = res.Program
		files, err := compile.Generate(res, "gpt")
		if err != nil {
			t.Fatal(err)
		}
		return string(files[0].Data)
	}
	bf16 := src(compile.Options{Precision: graph.BF16})
	// The rounding points that may stay loops: those with a reader other
	// than a product or a cast to bf16 (fused elementwise kernels), or read
	// by a product fused with its epilogue (whose input may be overwritten
	// before it runs); reshapes are looked through.
	fused := map[*graph.Node]bool{}
	for _, grp := range prog.Train.Fusion.Groups {
		for _, n := range grp.Nodes {
			fused[n] = true
		}
	}
	// A reshape is looked through: its readers read the rounding.
	var readers func(n *graph.Node) []*graph.Node
	readers = func(n *graph.Node) []*graph.Node {
		var out []*graph.Node
		for _, r := range prog.Train.Nodes {
			switch {
			case !slices.Contains(r.Inputs, n):
			case r.Op == graph.OpReshape && !fused[r]:
				out = append(out, readers(r)...)
			default:
				out = append(out, r)
			}
		}
		return out
	}
	kept, rounds := 0, 0
	for _, n := range prog.Train.Nodes {
		if n.Op != graph.OpRoundBF16 {
			continue
		}
		rounds++
		for _, r := range readers(n) {
			if fused[r] && r.Op == graph.OpMatMul || r.Op != graph.OpMatMul && !(r.Op == graph.OpCast && r.Type.DType == graph.BF16) {
				kept++
				break
			}
		}
	}
	train := bf16[strings.Index(bf16, "func (m *Model) forward("):]
	train = train[:strings.Index(train, "func (m *Model) update(")]
	if n := len(regexp.MustCompile(`\bgemmBF16(OnThread)?\(`).FindAllString(train, -1)); n < 10 {
		t.Errorf("forward and backward call the bf16 product %d times, want every product (≥ 10)", n)
	}
	if regexp.MustCompile(`\bgemm(Small|OnThread)?\(`).MatchString(train) {
		t.Errorf("forward or backward still calls an f32 product")
	}
	if n := strings.Count(train, "roundBF16("); n > kept || kept >= rounds {
		t.Errorf("%d rounding loops left in forward and backward, of %d rounding points; want at most the %d with other readers", n, rounds, kept)
	}
	if !strings.Contains(bf16, "reserveBF16(m.pool") {
		t.Errorf("New reserves no bf16 packing buffers")
	}
	if !strings.Contains(bf16, "fused causal attention") {
		t.Errorf("attention is not fused under bf16")
	}
	if f32 := src(compile.Options{}); strings.Contains(f32, "BF16") {
		t.Errorf("the f32 build calls bf16 code")
	}
}
