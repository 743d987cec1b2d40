package passes

import (
	"slices"
	"testing"

	"github.com/mlc-dev/mlc/graph"
)

// TestMatMulPermutedOperand: q·kᵀ written as PyTorch exports it, k
// permuted (0, 2, 3, 1) from [B, T, H, D], becomes the transposed kernel on
// k permuted (0, 2, 1, 3) (rows stay contiguous), and a plain last-two swap
// disappears into the kernel as before.
func TestMatMulPermutedOperand(t *testing.T) {
	g, err := graph.Parse("t.ir", `mlc-ir 1
graph "attn" source "attn.go"
v0 = Param <f64[1,2,3,4]> {init=zeros} name="q" @ attn.go:1
v1 = Param <f64[1,3,2,4]> {init=zeros} name="k" @ attn.go:2
v2 = Transpose <f64[1,2,4,3]> v1 {perm=[0,2,3,1]} @ attn.go:3
v3 = MatMul <f64[1,2,3,3]> v0 v2 @ attn.go:4
v4 = Param <f64[4,3]> {init=zeros} name="a" @ attn.go:5
v5 = Transpose <f64[3,4]> v4 {perm=[1,0]} @ attn.go:6
v6 = MatMul <f64[1,2,3,4]> v3 v5 @ attn.go:7
v7 = Sum <f64[]> v6 name="loss" @ attn.go:8
loss v7
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := Simplify(g, NewStats()); err != nil {
		t.Fatal(err)
	}
	if err := graph.Validate(g); err != nil {
		t.Fatal(err)
	}
	var mms []*graph.Node
	for _, n := range g.Nodes {
		if n.Op == graph.OpMatMul {
			mms = append(mms, n)
		}
	}
	if len(mms) != 2 {
		t.Fatalf("%d products, want 2", len(mms))
	}
	scores, out := mms[0], mms[1]
	k := scores.Inputs[1]
	if !scores.Attrs.TransB || k.Op != graph.OpTranspose || !slices.Equal(k.Attrs.Perm, []int{0, 2, 1, 3}) || k.Inputs[0].Name != "k" {
		t.Errorf("scores = %s %v transB=%v of %s %v; want MatMul(q, Transpose(k, [0 2 1 3]), transB)", scores.Op, scores.Type, scores.Attrs.TransB, k.Op, k.Attrs.Perm)
	}
	if !out.Attrs.TransB || out.Inputs[1].Name != "a" {
		t.Errorf("the last-two swap stayed: %s of %s", out.Op, out.Inputs[1].Op)
	}
}
