package codegen_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlc-dev/mlc/compile"
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
