package train

import (
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"strconv"

	"github.com/mlc-dev/mlc/internal/pngdraw"
)

// The loss plot's size and colours: the training curve solid blue, the
// validation curve dashed orange with a mark at each point.
const plotW, plotH = 800, 450

var (
	trainColor = color.RGBA{0x1f, 0x5f, 0xc0, 0xff}
	valColor   = color.RGBA{0xe0, 0x70, 0x10, 0xff}
	gridColor  = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
)

// PlotCurve draws the loss curve of a loss.csv (step, loss, val_loss) to a
// PNG: step across, loss up, both with tick values, a legend when there
// is a validation curve. Rows whose loss is not finite are left out.
func PlotCurve(csvPath, pngPath, model string) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %v", csvPath, err)
	}
	var train, val [][2]float64
	for i, r := range rows {
		if i == 0 || len(r) < 2 {
			continue
		}
		s, err1 := strconv.ParseFloat(r[0], 64)
		l, err2 := strconv.ParseFloat(r[1], 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s:%d: bad row %q", csvPath, i+1, r)
		}
		if finite(l) { // a diverged run's NaN rows are left out, not fatal
			train = append(train, [2]float64{s, l})
		}
		if len(r) > 2 && r[2] != "" {
			if v, err := strconv.ParseFloat(r[2], 64); err == nil && finite(v) {
				val = append(val, [2]float64{s + 1, v}) // measured after the step
			}
		}
	}
	if len(train) == 0 {
		return nil
	}
	return pngdraw.Save(pngPath, drawCurves(model+" training loss", train, val))
}

// drawCurves draws the curves on axes that hold them all.
func drawCurves(title string, train, val [][2]float64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	pngdraw.Fill(img, img.Bounds(), color.White)
	area := image.Rect(76, 36, plotW-20, plotH-46) // the data's rectangle
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range append(train[:len(train):len(train)], val...) {
		x0, x1 = min(x0, p[0]), max(x1, p[0])
		y0, y1 = min(y0, p[1]), max(y1, p[1])
	}
	if x1 == x0 {
		x0, x1 = x0-1, x1+1
	}
	pad := (y1 - y0) * 0.05
	if pad == 0 {
		pad = math.Max(math.Abs(y0)*0.1, 0.5)
	}
	y0, y1 = y0-pad, y1+pad
	px := func(p [2]float64) image.Point {
		return image.Pt(area.Min.X+int(math.Round((p[0]-x0)/(x1-x0)*float64(area.Dx()-1))),
			area.Max.Y-1-int(math.Round((p[1]-y0)/(y1-y0)*float64(area.Dy()-1))))
	}
	ink := color.Black

	// Grid lines and tick values, then the frame.
	for _, t := range ticks(x0, x1, 8) {
		x := px([2]float64{t.v, y0}).X
		pngdraw.Fill(img, image.Rect(x, area.Min.Y, x+1, area.Max.Y), gridColor)
		pngdraw.Fill(img, image.Rect(x, area.Max.Y, x+1, area.Max.Y+4), ink)
		pngdraw.Text(img, x-pngdraw.TextWidth(t.s)/2, area.Max.Y+6, t.s, ink)
	}
	for _, t := range ticks(y0, y1, 6) {
		y := px([2]float64{x0, t.v}).Y
		pngdraw.Fill(img, image.Rect(area.Min.X, y, area.Max.X, y+1), gridColor)
		pngdraw.Fill(img, image.Rect(area.Min.X-4, y, area.Min.X, y+1), ink)
		pngdraw.Text(img, area.Min.X-6-pngdraw.TextWidth(t.s), y-pngdraw.LineH/2, t.s, ink)
	}
	frame(img, area, ink)
	pngdraw.Text(img, (plotW-pngdraw.TextWidth(title))/2, 12, title, ink)
	pngdraw.Text(img, area.Min.X+(area.Dx()-pngdraw.TextWidth("step"))/2, area.Max.Y+24, "step", ink)
	pngdraw.TextUp(img, 10, area.Min.Y+(area.Dy()+pngdraw.TextWidth("loss"))/2, "loss", ink)

	line := func(pts [][2]float64) []image.Point {
		var ps []image.Point
		for _, p := range pts {
			ps = append(ps, px(p))
		}
		return ps
	}
	pngdraw.Polyline(img, line(train), 2, 0, trainColor)
	if len(val) == 0 {
		return img
	}
	vs := line(val)
	pngdraw.Polyline(img, vs, 2, 8, valColor)
	for _, p := range vs {
		pngdraw.Fill(img, image.Rect(p.X-3, p.Y-3, p.X+4, p.Y+4), valColor)
	}

	// The legend, in the top right corner.
	lg := image.Rect(area.Max.X-130, area.Min.Y+8, area.Max.X-8, area.Min.Y+52)
	pngdraw.Fill(img, lg, color.White)
	frame(img, lg, ink)
	for i, e := range []struct {
		name string
		c    color.Color
		dash int
	}{{"train", trainColor, 0}, {"validation", valColor, 8}} {
		y := lg.Min.Y + 13 + 18*i
		pngdraw.Polyline(img, []image.Point{{lg.Min.X + 8, y}, {lg.Min.X + 40, y}}, 2, e.dash, e.c)
		pngdraw.Text(img, lg.Min.X+48, y-pngdraw.LineH/2, e.name, ink)
	}
	return img
}

// frame draws r's outline.
func frame(img *image.RGBA, r image.Rectangle, c color.Color) {
	pngdraw.Fill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), c)
	pngdraw.Fill(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), c)
	pngdraw.Fill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), c)
	pngdraw.Fill(img, image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), c)
}

type tick struct {
	v float64
	s string
}

// ticks are round values (1, 2 or 5 times a power of ten apart) in
// [lo, hi], about n of them at most, with their labels.
func ticks(lo, hi float64, n int) []tick {
	raw := (hi - lo) / float64(n)
	e := math.Floor(math.Log10(raw))
	step := math.Pow(10, e)
	for _, m := range []float64{1, 2, 5, 10} {
		if m*math.Pow(10, e) >= raw {
			step = m * math.Pow(10, e)
			break
		}
	}
	digits := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ts []tick
	for k := math.Ceil(lo / step); k*step <= hi; k++ {
		v := k * step
		if v == 0 {
			v = 0 // not −0
		}
		ts = append(ts, tick{v, strconv.FormatFloat(v, 'f', digits, 64)})
	}
	return ts
}
