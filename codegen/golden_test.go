package codegen_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenModels holds the generated code of the seed MLP and XOR, whose
// backward pass users read to learn; -update rewrites the files.
func TestGoldenModels(t *testing.T) {
	for _, name := range []string{"seedmlp", "xor"} {
		res, err := compile.Zoo(name, "", compile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		files, err := compile.Generate(res, name)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name+".model.go.golden")
		got := string(files[0].Data)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update creates it)", err)
		}
		if diff := cmp.Diff(string(want), got); diff != "" {
			t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
		}
	}
}

// TestInlineConstantsReachEveryOp: a filled constant read by an op that
// takes slices (a loss here) is stored, not inlined; the program builds and
// agrees with the interpreter.
func TestInlineConstantsReachEveryOp(t *testing.T) {
	testutil.Long(t, "builds generated code")
	res, err := compile.Build("ic", "ic.go", func(b *dsl.Builder) {
		x := b.Param("x", dsl.Values(0.5, -1, 2), 3)
		b.Output("y", x.Sigmoid())
		b.Loss(dsl.BCEWithLogits(x, b.Const(1, 3)).Add(dsl.MSE(x.MaskFill(b.CausalMask(3).Reshape(9).SliceAxis(0, 0, 3)), b.Const(0, 3))))
	}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := compile.BuildRunner(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	req := compile.RunRequest{Loss: true, Grads: true}
	got, err := compile.RunGenerated(bin, req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := compile.RunInterpreted(res.Program, req)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Loss != *want.Loss {
		t.Fatalf("loss: generated %v, interpreter %v", *got.Loss, *want.Loss)
	}
}
