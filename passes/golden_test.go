package passes_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlc-dev/mlc/graph"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// TestSeedMLPBackwardGolden holds the printed train graph of the seed MLP.
// The output gradient must be visibly sigmoid(z2) − y, one Sub of a Sigmoid.
func TestSeedMLPBackwardGolden(t *testing.T) {
	g := trainGraph(t, "seedmlp", "")
	s := g.String()
	checkGolden(t, "autodiff/seedmlp.train.ir", s)
	dz2 := g.Find("dz2")
	if dz2 == nil || dz2.Op.String() != "Sub" || dz2.Inputs[0].Op.String() != "Sigmoid" || dz2.Inputs[0].Inputs[0].Name != "z2" || dz2.Inputs[1].Name != "y" {
		t.Fatalf("dz2 is not sigmoid(z2) − y:\n%s", s)
	}
	for _, n := range g.Nodes {
		if n.Role == graph.RoleBackward && (n.Op == graph.OpLog || n.Op == graph.OpDiv) {
			t.Errorf("backward graph differentiates through log or division at %s:\n%s", n.Ref(), s)
		}
	}
}
