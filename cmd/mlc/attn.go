package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

func init() {
	register(verb{
		name:  "attn",
		usage: "mlc attn -ckpt DIR -text S [-model M] [-layer L] [-head H] [-o FILE.png] [-json]",
		doc:   "attention weights of a trained language model on a text: a heatmap per head, or JSON",
		run:   cmdAttn,
	})
}

// attnReport is what -json prints: the weights of the chosen heads of one
// layer, weights[i][q][k] for head heads[i], query position q and key
// position k (zero for k > q: the mask is causal).
type attnReport struct {
	Model   string            `json:"model"`
	Tap     string            `json:"tap"`
	Layer   int               `json:"layer"`
	Layers  int               `json:"layers"`
	Heads   []int             `json:"heads"`
	IDs     []int             `json:"ids"`
	Tokens  []string          `json:"tokens"`
	Weights [][][]json.Number `json:"weights"`
}

func cmdAttn(c *cli, args []string) error {
	fs := c.flags("attn")
	model := fs.String("model", "", "model name (default: the checkpoint's)")
	ckpt := fs.String("ckpt", "", "directory of a checkpoint written by mlc train (required)")
	text := fs.String("text", "", "the text to run the model on (required)")
	layer := fs.Int("layer", 0, "the attention layer, from 0")
	head := fs.Int("head", -1, "one head, from 0 (default: every head of the layer)")
	out := fs.String("o", "", "write the heatmap to this PNG file")
	asJSON := fs.Bool("json", false, "print the tokens and weights as JSON")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *out == "" && !*asJSON {
		return fmt.Errorf("nothing to do: give -o FILE.png or -json (or both)")
	}
	if *text == "" {
		return fmt.Errorf("-text is required")
	}
	if *out != "" && !strings.EqualFold(filepath.Ext(*out), ".png") {
		return fmt.Errorf("-o %s: the heatmap is a PNG, give a .png file", *out)
	}
	// Find the attention maps before compiling, so that a bad layer or
	// head fails at once with the valid range.
	taps, name, err := attnTaps(*ckpt, *model)
	if err != nil {
		return err
	}
	if *layer < 0 || *layer >= len(taps) {
		return fmt.Errorf("-layer %d is out of range: %s has %d attention layers, 0..%d", *layer, name, len(taps), len(taps)-1)
	}
	tap := taps[*layer]
	nHeads := tap.Node.Type.Shape[1]
	heads := make([]int, 0, nHeads)
	switch {
	case *head == -1:
		for h := range nHeads {
			heads = append(heads, h)
		}
	case *head < 0 || *head >= nHeads:
		return fmt.Errorf("-head %d is out of range: layer %d has %d heads, 0..%d", *head, *layer, nHeads, nHeads-1)
	default:
		heads = append(heads, *head)
	}

	t, err := loadTrained(*ckpt, trainedOptions{model: *model, override: "batch=1", taps: []string{tap.Name}})
	if err != nil {
		return err
	}
	defer t.Close()
	if t.tok == nil || !generatable(t.prog) {
		return fmt.Errorf("%s is not a causal language model with a tokenizer: mlc attn needs one", name)
	}
	toks := t.tok.Encode([]byte(*text))
	if len(toks) > t.ctx {
		// As mlc generate does with a long prompt.
		fmt.Fprintf(c.stderr, "warning: the text has %d tokens, more than the context of %d; keeping the last %d\n", len(toks), t.ctx, t.ctx)
		toks = toks[len(toks)-t.ctx:]
	}
	// The input is a full window: pad after the text. The mask is causal,
	// so the padding changes nothing at the text's positions.
	window := make([]int32, t.ctx)
	for i, id := range toks {
		window[i] = int32(id)
	}
	in := t.prog.Predict.Inputs()[0].Name
	res, err := t.predict(map[string]runtime.JSONTensor{in: data.IDs(window, 1, t.ctx)})
	if err != nil {
		return err
	}
	w, ok := res.Taps[tap.Name]
	if !ok {
		return fmt.Errorf("the generated model returned no tap %q", tap.Name)
	}
	maps, err := attnMaps(w, heads, len(toks))
	if err != nil {
		return err
	}
	tokens := make([]string, len(toks))
	for i, id := range toks {
		b, err := t.tok.Decode([]int{id})
		if err != nil {
			return err
		}
		tokens[i] = string(b)
	}
	if *out != "" {
		panels := make([]attnPanel, len(heads))
		for i, h := range heads {
			panels[i] = attnPanel{Title: fmt.Sprintf("head %d", h), W: maps[i]}
		}
		labels := make([]string, len(tokens))
		for i, s := range tokens {
			labels[i] = tokenLabel(s)
		}
		title := fmt.Sprintf("%s attention, layer %d of 0..%d (%s), %d tokens", name, *layer, len(taps)-1, tap.Name, len(toks))
		if _, _, err := writeAttnPNG(*out, title, labels, panels); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "wrote %s\n", *out)
	}
	if *asJSON {
		rep := attnReport{Model: name, Tap: tap.Name, Layer: *layer, Layers: len(taps), Heads: heads, IDs: toks, Tokens: tokens}
		for _, m := range maps {
			rep.Weights = append(rep.Weights, jsonMatrix(m, t.prog.Float))
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}

// attnTaps lists the attention-weight taps ([B, H, T, S] values named
// "*.weights") of a checkpoint's Predict graph, in layer order, and the
// model's name.
func attnTaps(dir, want string) ([]graph.Output, string, error) {
	oc, err := openCheckpoint(dir, want, "")
	if err != nil {
		return nil, "", err
	}
	st, m := oc.st, oc.m
	g := m.forward()
	var taps []graph.Output
	for _, tp := range g.Taps() {
		if strings.HasSuffix(tp.Name, ".weights") && tp.Node.Type.Shape.Rank() == 4 {
			taps = append(taps, tp)
		}
	}
	if len(taps) == 0 {
		return nil, "", fmt.Errorf("%s has no attention maps to show", st.Model)
	}
	return taps, st.Model, nil
}

// attnMaps cuts the n×n maps of the given heads of the first sequence out
// of a [B, H, T, T] weights tensor.
func attnMaps(w runtime.JSONTensor, heads []int, n int) ([][][]float64, error) {
	if len(w.Shape) != 4 || w.Shape[2] != w.Shape[3] || n > w.Shape[2] || len(w.Data) != w.Shape[0]*w.Shape[1]*w.Shape[2]*w.Shape[3] {
		return nil, fmt.Errorf("attention weights of shape %v, want [B, H, T, T] with T ≥ %d", w.Shape, n)
	}
	H, T := w.Shape[1], w.Shape[2]
	out := make([][][]float64, len(heads))
	for i, h := range heads {
		if h < 0 || h >= H {
			return nil, fmt.Errorf("head %d of %d", h, H)
		}
		out[i] = make([][]float64, n)
		for q := range n {
			row := make([]float64, n)
			for k := range n {
				row[k] = float64(w.Data[(h*T+q)*T+k])
			}
			out[i][q] = row
		}
	}
	return out, nil
}

// jsonMatrix writes each weight in the shortest form that reads back as the
// model's float type: an f32 model's weights print as float32 values.
func jsonMatrix(m [][]float64, dt graph.DType) [][]json.Number {
	bits := 64
	if dt == graph.F32 {
		bits = 32
	}
	out := make([][]json.Number, len(m))
	for q, row := range m {
		out[q] = make([]json.Number, len(row))
		for k, v := range row {
			out[q][k] = json.Number(strconv.FormatFloat(v, 'g', -1, bits))
		}
	}
	return out
}

// tokenLabel shows a token on an axis: escapes as in a Go string (so a
// newline reads \n and a tab \t), spaces as middle dots, and at most 12
// characters.
func tokenLabel(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	q = strings.ReplaceAll(q, " ", "·")
	if r := []rune(q); len(r) > 12 {
		q = string(r[:11]) + "…"
	}
	return q
}

// attnPanel is one heatmap: W[q][k] for query q and key k.
type attnPanel struct {
	Title string
	W     [][]float64
}

// attnDPI is the resolution of the heatmap PNGs.
const attnDPI = 144

// writeAttnPNG draws the panels side by side (in a grid when there are
// more than two) with the tokens along both axes, queries top to bottom
// and keys left to right, on one colour scale from 0 to 1 with a colour
// bar below. Masked entries (keys after the query) are grey. It returns
// the image's size in pixels.
func writeAttnPNG(path, title string, labels []string, panels []attnPanel) (int, int, error) {
	n := len(labels)
	if n == 0 || len(panels) == 0 {
		return 0, 0, fmt.Errorf("nothing to draw: %d tokens, %d panels", n, len(panels))
	}
	for _, p := range panels {
		if len(p.W) != n {
			return 0, 0, fmt.Errorf("panel %q has %d rows for %d tokens", p.Title, len(p.W), n)
		}
		for _, row := range p.W {
			if len(row) != n {
				return 0, 0, fmt.Errorf("panel %q has a row of %d for %d tokens", p.Title, len(row), n)
			}
		}
	}
	// Cells shrink as texts grow, within what stays readable.
	cell := vg.Length(math.Max(6, math.Min(16, 420/float64(n))))
	fontSize := vg.Length(math.Max(4.5, math.Min(9, float64(cell)*0.8)))
	side := cell * vg.Length(n)
	cols := len(panels)
	if cols > 2 {
		cols = int(math.Ceil(math.Sqrt(float64(len(panels)))))
	}
	rows := (len(panels) + cols - 1) / cols

	cmap := palette.Reverse(moreland.ExtendedBlackBody())
	cmap.SetMin(0)
	cmap.SetMax(1)
	pal := cmap.Palette(256)
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
	}
	for i, p := range panels {
		grid[i/cols][i%cols] = heatPlot(p, labels, pal, fontSize)
	}

	// Measure the room the labels take around one data area.
	probe := draw.Canvas{Canvas: vgimg.New(1, 1), Rectangle: vg.Rectangle{Max: vg.Point{X: 4 * side, Y: 4 * side}}}
	data := grid[0][0].DataCanvas(probe)
	left, bottom := data.Min.X-probe.Min.X, data.Min.Y-probe.Min.Y
	right, top := probe.Max.X-data.Max.X, probe.Max.Y-data.Max.Y
	const pad, titleH, barH = vg.Length(12), vg.Length(28), vg.Length(56)
	tileW, tileH := left+side+right, bottom+side+top
	ts := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 12), XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	W := vg.Length(cols)*tileW + vg.Length(cols+1)*pad
	W = max(W, ts.Width(title)+2*pad, 320) // the title and the colour bar fit
	H := titleH + vg.Length(rows)*tileH + vg.Length(rows-1)*pad + barH + pad

	img := vgimg.NewWith(vgimg.UseWH(W, H), vgimg.UseDPI(attnDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	dc.FillText(ts, vg.Point{X: W / 2, Y: H - pad/2}, title)

	// The panels, aligned so that their data areas are equal squares.
	area := draw.Crop(dc, pad, -pad, barH+pad, -titleH)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: pad, PadY: pad}
	canvases := plot.Align(grid, tiles, area)
	for r := range grid {
		for c2, p := range grid[r] {
			if p != nil {
				p.Draw(canvases[r][c2])
			}
		}
	}

	// The colour bar under the panels.
	bar := plot.New()
	bar.HideY()
	bar.X.Padding = 0
	bar.X.Label.Text = "attention weight (grey: masked, the key is after the query)"
	bar.Add(&plotter.ColorBar{ColorMap: cmap})
	barW := vg.Length(math.Min(float64(W-2*pad), 360))
	bar.Draw(draw.Crop(dc, (W-barW)/2, -(W-barW)/2, pad/2, -(H - barH)))

	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	b := img.Image().Bounds()
	return b.Dx(), b.Dy(), nil
}

