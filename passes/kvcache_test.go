package passes_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// TestKVCacheRefusesNonCausal: BERT's attention is bidirectional, so the
// rewrite is refused with the reason and the node that blocks it.
func TestKVCacheRefusesNonCausal(t *testing.T) {
	res, err := compile.Zoo("bert", "", compile.Options{Decode: "off"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = passes.KVCache(res.Program.Predict.Clone())
	if err == nil || !strings.Contains(err.Error(), "is not causal") || !strings.Contains(err.Error(), "models/bert/bert.go:") {
		t.Fatalf("err = %v", err)
	}
	_, err = compile.Zoo("bert", "", compile.Options{Decode: "on"})
	if err == nil || !strings.Contains(err.Error(), "cannot derive KV-cache decoding") {
		t.Fatalf("Decode on: err = %v", err)
	}
	_, err = compile.Zoo("mlp", "", compile.Options{Decode: "on"})
	if err == nil || !strings.Contains(err.Error(), "takes token ids only") {
		t.Fatalf("mlp: err = %v", err)
	}
}

func TestKVCacheGraphs(t *testing.T) {
	for _, c := range []struct{ model, config string }{{"tinydecoder", ""}, {"gpt", "vocab=32,ctx=8,d=16,heads=2,layers=2,ffn=32,batch=1"},
		{"llama", "vocab=32,ctx=8,d=16,heads=4,kv_heads=2,layers=2,ffn=24,batch=1"}} {
		res, err := compile.Zoo(c.model, c.config, compile.Options{Decode: "on", Float: graph.F64})
		if err != nil {
			t.Fatal(err)
		}
		p := res.Program
		if p.Decode == nil || p.Prefill == nil {
			t.Fatalf("%s: no decode graphs", c.model)
		}
		if n := len(p.Decode.NodesWithOp(graph.OpAttendCache)); n == 0 {
			t.Fatalf("%s: decode has no AttendCache", c.model)
		}
		if n := len(p.Decode.NodesWithOp(graph.OpCausalMask)); n != 0 {
			t.Fatalf("%s: decode still has %d causal masks", c.model, n)
		}
	}
}

// TestKVCacheContextInputs: with several token inputs, the decoder's ids
// are the one whose attentions are all causal; the rest is context, and what
// the decoder reads of it becomes a memo. Models that do not fit are
// refused with the reason.
func TestKVCacheContextInputs(t *testing.T) {
	const T, d = 4, 8
	causal := func(b *dsl.Builder, x *dsl.Tensor) *dsl.Tensor {
		return dsl.ScaledDotProductAttention(x, x, x, b.CausalMask(T))
	}
	for _, c := range []struct {
		name  string
		build func(b *dsl.Builder)
		memos []string // the memo States of Decode, when it works
		err   string   // the refusal otherwise
	}{
		{"cross-attention", func(b *dsl.Builder) {
			src, ids := b.InputIDs("src", 1, 3), b.InputIDs("ids", 1, T)
			emb := b.Param("emb", dsl.Normal(1), 9, d)
			mem := emb.Gather(src).Tanh().As("mem")
			x := causal(b, emb.Gather(ids))
			b.Output("y", dsl.ScaledDotProductAttention(x, mem, mem, nil))
		}, []string{"mem.memo"}, ""},
		{"cross-attention with the source's padding mask", func(b *dsl.Builder) {
			src, ids := b.InputIDs("src", 2, 3), b.InputIDs("ids", 2, T)
			emb := b.Param("emb", dsl.Normal(1), 9, d)
			mem := emb.Gather(src).Tanh().As("mem")
			keep := dsl.KeyPaddingMask(src.NotEqual(b.ConstIDs([]int{0}))).Reshape(2, 1, 3).As("key_mask") // bool: kept as 0/1
			x := causal(b, emb.Gather(ids))
			b.Output("y", dsl.ScaledDotProductAttention(x, mem, mem, keep))
		}, []string{"mem.memo", "key_mask.memo"}, ""},
		{"two decoders", func(b *dsl.Builder) {
			emb := b.Param("emb", dsl.Normal(1), 9, d)
			x := causal(b, emb.Gather(b.InputIDs("a", 1, T)))
			y := causal(b, emb.Gather(b.InputIDs("b", 1, T)))
			b.Output("y", x.Add(y))
		}, nil, "both feed causal attentions"},
		{"source read per position", func(b *dsl.Builder) {
			src, ids := b.InputIDs("src", 1, T), b.InputIDs("ids", 1, T)
			emb := b.Param("emb", dsl.Normal(1), 9, d)
			x := causal(b, emb.Gather(ids))
			b.Output("y", dsl.Where(ids.Equal(src).Reshape(1, T, 1), x, x.Neg()))
		}, nil, "only values computed from it can be kept"},
		{"no causal attention", func(b *dsl.Builder) {
			emb := b.Param("emb", dsl.Normal(1), 9, d)
			x := emb.Gather(b.InputIDs("a", 1, T))
			b.Output("y", dsl.ScaledDotProductAttention(x, x, x, nil).Add(emb.Gather(b.InputIDs("b", 1, T))))
		}, nil, "has no mask"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := dsl.Build("m", "m", dsl.Options{Float: graph.F64}, c.build)
			if err != nil {
				t.Fatal(err)
			}
			_, dec, err := passes.KVCache(g)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var memos []string
			for _, n := range dec.NodesWithOp(graph.OpState) {
				if strings.HasSuffix(n.Name, ".memo") {
					memos = append(memos, n.Name)
				}
			}
			if strings.Join(memos, " ") != strings.Join(c.memos, " ") {
				t.Errorf("memos %v, want %v", memos, c.memos)
			}
			if ins := dec.Inputs(); len(ins) != 1 || ins[0].Name != "ids" {
				t.Errorf("decode inputs %v, want ids only", ins)
			}
			// Prefill on 2 positions and DecodeStep on the others give the
			// full forward's outputs (interpreter, f64).
			pre, _, err := passes.KVCache(g)
			if err != nil {
				t.Fatal(err)
			}
			pr, err := runtime.NewProgram(&graph.Program{Name: "m", Float: graph.F64, Predict: g, Prefill: pre, Decode: dec}, runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			in := map[string]*runtime.Tensor{}
			for i, n := range g.Inputs() {
				x := runtime.NewTensor(n.Type)
				for j := range x.Len() {
					x.Set(j, float64((3*j+i)%9))
				}
				in[n.Name] = x
			}
			full, err := pr.Predict(in)
			if err != nil {
				t.Fatal(err)
			}
			want := full["y"].Float64s()
			got, err := pr.DecodeAllWith(in["ids"], in, 2)
			if err != nil {
				t.Fatal(err)
			}
			if d := testutil.CompareSlices(got["y"].Float64s(), want, 1e-12); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestKVCacheExportedAttention: attention written the way PyTorch exports
// it — scores MatMul(q, Transpose(k)) scaled by a division, masked by a
// constant — is recognised when the mask is causal, added (0 and −inf) or
// selected by Where with a constant bool condition (lower-triangular, or
// strictly upper with the fill first), and decoding then gives the full
// forward's outputs; a mask that is not causal or a fill that does not
// exclude is refused, naming the node.
func TestKVCacheExportedAttention(t *testing.T) {
	const T, d = 5, 6
	tri := func(keep, drop float64) []float64 {
		m := make([]float64, T*T)
		for i := range T {
			for j := range T {
				m[i*T+j] = keep
				if j > i {
					m[i*T+j] = drop
				}
			}
		}
		return m
	}
	inf := math.Inf(-1)
	for _, c := range []struct {
		name string
		mask func(g *graph.Graph, scores *graph.Node) (*graph.Node, error) // the masked scores
		err  string
	}{
		{"added -inf", func(g *graph.Graph, s *graph.Node) (*graph.Node, error) {
			return where2(g, graph.OpAdd, s, constNode(g, graph.F64, tri(0, inf), 1, T, T))
		}, ""},
		{"added finfo.min", func(g *graph.Graph, s *graph.Node) (*graph.Node, error) {
			return where2(g, graph.OpAdd, constNode(g, graph.F64, tri(0, -math.MaxFloat32), T, T), s)
		}, ""},
		{"where lower", func(g *graph.Graph, s *graph.Node) (*graph.Node, error) {
			return where3(g, constNode(g, graph.Bool, tri(1, 0), T, T), s, constNode(g, graph.F64, []float64{inf}))
		}, ""},
		{"where upper", func(g *graph.Graph, s *graph.Node) (*graph.Node, error) {
			return where3(g, constNode(g, graph.Bool, tri(0, 1), 1, T, T), constNode(g, graph.F64, []float64{-1e30}), s)
		}, ""},
		{"added non-causal", func(g *graph.Graph, s *graph.Node) (*graph.Node, error) {
			m := tri(0, inf)
			m[T] = inf // row 1 may not see position 0
			return where2(g, graph.OpAdd, s, constNode(g, graph.F64, m, T, T))
		}, "is not a causal mask"},
		{"where fill -5", func(g *graph.Graph, s *graph.Node) (*graph.Node, error) {
			return where3(g, constNode(g, graph.Bool, tri(1, 0), T, T), s, constNode(g, graph.F64, []float64{-5}))
		}, "not a constant of at most −1e9"},
		{"where band", func(g *graph.Graph, s *graph.Node) (*graph.Node, error) {
			m := tri(1, 0)
			m[(T-1)*T] = 0 // a sliding window, not causal
			return where3(g, constNode(g, graph.Bool, m, T, T), s, constNode(g, graph.F64, []float64{inf}))
		}, "is not true exactly on and below the diagonal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var scores *graph.Node
			g, err := dsl.Build("m", "m", dsl.Options{Float: graph.F64}, func(b *dsl.Builder) {
				ids := b.InputIDs("ids", 1, T)
				emb := b.Param("emb", dsl.Normal(1), 9, d)
				x := emb.Gather(ids)
				q := x.MatMul(b.Param("wq", dsl.Normal(1), d, d))
				k := x.MatMul(b.Param("wk", dsl.Normal(1), d, d))
				v := x.MatMul(b.Param("wv", dsl.Normal(1), d, d))
				s := q.MatMul(k.Transpose(0, 2, 1)).Div(b.Const(math.Sqrt(d)))
				scores = s.Node()
				// The mask goes in after the build; y reads the masked
				// scores' softmax through a placeholder Softmax(s).
				b.Output("y", s.Softmax(2).MatMul(v).As("att"))
			})
			if err != nil {
				t.Fatal(err)
			}
			sm := g.Output("y").Inputs[0]
			masked, err := c.mask(g, scores)
			if err != nil {
				t.Fatal(err)
			}
			sm.Inputs[0] = masked
			reorder(g, sm)
			if err := graph.Validate(g); err != nil {
				t.Fatal(err)
			}
			pre, dec, err := passes.KVCache(g)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "Const") {
					t.Fatalf("err = %v, want %q naming the Const", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := len(dec.NodesWithOp(graph.OpAttendCache)); n != 1 {
				t.Fatalf("decode has %d AttendCache, want 1", n)
			}
			pr, err := runtime.NewProgram(&graph.Program{Name: "m", Float: graph.F64, Predict: g, Prefill: pre, Decode: dec}, runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ids := runtime.NewTensor(g.Inputs()[0].Type)
			for j := range ids.Len() {
				ids.Set(j, float64((4*j+1)%9))
			}
			in := map[string]*runtime.Tensor{"ids": ids}
			full, err := pr.Predict(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pr.DecodeAllWith(ids, in, 2)
			if err != nil {
				t.Fatal(err)
			}
			if dd := testutil.CompareSlices(got["y"].Float64s(), full["y"].Float64s(), 1e-12); dd != "" {
				t.Error(dd)
			}
		})
	}
}

// constNode appends a constant (data of one value: a scalar constant).
func constNode(g *graph.Graph, dt graph.DType, data []float64, dims ...int) *graph.Node {
	a := graph.Attrs{Data: data}
	if len(data) == 1 {
		a = graph.Attrs{Value: data[0]}
	}
	n, err := g.Leaf(graph.OpConst, "", graph.T(dt, dims...), a)
	if err != nil {
		panic(err)
	}
	return n
}

func where2(g *graph.Graph, op graph.Op, x, y *graph.Node) (*graph.Node, error) {
	return g.Apply(op, graph.Attrs{}, x, y)
}

func where3(g *graph.Graph, c, x, y *graph.Node) (*graph.Node, error) {
	return g.Apply(graph.OpWhere, graph.Attrs{}, c, x, y)
}

// reorder moves the nodes appended after the build (the mask) to just
// before sm, which now reads them.
func reorder(g *graph.Graph, sm *graph.Node) {
	at := slices.Index(g.Nodes, sm)
	var before, added, after []*graph.Node
	for i, n := range g.Nodes {
		switch {
		case i < at:
			before = append(before, n)
		case n.ID >= len(g.Nodes)-countAfterBuild(g, sm):
			added = append(added, n)
		default:
			after = append(after, n)
		}
	}
	g.Nodes = append(append(before, added...), after...)
	g.Renumber()
}

// countAfterBuild counts the nodes after the graph's last output node.
func countAfterBuild(g *graph.Graph, sm *graph.Node) int {
	last := slices.Index(g.Nodes, g.Output("y"))
	return len(g.Nodes) - 1 - last
}
