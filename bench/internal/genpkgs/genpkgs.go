// Package genpkgs writes the packages the peer benchmark compiles with mlc
// (the XOR at the text's learning rate, the GPT's train step and its three
// decoding windows) into bench/internal/gen, which git ignores. They are not
// committed: the benchmark compiles them with the checkout's own compiler
// when it runs, so it always measures what the compiler emits now.
//
// The directory is keyed by a hash of the compiler's sources (every .go and
// .s file of the main module outside bench/, examples/, generated/ and
// testdata, its go.mod and go.sum) and of the compile commands; Ensure
// does nothing when bench/internal/gen/STAMP holds the current key.
package genpkgs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// gptConfig is the benchmark's GPT (bench/python/peers.py builds the same
// one in PyTorch): vocab 65, d 128, 4 heads, 2 layers, ffn 512 (4·d),
// learned positions, pre-LN with a final LayerNorm, GELU (tanh form),
// tied embedding, no dropout, f32.
const gptConfig = "vocab=65,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=true,dropout=0"

// adamw is the train step's optimizer: AdamW with PyTorch's update rule and
// peers.py's hyperparameters (lr 1e-3, β 0.9/0.999, ε 1e-8, wd 0.01 on every
// parameter, no schedule, no clipping).
var adamw = []string{"-opt", "adamw", "-lr", "1e-3", "-wd", "0.01"}

// Spec is one package: its name (the directory under bench/internal/gen and
// the Go package name) and the arguments of `mlc compile` before -o.
type Spec struct {
	Pkg  string
	Args []string
}

// Specs are the benchmark's packages.
var Specs = []Spec{
	// The reference text's XOR needs its learning rate, 0.5, in TrainStep
	// (generated/xor uses the optimizer's default, 0.1).
	{"xorlr05", []string{"-model", "xor", "-lr", "0.5"}},
	// The train step: ctx 64, batch 16.
	{"gpttrain", append([]string{"-model", "gpt", "-config", gptConfig + ",ctx=64,batch=16"}, adamw...)},
	// The decode model, batch 1, with windows of 64, 256 and 1024
	// positions. Their shapes are static, so a forward pass over C tokens
	// (the recompute rows) is Predict on the package whose window is C;
	// cmd/gptwork copies gptctx1024's weights into the other two.
	{"gptctx64", append([]string{"-model", "gpt", "-config", gptConfig + ",ctx=64,batch=1"}, adamw...)},
	{"gptctx256", append([]string{"-model", "gpt", "-config", gptConfig + ",ctx=256,batch=1"}, adamw...)},
	{"gptctx1024", append([]string{"-model", "gpt", "-config", gptConfig + ",ctx=1024,batch=1"}, adamw...)},
}

// Dir is where the packages go, relative to bench/.
const Dir = "internal/gen"

// Key hashes the compiler's sources under root (the main module) and the
// compile commands.
func Key(root string) (string, error) {
	h := sha256.New()
	for _, s := range Specs {
		fmt.Fprintf(h, "spec %s %q\n", s.Pkg, s.Args)
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" ||
				rel == "bench" || rel == "examples" || rel == "generated") {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || strings.HasSuffix(name, ".s") ||
			rel == "go.mod" || rel == "go.sum" {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	for _, rel := range files {
		f, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s\n", filepath.ToSlash(rel))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Ensure makes bench/internal/gen hold the packages of Specs compiled by the
// main module's current compiler. bench is the bench module's directory;
// the main module is its parent. With force it compiles even when the
// stamp matches. It reports what it did through logf.
func Ensure(bench string, force bool, logf func(string, ...any)) error {
	bench, err := filepath.Abs(bench)
	if err != nil {
		return err
	}
	root := filepath.Dir(bench)
	key, err := Key(root)
	if err != nil {
		return fmt.Errorf("hashing the compiler's sources: %v", err)
	}
	dir := filepath.Join(bench, Dir)
	stamp := filepath.Join(dir, "STAMP")
	if b, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(b)) == key && !force && complete(dir) {
		logf("bench packages up to date (%s, compiler key %s)", filepath.Join("bench", Dir), key)
		return nil
	}
	// Build mlc once, compile into a directory the go command ignores (its
	// name starts with a dot), then swap it in.
	tmp, err := os.MkdirTemp(filepath.Join(bench, "internal"), ".gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	mlc := filepath.Join(tmp, "mlc")
	cmd := exec.Command("go", "build", "-o", mlc, "./cmd/mlc")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building mlc: %v\n%s", err, out)
	}
	for _, s := range Specs {
		args := append(append([]string{"compile"}, s.Args...), "-o", filepath.Join(tmp, "pkgs", s.Pkg), "-pkg", s.Pkg)
		cmd := exec.Command(mlc, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("mlc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "pkgs", "STAMP"), []byte(key+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, "pkgs"), dir); err != nil {
		return err
	}
	logf("bench packages compiled into %s with this checkout's mlc (compiler key %s)", filepath.Join("bench", Dir), key)
	return nil
}

// complete reports whether every package directory exists.
func complete(dir string) bool {
	for _, s := range Specs {
		if _, err := os.Stat(filepath.Join(dir, s.Pkg, "model.go")); err != nil {
			return false
		}
	}
	return true
}