// heatPlot is one panel. Grid row r holds query n-1-r, so that query 0
// is at the top, as in a matrix.
func heatPlot(p attnPanel, labels []string, pal palette.Palette, fontSize vg.Length) *plot.Plot {
	n := len(labels)
	hm := plotter.NewHeatMap(attnGrid{w: p.W}, pal)
	hm.Min, hm.Max = 0, 1
	hm.NaN = color.Gray{Y: 0xd8}
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.Title.TextStyle.Font.Size = 11
	pl.X.Label.Text = "key"
	pl.Y.Label.Text = "query"
	pl.X.Padding, pl.Y.Padding = 0, 0
	var xt, yt []plot.Tick
	for i, s := range labels {
		// gonum anchors rotated labels one descent into the axis: the
		// trailing spaces keep them clear of the ticks and the data.
		xt = append(xt, plot.Tick{Value: float64(i), Label: s + "  "})
		yt = append(yt, plot.Tick{Value: float64(n - 1 - i), Label: s})
	}
	pl.X.Tick.Marker = plot.ConstantTicks(xt)
	pl.Y.Tick.Marker = plot.ConstantTicks(yt)
	for _, a := range []*plot.Axis{&pl.X, &pl.Y} {
		a.Tick.Label.Font.Size = fontSize
		a.Tick.Length = 2
		a.Label.TextStyle.Font.Size = 9
	}
	pl.X.Tick.Label.Rotation = math.Pi / 2
	pl.X.Tick.Label.XAlign = draw.XRight
	pl.X.Tick.Label.YAlign = draw.YCenter
	pl.Add(hm)
	return pl
}

// attnGrid adapts a square matrix to plotter.GridXYZ; masked entries
// (k > q) are NaN so that they draw in the heatmap's NaN colour.
type attnGrid struct{ w [][]float64 }

func (g attnGrid) Dims() (int, int)   { return len(g.w), len(g.w) }
func (g attnGrid) X(c int) float64    { return float64(c) }
func (g attnGrid) Y(r int) float64    { return float64(r) }
func (g attnGrid) Min() float64       { return 0 }
func (g attnGrid) Max() float64       { return 1 }
func (g attnGrid) Z(c, r int) float64 { return g.at(len(g.w)-1-r, c) }

func (g attnGrid) at(q, k int) float64 {
	if k > q {
		return math.NaN()
	}
	return g.w[q][k]
}
