package mechinterp

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/pngdraw"
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
	img := drawAttention(title, labels, panels)
	if err := pngdraw.Save(path, img); err != nil {
		return 0, 0, err
	}
	return img.Bounds().Dx(), img.Bounds().Dy(), nil
}

// attnCell is the side in pixels of a heatmap cell for n tokens: smaller
// as n grows, never below a label's height.
func attnCell(n int) int { return min(28, max(pngdraw.LineH+1, 840/n)) }

// The layout of the heatmap figure, in pixels.
const (
	attnPad  = 16 // around and between panels
	attnTick = 3  // the ticks' length, and their gap to the labels
	attnBarW = 360
	attnBarH = 16
)

var (
	ink       = color.Black
	maskedRGB = color.RGBA{0xd8, 0xd8, 0xd8, 0xff}
)

// drawAttention lays the figure out: the title's lines, the panels in a
// grid of equal tiles, and the colour bar with its caption.
func drawAttention(title string, labels []string, panels []Panel) *image.RGBA {
	n, cell := len(labels), attnCell(len(labels))
	side, labW := n*cell, 0
	for _, l := range labels {
		labW = max(labW, pngdraw.TextWidth(l))
	}
	const gap = 6
	// A tile: its title above the square; the query axis's name and the
	// labels left of it; the labels and the key axis's name below it.
	left := pngdraw.LineH + gap + labW + 2*attnTick
	tileW, tileH := left+side, pngdraw.LineH+gap+side+2*attnTick+labW+gap+pngdraw.LineH
	for _, p := range panels {
		tileW = max(tileW, pngdraw.TextWidth(p.Title))
	}
	cols := len(panels)
	if cols > 2 {
		cols = int(math.Ceil(math.Sqrt(float64(len(panels)))))
	}
	rows := (len(panels) + cols - 1) / cols
	lines := strings.Split(title, "\n")
	caption := "attention weight (grey: masked, the key is after the query)"
	W := cols*tileW + (cols-1)*attnPad
	for _, s := range append(lines, caption) {
		W = max(W, pngdraw.TextWidth(s))
	}
	W += 2 * attnPad
	titleH := len(lines) * (pngdraw.LineH + gap)
	barY := attnPad + titleH + attnPad + rows*tileH + (rows-1)*attnPad + attnPad
	H := barY + attnBarH + 2*attnTick + 2*(pngdraw.LineH+gap) + attnPad

	img := image.NewRGBA(image.Rect(0, 0, W, H))
	pngdraw.Fill(img, img.Bounds(), color.White)
	centred := func(y int, s string) { pngdraw.Text(img, (W-pngdraw.TextWidth(s))/2, y, s, ink) }
	for i, s := range lines {
		centred(attnPad+i*(pngdraw.LineH+gap), s)
	}
	x0 := (W - (cols*tileW + (cols-1)*attnPad)) / 2
	for i, p := range panels {
		x := x0 + (i%cols)*(tileW+attnPad)
		y := attnPad + titleH + attnPad + (i/cols)*(tileH+attnPad)
		drawPanel(img, image.Pt(x, y), p, labels, cell, left)
	}

	// The colour bar: the scale from 0 to 1, ticked every 0.1.
	bx := (W - attnBarW) / 2
	for x := range attnBarW {
		pngdraw.Fill(img, image.Rect(bx+x, barY, bx+x+1, barY+attnBarH), attnColor(float64(x)/(attnBarW-1)))
	}
	for i := 0; i <= 10; i++ {
		x := bx + i*(attnBarW-1)/10
		pngdraw.Fill(img, image.Rect(x, barY+attnBarH, x+1, barY+attnBarH+attnTick), ink)
		if i%5 == 0 {
			s := strconv.FormatFloat(float64(i)/10, 'f', 1, 64)
			pngdraw.Text(img, x-pngdraw.TextWidth(s)/2, barY+attnBarH+2*attnTick, s, ink)
		}
	}
	centred(barY+attnBarH+2*attnTick+pngdraw.LineH+gap, caption)
	return img
}

// drawPanel draws one heatmap in the tile at at: its title, then the
// square of cells, query q's row from the top and key k's column from
// the left, labelled with the tokens.
func drawPanel(img *image.RGBA, at image.Point, p Panel, labels []string, cell, left int) {
	const gap = 6
	n := len(labels)
	sq := image.Pt(at.X+left, at.Y+pngdraw.LineH+gap) // the square's corner
	pngdraw.Text(img, max(at.X, sq.X+(n*cell-pngdraw.TextWidth(p.Title))/2), at.Y, p.Title, ink)
	for q := range n {
		for k := range n {
			c := maskedRGB
			if k <= q {
				c = attnColor(p.W[q][k])
			}
			pngdraw.Fill(img, image.Rect(sq.X+k*cell, sq.Y+q*cell, sq.X+(k+1)*cell, sq.Y+(q+1)*cell), c)
		}
	}
	bottom := sq.Y + n*cell
	for i, l := range labels {
		mid := i*cell + cell/2
		w := pngdraw.TextWidth(l)
		pngdraw.Fill(img, image.Rect(sq.X-attnTick, sq.Y+mid, sq.X, sq.Y+mid+1), ink)
		pngdraw.Text(img, sq.X-2*attnTick-w, sq.Y+mid-pngdraw.LineH/2, l, ink)
		pngdraw.Fill(img, image.Rect(sq.X+mid, bottom, sq.X+mid+1, bottom+attnTick), ink)
		pngdraw.TextUp(img, sq.X+mid-pngdraw.LineH/2, bottom+2*attnTick+w, l, ink)
	}
	side := n * cell
	pngdraw.TextUp(img, at.X, sq.Y+(side+pngdraw.TextWidth("query"))/2, "query", ink)
	labH := 0
	for _, l := range labels {
		labH = max(labH, pngdraw.TextWidth(l))
	}
	pngdraw.Text(img, sq.X+(side-pngdraw.TextWidth("key"))/2, bottom+2*attnTick+labH+gap, "key", ink)
}

// attnScale is the colour scale of the weights, from white at 0 through
// yellow, orange, red and violet to black at 1: small weights fade into
// the background and the strongest stand out.
var attnScale = []struct {
	at      float64
	r, g, b float64
}{
	{0, 255, 255, 255},
	{0.15, 245, 215, 60},
	{0.35, 245, 140, 45},
	{0.5, 215, 30, 60},
	{0.7, 125, 35, 210},
	{0.85, 25, 25, 130},
	{1, 0, 0, 0},
}

// attnColor is weight v's colour on attnScale, v clamped to [0, 1].
func attnColor(v float64) color.RGBA {
	v = math.Max(0, math.Min(1, v))
	if math.IsNaN(v) {
		v = 0
	}
	for i := 1; i < len(attnScale); i++ {
		a, b := attnScale[i-1], attnScale[i]
		if v <= b.at {
			t := (v - a.at) / (b.at - a.at)
			mix := func(x, y float64) uint8 { return uint8(math.Round(x + t*(y-x))) }
			return color.RGBA{mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b), 0xff}
		}
	}
	return color.RGBA{0, 0, 0, 0xff}
}
