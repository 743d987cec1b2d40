package graph

import "testing"

// TestRemoveKeepsOfLinks: removing a forward node that a surviving backward
// node differentiates re-points the link at the live forward node that fed
// it (a fuzzer finding: implicit-broadcast left the explicit broadcast dead,
// and its gradient's of= dangled).
func TestRemoveKeepsOfLinks(t *testing.T) {
	g, err := Parse("remove.ir", `mlc-ir 1
graph "remove" source "remove.go"
v0 = Param <f64[1,2]> {init=values data=[0.5,-1]} name="p" @ remove.go:1
v1 = Tanh <f64[1,2]> v0 @ remove.go:2
v2 = BroadcastTo <f64[3,2]> v1 {shape=[3,2]} @ remove.go:3
v3 = Mul <f64[1,2]> v1 v1 @ remove.go:4
v4 = Sum <f64[]> v3 name="loss" @ remove.go:4
v5 = Const <f64[3,2]> {value=1} role=backward of=v2 @ remove.go:3
v6 = Sum <f64[1,2]> v5 {axes=[0] keepdims=true} role=backward of=v2 @ remove.go:3
output "y" v6
loss v4
`)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := g.Nodes[1], g.Nodes[2]
	if n := g.Remove(func(n *Node) bool { return n == v2 }); n != 1 {
		t.Fatalf("removed %d nodes, want 1", n)
	}
	if err := Validate(g); err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.Role == RoleBackward && n.Of != v1 {
			t.Errorf("%s: of=%v, want the broadcast's operand %s", n.Ref(), n.Of, v1.Ref())
		}
	}
}

// TestStorageOfLiteralsAndConstantOutputs: an elementwise op never gets only
// literal operands (Go would evaluate 1 / 2 as the integer 0), and constant
// outputs live in the arena, where the caller may write.
func TestStorageOfLiteralsAndConstantOutputs(t *testing.T) {
	g, err := Parse("storage.ir", `mlc-ir 1
graph "storage" source "storage.go"
v0 = Input <bool[2]> name="c" @ storage.go:1
v1 = Const <f64[2]> {value=1} @ storage.go:2
v2 = Const <f64[]> {value=2} @ storage.go:2
v3 = Div <f64[2]> v1 v2 @ storage.go:2
v4 = Where <f64[2]> v0 v2 v1 @ storage.go:3
v5 = Const <f64[2]> {value=0 data=[3,4]} @ storage.go:4
v6 = Reshape <f64[1,2]> v5 {shape=[1,2]} @ storage.go:4
v7 = Const <f64[2]> {value=5} @ storage.go:5
output "half" v3
output "where" v4
output "data" v5
output "reshaped" v6
output "filled" v7
`)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := StorageOf(g)
	n := g.Nodes
	if st[n[1]] == StoreInline && st[n[2]] == StoreInline {
		t.Errorf("Div(1, 2) and Where(c, 2, 1) read two literals: %s is %v, %s is %v", n[1].Ref(), st[n[1]], n[2].Ref(), st[n[2]])
	}
	for _, out := range []*Node{n[5], n[6], n[7]} {
		if st[out] != StoreArena {
			t.Errorf("constant output %s is stored as %v, want the arena", out.Ref(), st[out])
		}
	}
}
