package mechinterp

import (
	"fmt"
	"image/color"
	"math"
	"os"
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

// AttentionTaps lists the attention-weight taps of a forward graph, in
// layer order: values tapped as "….weights" or "…_weights" whose last two
// axes are queries × keys, [T, T] (one head), [H, T, T] or [B, H, T, T].
func AttentionTaps(g *graph.Graph) []graph.Output {
	var taps []graph.Output
	for _, tp := range g.Taps() {
		s := tp.Node.Type.Shape
		if (strings.HasSuffix(tp.Name, ".weights") || strings.HasSuffix(tp.Name, "_weights")) &&
			s.Rank() >= 2 && s.Rank() <= 4 && s[s.Rank()-1] == s[s.Rank()-2] {
			taps = append(taps, tp)
		}
	}
	return taps
}

// AttentionHeads is the number of heads of an attention tap.
func AttentionHeads(tap graph.Output) int {
	s := tap.Node.Type.Shape
	switch s.Rank() {
	case 4:
		return s[1]
	case 3:
		return s[0]
	}
	return 1
}

// AttentionMaps cuts the n×n maps of the given heads (of the first
// sequence of a batch) out of an attention-weights tensor, [T, T],
// [H, T, T] or [B, H, T, T].
func AttentionMaps(w runtime.JSONTensor, heads []int, n int) ([][][]float64, error) {
	r := len(w.Shape)
	size := 1
	for _, d := range w.Shape {
		size *= d
	}
	if r < 2 || r > 4 || w.Shape[r-1] != w.Shape[r-2] || n > w.Shape[r-1] || n < 0 || len(w.Data) != size {
		return nil, fmt.Errorf("attention weights of shape %v, want [B, H, T, T] with T ≥ %d", w.Shape, n)
	}
	H, T := 1, w.Shape[r-1]
	if r > 2 {
		H = w.Shape[r-3]
	}
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

// Attention is the attention of one layer of a language model on a text.
type Attention struct {
	Model  string
	Tap    string // the layer's attention tap
	Layer  int
	Layers int   // attention layers in the model
	Heads  []int // the heads shown
	IDs    []int // the text's tokens
	Tokens []string
	// Maps[i][q][k] is the weight of head Heads[i] from query position q to
	// key position k (zero for k > q: the mask is causal).
	Maps  [][][]float64
	Float graph.DType // the model's float type
}

// AttentionOptions say which attention to read.
type AttentionOptions struct {
	Model  string // the model the caller expects ("": the checkpoint's)
	Layer  int    // the attention layer, from 0
	Head   int    // one head, from 0; -1: every head of the layer
	Engine Engine
	// Log prints warnings (a text longer than the context); may be nil.
	Log func(format string, args ...any)
}

// CheckpointAttention runs a trained causal language model (the checkpoint
// in dir) on a text and returns one layer's attention maps. The layer and
// head are checked before anything is compiled. A text longer than the
// context keeps its last tokens, as mlc generate does with a long prompt.
func CheckpointAttention(dir, text string, opts AttentionOptions) (*Attention, error) {
	if text == "" {
		return nil, fmt.Errorf("-text is required")
	}
	c, err := OpenCheckpoint(dir, opts.Model, "")
	if err != nil {
		return nil, err
	}
	name := c.Settings.Model
	taps := AttentionTaps(c.Model.Forward())
	if len(taps) == 0 {
		return nil, fmt.Errorf("%s has no attention maps to show", name)
	}
	if opts.Layer < 0 || opts.Layer >= len(taps) {
		return nil, fmt.Errorf("-layer %d is out of range: %s has %d attention layers, 0..%d", opts.Layer, name, len(taps), len(taps)-1)
	}
	tap := taps[opts.Layer]
	nHeads := AttentionHeads(tap)
	heads := make([]int, 0, nHeads)
	switch {
	case opts.Head == -1:
		for h := range nHeads {
			heads = append(heads, h)
		}
	case opts.Head < 0 || opts.Head >= nHeads:
		return nil, fmt.Errorf("-head %d is out of range: layer %d has %d heads, 0..%d", opts.Head, opts.Layer, nHeads, nHeads-1)
	default:
		heads = append(heads, opts.Head)
	}

	// One sequence at a time.
	c1, err := OpenCheckpoint(dir, opts.Model, "batch=1")
	if err != nil {
		return nil, err
	}
	tok, err := c1.Tokenizer()
	if err != nil {
		return nil, err
	}
	res, err := c1.Model.Compile(compileTaps(tap.Name))
	if err != nil {
		return nil, err
	}
	prog := res.Program
	in, B, ctx, err := LMShape(prog)
	if tok == nil || err != nil || B != 1 || prog.Decode == nil {
		return nil, fmt.Errorf("%s is not a causal language model with a tokenizer: mlc attn needs one", name)
	}
	toks := tok.Encode([]byte(text))
	if len(toks) > ctx {
		if opts.Log != nil {
			opts.Log("warning: the text has %d tokens, more than the context of %d; keeping the last %d\n", len(toks), ctx, ctx)
		}
		toks = toks[len(toks)-ctx:]
	}
	p, err := NewPredictor(prog, trainedParams(c1), opts.Engine)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	// The input is a full window: pad after the text. The mask is causal,
	// so the padding changes nothing at the text's positions.
	window := make([]int32, ctx)
	for i, id := range toks {
		window[i] = int32(id)
	}
	out, err := p.Predict(data.Batch{in: data.IDs(window, 1, ctx)})
	if err != nil {
		return nil, err
	}
	w, ok := out.Taps[tap.Name]
	if !ok {
		return nil, fmt.Errorf("the generated model returned no tap %q", tap.Name)
	}
	maps, err := AttentionMaps(w, heads, len(toks))
	if err != nil {
		return nil, err
	}
	a := &Attention{Model: name, Tap: tap.Name, Layer: opts.Layer, Layers: len(taps), Heads: heads, IDs: toks, Maps: maps, Float: prog.Float}
	for _, id := range toks {
		b, err := tok.Decode([]int{id})
		if err != nil {
			return nil, err
		}
		a.Tokens = append(a.Tokens, string(b))
	}
	return a, nil
}

// WritePNG draws the maps as heatmaps, one panel per head, with the tokens
// along both axes (see WriteAttentionPNG).
func (a *Attention) WritePNG(path string) error {
	panels := make([]Panel, len(a.Heads))
	for i, h := range a.Heads {
		panels[i] = Panel{Title: fmt.Sprintf("head %d", h), W: a.Maps[i]}
	}
	labels := make([]string, len(a.Tokens))
	for i, s := range a.Tokens {
		labels[i] = TokenLabel(s)
	}
	title := fmt.Sprintf("%s attention, layer %d of 0..%d (%s), %d tokens", a.Model, a.Layer, a.Layers-1, a.Tap, len(a.IDs))
	_, _, err := WriteAttentionPNG(path, title, labels, panels)
	return err
}

// TokenLabel shows a token on an axis: escapes as in a Go string (so a
// newline reads \n and a tab \t), spaces as middle dots, and at most 12
// characters.
func TokenLabel(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	q = strings.ReplaceAll(q, " ", "·")
	if r := []rune(q); len(r) > 12 {
		q = string(r[:11]) + "…"
	}
	return q
}

// Panel is one heatmap: W[q][k] for query q and key k.
type Panel struct {
	Title string
	W     [][]float64
}

// attnDPI is the resolution of the heatmap PNGs.
const attnDPI = 144

// WriteAttentionPNG draws the panels side by side (in a grid when there are
// more than two) with the tokens along both axes, queries top to bottom
// and keys left to right, on one colour scale from 0 to 1 with a colour
// bar below. Masked entries (keys after the query) are grey. It returns
// the image's size in pixels.
func WriteAttentionPNG(path, title string, labels []string, panels []Panel) (int, int, error) {
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
func heatPlot(p Panel, labels []string, pal palette.Palette, fontSize vg.Length) *plot.Plot {
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
