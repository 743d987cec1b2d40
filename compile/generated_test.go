package compile_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
)

func generate(t *testing.T, name string) []codegen.File {
	t.Helper()
	res, err := compile.Zoo(name, "", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := compile.Generate(res, name)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestGeneratedUpToDate fails when generated/ differs from what the compiler
// produces now: run `go generate ./generated/` and commit.
func TestGeneratedUpToDate(t *testing.T) {
	gen, err := os.ReadFile("../generated/generate.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range models.Zoo {
		line := "//go:generate go run ../cmd/mlc compile -model " + e.Name + " -o " + e.Name + "\n"
		if !strings.Contains(string(gen), line) {
			t.Errorf("generated/generate.go lacks %q", strings.TrimSpace(line))
			continue
		}
		for _, f := range generate(t, e.Name) {
			path := filepath.Join("..", "generated", e.Name, f.Name)
			have, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go generate ./generated/)", err)
				continue
			}
			if !bytes.Equal(have, f.Data) {
				t.Errorf("%s is stale: run go generate ./generated/ and commit", path)
			}
		}
	}
}

// TestGenerationDeterministic: compiling twice gives identical bytes.
func TestGenerationDeterministic(t *testing.T) {
	for _, e := range models.Zoo {
		a, b := generate(t, e.Name), generate(t, e.Name)
		for i := range a {
			if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
				t.Errorf("%s: %s differs between two compilations", e.Name, a[i].Name)
			}
		}
		for _, f := range a {
			if !bytes.HasPrefix(f.Data, []byte("// "+codegen.Header(e.Source)+"\n")) {
				t.Errorf("%s/%s does not start with the generated-code header", e.Name, f.Name)
			}
		}
	}
}

// TestGeneratedStandalone copies every generated package into a fresh module
// with its own go.mod and runs go build, go vet and its tests (which assert
// zero allocations per call): the package needs nothing but the standard
// library.
func TestGeneratedStandalone(t *testing.T) {
	testutil.Long(t, "builds every generated package")
	for _, e := range models.Zoo {
		t.Run(e.Name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/standalone\n\ngo 1.26\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, f := range generate(t, e.Name) {
				if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, imp := range importsOf(f.Data) {
					if strings.Contains(imp, ".") {
						t.Errorf("%s imports %s, outside the standard library", f.Name, imp)
					}
				}
			}
			for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"test", "-count=1", "./..."}} {
				cmd := exec.Command("go", args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
}

// importsOf lists the import paths of a Go file (a small scan of its import block).
func importsOf(src []byte) []string {
	var out []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "import ("):
			in = true
		case in && line == ")":
			in = false
		case in && line != "":
			f := strings.Fields(line)
			out = append(out, strings.Trim(f[len(f)-1], `"`))
		case strings.HasPrefix(line, "import \""):
			out = append(out, strings.Trim(strings.TrimPrefix(line, "import "), `"`))
		}
	}
	return out
}

// TestTrainStepAllocFreeWithEverything: the generated TrainStep stays
// allocation-free with AdamW, a warmup + cosine schedule, gradient clipping
// and dropout (the package's own TestZeroAllocs runs in a fresh module).
func TestTrainStepAllocFreeWithEverything(t *testing.T) {
	testutil.Long(t, "builds generated code")
	res, err := compile.Zoo("mlp", "sizes=20-16-16-5,batch=4,dropout=0.25", compile.Options{
		Optimizer: passes.OptimizerConfig{Kind: "adamw", LR: 0.01, Warmup: 5, Steps: 50, LRMin: 0.001, Clip: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []graph.Op{graph.OpApplyAdam, graph.OpLRSchedule, graph.OpGlobalNorm, graph.OpDropoutMask} {
		if len(res.Program.Train.NodesWithOp(op)) == 0 {
			t.Fatalf("the training graph has no %s", op)
		}
	}
	files, err := compile.Generate(res, "mlpfull")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/mlpfull\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-count=1", "-run", "TestZeroAllocs|TestGradientsStartFromZero", "-v", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestZeroAllocs") {
		t.Fatalf("go test: %v\n%s", err, out)
	}
}
