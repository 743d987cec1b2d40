package train

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotCurve draws the loss curve of a loss.csv (step, loss, val_loss) to a PNG.
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
	var train, val plotter.XYs
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
			train = append(train, plotter.XY{X: s, Y: l})
		}
		if len(r) > 2 && r[2] != "" {
			if v, err := strconv.ParseFloat(r[2], 64); err == nil && finite(v) {
				val = append(val, plotter.XY{X: s + 1, Y: v})
			}
		}
	}
	if len(train) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = model + " training loss"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	line, err := plotter.NewLine(train)
	if err != nil {
		return err
	}
	p.Add(line, plotter.NewGrid())
	p.Legend.Add("train", line)
	if len(val) > 0 {
		vl, pts, err := plotter.NewLinePoints(val)
		if err != nil {
			return err
		}
		vl.Color, pts.Color = plotter.DefaultLineStyle.Color, plotter.DefaultLineStyle.Color
		vl.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(vl, pts)
		p.Legend.Add("validation", vl)
	}
	return p.Save(8*vg.Inch, 4.5*vg.Inch, pngPath)
}
