// Package pngdraw is the little raster drawing mlc's figures need (the
// loss curve, attention heatmaps): text in a fixed 7×13 bitmap font,
// upright or reading upward, thick and dashed lines, and writing a PNG.
// It uses only the standard library and golang.org/x/image's basic font,
// so that the CLI's figures cost its users no plotting dependencies.
package pngdraw

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The font's cell: every character is CharW wide and LineH high.
const (
	CharW = 7
	LineH = 13
)

var face = basicfont.Face7x13

// TextWidth is the width of s in pixels.
func TextWidth(s string) int {
	n := 0
	for range s {
		n++
	}
	return n * CharW
}

// mask renders s as an alpha mask TextWidth(s) × LineH. The font has
// ASCII only: the middle dot and the ellipsis that token labels use are
// drawn by hand, a prime is an apostrophe, and any other rune shows as
// the font's replacement glyph.
func mask(s string) *image.Alpha {
	m := image.NewAlpha(image.Rect(0, 0, TextWidth(s), LineH))
	d := font.Drawer{Dst: m, Src: image.Opaque, Face: face}
	x := 0
	for _, r := range s {
		switch r {
		case '·':
			fill(m, x+2, 5, x+4, 7)
		case '…':
			for i := 0; i < 3; i++ {
				m.SetAlpha(x+1+2*i, 10, color.Alpha{A: 0xff})
			}
		default:
			if r == '′' {
				r = '\''
			}
			d.Dot = fixed.P(x, face.Ascent)
			d.DrawString(string(r))
		}
		x += CharW
	}
	return m
}

func fill(m *image.Alpha, x0, y0, x1, y1 int) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m.SetAlpha(x, y, color.Alpha{A: 0xff})
		}
	}
}

// Text draws s in colour c with its top-left corner at (x, y).
func Text(dst draw.Image, x, y int, s string, c color.Color) {
	m := mask(s)
	draw.DrawMask(dst, m.Bounds().Add(image.Pt(x, y)), image.NewUniform(c), image.Point{}, m, image.Point{}, draw.Over)
}

// TextUp draws s turned a quarter counter-clockwise, reading upward, in
// the box from (x, y-TextWidth(s)) to (x+LineH, y): (x, y) is its
// bottom-left corner, where the text starts.
func TextUp(dst draw.Image, x, y int, s string, c color.Color) {
	m := mask(s)
	b := m.Bounds()
	for my := b.Min.Y; my < b.Max.Y; my++ {
		for mx := b.Min.X; mx < b.Max.X; mx++ {
			if m.AlphaAt(mx, my).A != 0 {
				dst.Set(x+my, y-1-mx, c)
			}
		}
	}
}

// Fill paints the rectangle r.
func Fill(dst draw.Image, r image.Rectangle, c color.Color) {
	draw.Draw(dst, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// Polyline draws the line through pts, width pixels thick; with dash > 0
// it is dashed, dash pixels on and dash/2 off along its length.
func Polyline(dst draw.Image, pts []image.Point, width, dash int, c color.Color) {
	along := 0.0
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
		n := int(math.Ceil(math.Hypot(dx, dy)*2)) + 1 // half-pixel steps
		for j := 0; j < n; j++ {
			t := float64(j) / float64(n)
			// The pen's width widens each dash: the gaps make up for it.
			if dash > 0 && int(along+t*math.Hypot(dx, dy))%(dash+dash/2+width) >= dash {
				continue
			}
			dot(dst, float64(a.X)+t*dx, float64(a.Y)+t*dy, width, c)
		}
		along += math.Hypot(dx, dy)
	}
	if len(pts) > 0 && dash == 0 {
		p := pts[len(pts)-1]
		dot(dst, float64(p.X), float64(p.Y), width, c)
	}
}

// dot paints the width × width square of pixels centred on (x, y).
func dot(dst draw.Image, x, y float64, width int, c color.Color) {
	h := float64(width) / 2
	x0, y0 := int(math.Round(x-h)), int(math.Round(y-h))
	Fill(dst, image.Rect(x0, y0, x0+width, y0+width), c)
}

// Save writes img to path as a PNG.
func Save(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
