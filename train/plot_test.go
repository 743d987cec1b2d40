package train

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
)

// colorColumns gives, for each column of img that has pixels of colour c,
// the topmost such pixel's row, and the number of such pixels.
func colorColumns(img image.Image, c color.RGBA) (map[int]int, int) {
	top, n := map[int]int{}, 0
	b := img.Bounds()
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				if _, ok := top[x]; !ok {
					top[x] = y
				}
				n++
			}
		}
	}
	return top, n
}

// TestPlotCurveDraws decodes the PNG: its size; a falling training curve
// drawn from high on the left to low on the right across most of the
// width; the validation curve in its own colour only when loss.csv has
// validation losses; NaN rows left out without losing the rest.
func TestPlotCurveDraws(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		val  bool
		nan  bool
	}{{"train", false, false}, {"val", true, false}, {"nan", true, true}} {
		var b strings.Builder
		b.WriteString("step,loss,val_loss\n")
		for i := range 200 {
			l, v := fmt.Sprint(5-0.02*float64(i)), ""
			if tc.val && (i+1)%50 == 0 {
				v = fmt.Sprint(5.2 - 0.02*float64(i))
			}
			if tc.nan && i >= 100 && i < 110 {
				l, v = "NaN", "NaN"
			}
			fmt.Fprintf(&b, "%d,%s,%s\n", i, l, v)
		}
		csv, png := filepath.Join(dir, tc.name+".csv"), filepath.Join(dir, tc.name+".png")
		if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := PlotCurve(csv, png, "m"); err != nil {
			t.Fatal(err)
		}
		img := testutil.DecodePNG(t, png)
		if s := img.Bounds().Size(); s != image.Pt(plotW, plotH) {
			t.Fatalf("%s: the plot is %v, want %dx%d", tc.name, s, plotW, plotH)
		}
		cols, _ := colorColumns(img, trainColor)
		left, right := plotW, -1
		for x := range cols {
			left, right = min(left, x), max(right, x)
		}
		if right-left < plotW*3/4 {
			t.Fatalf("%s: the training curve spans columns %d..%d of %d", tc.name, left, right, plotW)
		}
		if cols[left] >= cols[right]-plotH/2 {
			t.Errorf("%s: a falling loss is drawn from row %d on the left to row %d on the right", tc.name, cols[left], cols[right])
		}
		_, nval := colorColumns(img, valColor)
		if tc.val && nval < 100 || !tc.val && nval != 0 {
			t.Errorf("%s: %d pixels of the validation colour", tc.name, nval)
		}
	}
}
