package pngdraw

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
)

// inked is the bounding box of the pixels of colour c.
func inked(img *image.RGBA, c color.RGBA) image.Rectangle {
	var r image.Rectangle
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			if img.RGBAAt(x, y) == c {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

var red = color.RGBA{0xff, 0, 0, 0xff}

// TestText: text is drawn inside its box; turned, a wide word becomes a
// tall one, in the box TextUp documents; the runes the font lacks that
// token labels use are drawn too.
func TestText(t *testing.T) {
	if w := TextWidth("a·…é"); w != 4*CharW {
		t.Errorf("TextWidth counts %d pixels, want 4 characters", w)
	}
	img := image.NewRGBA(image.Rect(0, 0, 100, 100))
	Text(img, 10, 20, "mmmm", red)
	if b := inked(img, red); b.Empty() || !b.In(image.Rect(10, 20, 10+TextWidth("mmmm"), 20+LineH)) || b.Dx() < 3*b.Dy() {
		t.Errorf("upright text inked %v", b)
	}
	img = image.NewRGBA(image.Rect(0, 0, 100, 100))
	TextUp(img, 10, 60, "mmmm", red)
	if b := inked(img, red); b.Empty() || !b.In(image.Rect(10, 60-TextWidth("mmmm"), 10+LineH, 60)) || b.Dy() < 3*b.Dx() {
		t.Errorf("turned text inked %v", b)
	}
	for _, s := range []string{"·", "…", "′"} {
		img = image.NewRGBA(image.Rect(0, 0, 20, 20))
		Text(img, 0, 0, s, red)
		if inked(img, red).Empty() {
			t.Errorf("%q draws nothing", s)
		}
	}
}

// TestPolyline: a solid line covers its length at its width; a dashed one
// has gaps; Save writes a PNG that decodes to the same pixels.
func TestPolyline(t *testing.T) {
	count := func(dash int) (int, image.Rectangle) {
		img := image.NewRGBA(image.Rect(0, 0, 120, 20))
		Polyline(img, []image.Point{{10, 10}, {60, 10}, {110, 10}}, 2, dash, red)
		n := 0
		for x := 0; x < 120; x++ {
			for y := 0; y < 20; y++ {
				if img.RGBAAt(x, y) == red {
					n++
				}
			}
		}
		if dash == 0 {
			path := filepath.Join(t.TempDir(), "l.png")
			if err := Save(path, img); err != nil {
				t.Fatal(err)
			}
			got := testutil.DecodePNG(t, path)
			if c := color.RGBAModel.Convert(got.At(50, 10)); c != red {
				t.Errorf("the saved line's pixel is %v", c)
			}
		}
		return n, inked(img, red)
	}
	solid, b := count(0)
	if b.Dy() != 2 || b.Dx() < 100 || solid != 2*b.Dx() {
		t.Errorf("solid line: %d pixels in %v", solid, b)
	}
	dashed, b := count(8)
	if b.Dx() < 95 || dashed > solid*3/4 || dashed < solid/2 {
		t.Errorf("dashed line: %d pixels in %v (solid %d)", dashed, b, solid)
	}
}
