package genpkgs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestKey checks that the key follows the compiler's sources and nothing
// else: a changed .go or .s file changes it; tests, the bench module and
// testdata do not.
func TestKey(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key := func() string {
		k, err := Key(root)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write("go.mod", "module x\n")
	write("codegen/emit.go", "package codegen\n")
	write("codegen/kernels/k_amd64.s", "TEXT ·f(SB), 0, $0\n")
	k0 := key()
	for _, rel := range []string{"codegen/emit_test.go", "bench/cmd/x.go", "codegen/testdata/a.go", "docs/x.md", "examples/m/m.go", "generated/xor/model.go"} {
		write(rel, "package x // "+rel+"\n")
		if k := key(); k != k0 {
			t.Errorf("writing %s changed the key", rel)
		}
	}
	write("codegen/emit.go", "package codegen // changed\n")
	k1 := key()
	if k1 == k0 {
		t.Errorf("changing codegen/emit.go kept the key")
	}
	write("codegen/kernels/k_amd64.s", "TEXT ·f(SB), 0, $8\n")
	if key() == k1 {
		t.Errorf("changing an assembly file kept the key")
	}
}
