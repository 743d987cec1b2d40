package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/mechinterp"
)

// The test's run: a smaller model on shorter sequences, whose induction
// head forms after about 1,000-1,500 steps (ten seconds) instead of the
// default's 1,500-2,000 steps of a model four times as costly per step.
const (
	inductionTestConfig = "vocab=32,ctx=16,d=32,heads=2,batch=32"
	inductionTestSteps  = "2500"
)

// TestInduction trains the demo briefly through the generated code: the
// repeat's loss falls far below the first copy's, the top head scores far
// above chance, the heatmap is a real picture, and a seed fixes the JSON.
func TestInduction(t *testing.T) {
	testutil.Long(t, "trains a model with generated code")
	dir := t.TempDir()
	png := filepath.Join(dir, "head.png")
	code, out, errs := runCLI("induction", "-steps", inductionTestSteps, "-config", inductionTestConfig, "-o", png, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep mechinterp.InductionReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("loss first %.4f second %.4f; top layer %d head %d score %.4f (chance %.4f)\n%s", rep.Loss.FirstHalf, rep.Loss.SecondHalf, rep.Top.Layer, rep.Top.Head, rep.Top.Induction, rep.Chance, errs)
	if !(rep.Loss.SecondHalf < rep.Loss.FirstHalf-1) {
		t.Errorf("second-half loss %.4f is not far below the first half's %.4f", rep.Loss.SecondHalf, rep.Loss.FirstHalf)
	}
	if !(rep.Top.Induction > 3*rep.Chance) {
		t.Errorf("top head scores %.4f, chance is %.4f", rep.Top.Induction, rep.Chance)
	}
	if len(rep.Heads) != 4 || rep.PNG != png || rep.Sequences != 128 {
		t.Errorf("%d heads, png %q, %d sequences", len(rep.Heads), rep.PNG, rep.Sequences)
	}
	img := testutil.DecodePNG(t, png)
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 400 { // 16 tokens a side, with labels and the colour bar
		t.Errorf("heatmap is %dx%d", b.Dx(), b.Dy())
	}
	if n := testutil.DistinctColors(img); n < 50 {
		t.Errorf("only %d distinct colours: the heatmap looks blank", n)
	}

	// A seed fixes the run: two short runs print the same JSON.
	var first []byte
	for i := range 2 {
		code, out, errs := runCLI("induction", "-steps", "10", "-config", inductionTestConfig, "-seed", "3", "-o", "", "-json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if i == 0 {
			first = []byte(out)
		} else if !bytes.Equal(first, []byte(out)) {
			t.Errorf("the same seed printed different JSON:\n%s\n%s", first, out)
		}
	}
}

func TestInductionBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-steps", "0"}, "mlc induction: -steps must be positive, got 0"},
		{[]string{"-lr", "-1"}, "mlc induction: -lr must be positive, got -1"},
		{[]string{"-log", "0"}, "mlc induction: -log must be positive, got 0"},
		{[]string{"-o", "head.svg"}, "mlc induction: -o head.svg: the heatmap is a PNG, give a .png file"},
		{[]string{"-config", "vocab=16"}, "mlc induction: vocab 16 is too small for ctx 64: sequences need 49 distinct tokens"},
		{[]string{"-config", "depth=3"}, `mlc induction: unknown config key "depth" for gpt`},
		{[]string{"-engine", ""}, `mlc induction: -engine must be gen or interp, got ""`},
	} {
		code, out, errs := runCLI(append([]string{"induction"}, tc.args...)...)
		if code != 1 || out != "" || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", tc.args, code, out, errs, tc.want)
		}
	}
}
