package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
	"github.com/mlc-dev/mlc/train"
)

// attnConfig is a gpt small enough to train for a few steps in a test.
const attnConfig = "vocab=300,ctx=24,d=16,heads=2,layers=2,ffn=32"

// trainTinyGPT trains attnConfig for a few steps on generated Go-like text
// and returns the checkpoint directory.
func trainTinyGPT(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var text strings.Builder
	for i := range 300 {
		fmt.Fprintf(&text, "func f%d(a, b int) int {\n\treturn a*%d + b\n}\n\n", i, i%7)
	}
	data := filepath.Join(dir, "corpus.go")
	if err := os.WriteFile(data, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "ckpt")
	code, _, errs := runCLI("train", "-model", "gpt", "-config", attnConfig, "-data", data, "-steps", "20", "-batch", "2", "-ckpt", ckpt)
	if code != 0 {
		t.Fatalf("training the test model: exit %d\n%s", code, errs)
	}
	return ckpt
}

// TestAttn: the JSON weights are the model's attention (rows sum to 1, no
// weight on later keys) and equal the interpreter's tap; the PNG is a real,
// non-blank picture; long texts keep their last ctx tokens; bad flags are
// one-line errors that name the valid range.
func TestAttn(t *testing.T) {
	testutil.Long(t, "trains a model and builds generated packages")
	ckpt := trainTinyGPT(t)
	const text = "func add(a, b int) int {\n\treturn a + b\n}"

	t.Run("json", func(t *testing.T) {
		code, out, errs := runCLI("attn", "-ckpt", ckpt, "-text", text, "-layer", "1", "-json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var rep attnReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if rep.Model != "gpt" || rep.Layer != 1 || rep.Layers != 2 || rep.Tap != "h1.attn.weights" || fmt.Sprint(rep.Heads) != "[0 1]" {
			t.Errorf("header: model %q layer %d of %d tap %q heads %v", rep.Model, rep.Layer, rep.Layers, rep.Tap, rep.Heads)
		}
		n := len(rep.IDs)
		if n == 0 || n > 24 || len(rep.Tokens) != n || strings.Join(rep.Tokens, "") != text {
			t.Fatalf("%d ids, tokens %q: they should spell the text", n, rep.Tokens)
		}
		if len(rep.Weights) != 2 {
			t.Fatalf("%d heads of weights, want 2", len(rep.Weights))
		}
		want := interpAttention(t, ckpt, rep.IDs, "h1.attn.weights")
		for h, m := range rep.Weights {
			if len(m) != n {
				t.Fatalf("head %d: %d rows for %d tokens", h, len(m), n)
			}
			for q, row := range m {
				if len(row) != n {
					t.Fatalf("head %d row %d: %d keys for %d tokens", h, q, len(row), n)
				}
				sum := 0.0
				for k, num := range row {
					w, err := num.Float64()
					if err != nil {
						t.Fatal(err)
					}
					sum += w
					if k > q && w != 0 {
						t.Errorf("head %d: query %d attends to the later key %d (%g)", h, q, k, w)
					}
					if d := math.Abs(w - want[(h*24+q)*24+k]); d > 1e-5 {
						t.Errorf("head %d [%d][%d] = %g, the interpreter says %g", h, q, k, w, want[(h*24+q)*24+k])
					}
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Errorf("head %d row %d sums to %g", h, q, sum)
				}
			}
		}
		// One head only; the same numbers.
		code, out1, errs := runCLI("attn", "-ckpt", ckpt, "-text", text, "-layer", "1", "-head", "1", "-json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var one attnReport
		if err := json.Unmarshal([]byte(out1), &one); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(one.Heads) != "[1]" || len(one.Weights) != 1 || fmt.Sprint(one.Weights[0]) != fmt.Sprint(rep.Weights[1]) {
			t.Errorf("-head 1: heads %v, weights differ from head 1 of the whole layer", one.Heads)
		}
		// The interpreter gives the same weights.
		code, outI, errs := runCLI("attn", "-ckpt", ckpt, "-text", text, "-layer", "1", "-engine", "interp", "-json")
		if code != 0 {
			t.Fatalf("-engine interp: exit %d: %s", code, errs)
		}
		var interp attnReport
		if err := json.Unmarshal([]byte(outI), &interp); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(interp.IDs) != fmt.Sprint(rep.IDs) || len(interp.Weights) != len(rep.Weights) {
			t.Fatalf("-engine interp: ids %v, %d heads", interp.IDs, len(interp.Weights))
		}
		for h := range rep.Weights {
			for q := range rep.Weights[h] {
				for k, num := range rep.Weights[h][q] {
					g, _ := num.Float64()
					i, _ := interp.Weights[h][q][k].Float64()
					if math.Abs(g-i) > 1e-5 {
						t.Errorf("head %d [%d][%d]: gen %g, interp %g", h, q, k, g, i)
					}
				}
			}
		}
		// Stable: the same text gives the same bytes.
		if _, again, _ := runCLI("attn", "-ckpt", ckpt, "-text", text, "-layer", "1", "-json"); again != out {
			t.Errorf("two runs printed different JSON")
		}
	})

	t.Run("png", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "attn.png")
		code, out, errs := runCLI("attn", "-ckpt", ckpt, "-text", text, "-o", path)
		if code != 0 || out != "" {
			t.Fatalf("exit %d, stdout %q: %s", code, out, errs)
		}
		img := testutil.DecodePNG(t, path)
		b := img.Bounds()
		// Two panels side by side: wider than tall, and big enough to read.
		if b.Dx() < 800 || b.Dy() < 400 || b.Dx() <= b.Dy() {
			t.Errorf("image is %dx%d, want two panels side by side at least 800x400", b.Dx(), b.Dy())
		}
		if n := testutil.DistinctColors(img); n < 50 {
			t.Errorf("only %d distinct colours: the heatmap looks blank", n)
		}
	})

	t.Run("long text", func(t *testing.T) {
		long := strings.Repeat("return a + b\n", 20)
		code, out, errs := runCLI("attn", "-ckpt", ckpt, "-text", long, "-json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if !strings.Contains(errs, "more than the context of 24; keeping the last 24") {
			t.Errorf("no warning about the context: %q", errs)
		}
		var rep attnReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.IDs) != 24 || !strings.HasSuffix(long, strings.Join(rep.Tokens, "")) {
			t.Errorf("kept %d tokens %q, want the last 24", len(rep.IDs), rep.Tokens)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-text", "x", "-json"}, "mlc attn: -ckpt DIR is required"},
			{[]string{"-ckpt", ckpt, "-json"}, "mlc attn: -text is required"},
			{[]string{"-ckpt", ckpt, "-text", "x"}, "mlc attn: nothing to do: give -o FILE.png or -json (or both)"},
			{[]string{"-ckpt", ckpt, "-text", "x", "-o", "x.jpg"}, "mlc attn: -o x.jpg: the heatmap is a PNG, give a .png file"},
			{[]string{"-ckpt", ckpt, "-text", "x", "-json", "-layer", "2"}, "mlc attn: -layer 2 is out of range: gpt has 2 attention layers, 0..1"},
			{[]string{"-ckpt", ckpt, "-text", "x", "-json", "-layer", "-1"}, "mlc attn: -layer -1 is out of range: gpt has 2 attention layers, 0..1"},
			{[]string{"-ckpt", ckpt, "-text", "x", "-json", "-head", "2"}, "mlc attn: -head 2 is out of range: layer 0 has 2 heads, 0..1"},
			{[]string{"-ckpt", ckpt, "-text", "x", "-json", "-model", "bert"}, `written for model "gpt", not "bert"`},
			{[]string{"-ckpt", t.TempDir(), "-text", "x", "-json"}, "checkpoint.safetensors"},
			{[]string{"-ckpt", ckpt, "-text", "x", "-json", "-engine", "tpu"}, `mlc attn: -engine must be gen or interp, got "tpu"`},
		} {
			code, out, errs := runCLI(append([]string{"attn"}, tc.args...)...)
			if code != 1 || out != "" || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", tc.args, code, out, errs, tc.want)
			}
		}
	})
}

// interpAttention runs the checkpoint's model on ids with the interpreter
// and returns the named attention tap of the first sequence, [H, T, T].
func interpAttention(t *testing.T, ckpt string, toks []int, tap string) []float64 {
	t.Helper()
	ck, err := safetensors.LoadCheckpoint(filepath.Join(ckpt, ckptFile))
	if err != nil {
		t.Fatal(err)
	}
	res, err := compile.Zoo("gpt", attnConfig+",batch=1", compile.Options{Float: graph.F32, Taps: []string{tap}})
	if err != nil {
		t.Fatal(err)
	}
	window := make([]int32, 24)
	for i, id := range toks {
		window[i] = int32(id)
	}
	out, err := compile.RunInterpreted(res.Program, compile.RunRequest{Params: train.FromSafetensors(ck.Params), Inputs: map[string]runtime.JSONTensor{"ids": data.IDs(window, 1, 24)}})
	if err != nil {
		t.Fatal(err)
	}
	w, ok := out.Taps[tap]
	if !ok {
		t.Fatalf("the interpreter has no tap %s", tap)
	}
	f := make([]float64, len(w.Data))
	for i, v := range w.Data {
		f[i] = float64(v)
	}
	return f
}
