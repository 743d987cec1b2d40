package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

func init() {
	register(verb{
		name:  "induction",
		usage: "mlc induction [-steps N] [-seed S] [-config k=v,...] [-o FILE.png] [-json]",
		doc:   "train a 2-layer attention-only gpt on repeated random sequences and find its induction heads",
		run:   cmdInduction,
	})
}

// The demo's model: gpt with ffn=0 (no MLPs), two layers. Every sequence
// holds at most vocab distinct tokens, so vocab ≥ ctx/2+1 + the longest
// prefix; these sizes train in a minute or two on two cores.
const (
	inductionConfig = "vocab=64,ctx=64,d=64,heads=4,layers=2,ffn=0,norm=pre,tied=false,dropout=0,batch=16"
	inductionSteps  = 3000
	inductionLR     = 3e-3
	inductionEval   = 4 // held-out batches
)

// inductionReport is the demo's result; -json prints it.
type inductionReport struct {
	Config    string          `json:"config"`
	Steps     int             `json:"steps"`
	Seed      uint64          `json:"seed"`
	Sequences int             `json:"sequences"` // held-out sequences the figures are measured on
	Loss      inductionLosses `json:"loss"`
	Chance    float64         `json:"chance"` // mean 1/(t+1) over the scored positions: uniform attention
	Heads     []headScore     `json:"heads"`
	Top       headScore       `json:"top"`
	PNG       string          `json:"png,omitempty"`
}

// inductionLosses are mean cross-entropies (nats) of the held-out
// sequences: predicting the tokens of the first copy of the segment (not
// predictable but for what was already used), of the repeat (predictable
// by copying), and the uniform guess ln(vocab) for scale.
type inductionLosses struct {
	FirstHalf  float64 `json:"first_half"`
	SecondHalf float64 `json:"second_half"`
	Uniform    float64 `json:"uniform"`
}

// headScore is one head's mean attention, over the repeat's positions,
// to the induction target (the token after the current token's earlier
// occurrence) and, over all positions but the first, to the previous token.
type headScore struct {
	Layer     int     `json:"layer"`
	Head      int     `json:"head"`
	Induction float64 `json:"induction"`
	PrevToken float64 `json:"prev_token"`
}

func cmdInduction(c *cli, args []string) error {
	fs := c.flags("induction")
	steps := fs.Int("steps", inductionSteps, "training steps")
	seed := fs.Uint64("seed", 0, "seed of the initialisation and of the sequences")
	config := fs.String("config", "", "gpt config overrides on top of the demo's "+inductionConfig)
	lr := fs.Float64("lr", inductionLR, "peak learning rate (AdamW, warmup and cosine decay)")
	out := fs.String("o", "induction_head.png", "write the top head's attention on a held-out sequence to this PNG (empty: none)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	logEvery := fs.Int("log", 100, "steps between progress lines (on stderr with -json)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *steps <= 0 {
		return fmt.Errorf("-steps must be positive, got %d", *steps)
	}
	if !(*lr > 0) {
		return fmt.Errorf("-lr must be positive, got %v", *lr)
	}
	if *logEvery <= 0 {
		return fmt.Errorf("-log must be positive, got %d", *logEvery)
	}
	if *out != "" && !strings.EqualFold(filepath.Ext(*out), ".png") {
		return fmt.Errorf("-o %s: the heatmap is a PNG, give a .png file", *out)
	}
	cfg := inductionConfig
	if *config != "" {
		cfg += "," + *config
	}
	mf := modelFlags{model: "gpt", config: cfg, fn: "Build", timeout: compile.DefaultTimeout}
	m, err := mf.load()
	if err != nil {
		return err
	}
	vocab, ctx, batch := configInt(m, "vocab"), configInt(m, "ctx"), configInt(m, "batch")
	layers, heads := configInt(m, "layers"), configInt(m, "heads")
	if configInt(m, "ffn") != 0 {
		fmt.Fprintf(c.stderr, "warning: ffn=%d: the model has MLPs, it is no longer attention-only\n", configInt(m, "ffn"))
	}
	data, err := newInductionData(vocab, ctx, batch, *seed)
	if err != nil {
		return err
	}
	var taps []string
	for l := range layers {
		taps = append(taps, "h"+strconv.Itoa(l)+".attn.weights")
	}
	opt, err := passes.OptimizerConfig{Kind: "adamw", LR: *lr, Warmup: max(*steps/20, 1), Steps: *steps, LRMin: *lr / 10, Clip: 1}.Defaults()
	if err != nil {
		return err
	}
	res, err := compile.Zoo("gpt", cfg, compile.Options{Float: graph.F32, Optimizer: opt, Taps: taps})
	if err != nil {
		return err
	}
	prog := res.Program
	bin, err := compile.BuildRunner(prog)
	if err != nil {
		return err
	}
	srv, err := compile.StartServer(bin, *seed)
	if err != nil {
		return err
	}
	defer srv.Close()

	progress := c.stdout
	if *asJSON {
		progress = c.stderr
	}
	fmt.Fprintf(progress, "training gpt (%s) on repeated random segments for %d steps\n", prog.Config, *steps)
	began := time.Now()
	for step := range *steps {
		in := data.batch(&data.train)
		r, err := srv.Do(compile.RunRequest{Cmd: "step", Inputs: in.inputs(), Steps: 1})
		if err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if (step+1)%*logEvery == 0 || step == *steps-1 {
			rate := float64(step+1) / time.Since(began).Seconds()
			fmt.Fprintf(progress, "step %5d  loss %.4f  (%.1f steps/s)\n", step+1, float64(r.Losses[len(r.Losses)-1]), rate)
		}
	}
	trained := time.Since(began)

	rep := inductionReport{Config: prog.Config, Steps: *steps, Seed: *seed, Loss: inductionLosses{Uniform: round6(math.Log(float64(vocab)))}}
	ev, err := evalInduction(srv, data, taps, heads)
	if err != nil {
		return err
	}
	rep.Sequences = ev.sequences
	rep.Loss.FirstHalf, rep.Loss.SecondHalf = round6(ev.first), round6(ev.second)
	rep.Chance = round6(ev.chance)
	for l := range layers {
		for h := range heads {
			s := headScore{Layer: l, Head: h, Induction: round6(ev.induction[l][h]), PrevToken: round6(ev.prev[l][h])}
			rep.Heads = append(rep.Heads, s)
			if s.Induction > rep.Top.Induction || len(rep.Heads) == 1 {
				rep.Top = s
			}
		}
	}
	if *out != "" {
		if err := inductionPNG(*out, ev.example, rep.Top, taps); err != nil {
			return err
		}
		rep.PNG = *out
	}
	fmt.Fprintf(c.stderr, "trained in %s, evaluated in %s\n", trained.Round(time.Millisecond), (time.Since(began) - trained).Round(time.Millisecond))
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printInduction(c.stdout, &rep)
	return nil
}

func printInduction(w io.Writer, rep *inductionReport) {
	fmt.Fprintf(w, "\nheld-out loss over %d sequences (nats/token; uniform guess %.3f):\n", rep.Sequences, rep.Loss.Uniform)
	fmt.Fprintf(w, "  first half (first copy)  %.4f\n", rep.Loss.FirstHalf)
	fmt.Fprintf(w, "  second half (repeat)     %.4f\n", rep.Loss.SecondHalf)
	fmt.Fprintf(w, "\nhead scores: mean attention to the token after the earlier occurrence\n(induction) and to the previous token; uniform attention scores %.4f\n\n", rep.Chance)
	fmt.Fprintf(w, "  layer  head  induction  prev-token\n")
	for _, s := range rep.Heads {
		mark := ""
		if s == rep.Top {
			mark = "  ← top"
		}
		fmt.Fprintf(w, "  %5d  %4d  %9.4f  %10.4f%s\n", s.Layer, s.Head, s.Induction, s.PrevToken, mark)
	}
	if rep.PNG != "" {
		fmt.Fprintf(w, "\nwrote %s: layer %d head %d on a held-out sequence\n", rep.PNG, rep.Top.Layer, rep.Top.Head)
	}
}

// round6 keeps six decimals: the report reads well and compares exactly.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// inductionData draws the demo's sequences. Each is ctx+1 tokens: a
// prefix of p tokens, a segment of n, and the segment again (p = ctx+1-2n,
// n uniform in [ctx/4, (ctx+1)/2]), the prefix and the segment being
// distinct random tokens, so that each token of the repeat has exactly one
// earlier occurrence. The varying prefix moves the repeat around, so that
// copying needs content (an induction head), not a fixed offset.
type inductionData struct {
	vocab, ctx, batchSize int
	nMin, nMax            int
	train, val            runtime.RNG
}

func newInductionData(vocab, ctx, batch int, seed uint64) (*inductionData, error) {
	d := &inductionData{vocab: vocab, ctx: ctx, batchSize: batch, nMin: max(ctx/4, 2), nMax: (ctx + 1) / 2,
		train: runtime.RNG{State: runtime.SeedFor(seed, "induction.train")},
		val:   runtime.RNG{State: runtime.SeedFor(seed, "induction.val")}}
	// The shortest segment has the longest prefix: p+n distinct tokens.
	if need := ctx + 1 - d.nMin; vocab < need {
		return nil, fmt.Errorf("vocab %d is too small for ctx %d: sequences need %d distinct tokens", vocab, ctx, need)
	}
	if d.nMin > d.nMax || d.nMax < 2 {
		return nil, fmt.Errorf("ctx %d is too short for repeated segments", ctx)
	}
	return d, nil
}

// inductionBatch is a batch with where each sequence's segments start.
type inductionBatch struct {
	ids, targets []int32
	prefix, n    []int // per sequence: the first copy starts at prefix, the repeat at prefix+n
	b, t         int
}

func (ib *inductionBatch) inputs() map[string]runtime.JSONTensor {
	return map[string]runtime.JSONTensor{"ids": data.IDs(ib.ids, ib.b, ib.t), "targets": data.IDs(ib.targets, ib.b, ib.t)}
}

func (d *inductionData) batch(r *runtime.RNG) *inductionBatch {
	T := d.ctx
	ib := &inductionBatch{ids: make([]int32, d.batchSize*T), targets: make([]int32, d.batchSize*T), b: d.batchSize, t: T}
	perm := make([]int32, d.vocab)
	seq := make([]int32, T+1)
	for b := range d.batchSize {
		n := d.nMin + int(r.Uint64()%uint64(d.nMax-d.nMin+1))
		p := T + 1 - 2*n
		for i := range perm {
			perm[i] = int32(i)
		}
		for i := range p + n { // a partial Fisher–Yates shuffle: p+n distinct tokens
			j := i + int(r.Uint64()%uint64(d.vocab-i))
			perm[i], perm[j] = perm[j], perm[i]
		}
		copy(seq, perm[:p+n])
		copy(seq[p+n:], perm[p:p+n])
		copy(ib.ids[b*T:(b+1)*T], seq[:T])
		copy(ib.targets[b*T:(b+1)*T], seq[1:])
		ib.prefix, ib.n = append(ib.prefix, p), append(ib.n, n)
	}
	return ib
}

// inductionScores accumulates the held-out figures over batches.
type inductionScores struct {
	layers, heads, vocab int

	sequences             int
	first, second         float64 // summed cross-entropies, then means
	chance                float64 // summed 1/(t+1), then the mean
	induction, prev       [][]float64
	nFirst, nSecond, nInd float64
	nPrev                 float64
	example               *inductionExample
}

// inductionExample is the first held-out sequence with its attention maps.
type inductionExample struct {
	ids       []int32
	prefix, n int
	maps      [][][][]float64 // [layer][head][q][k]
}

func newInductionScores(layers, heads, vocab int) *inductionScores {
	return &inductionScores{layers: layers, heads: heads, vocab: vocab, induction: grid2(layers, heads), prev: grid2(layers, heads)}
}

// add scores one batch from its logits [B, T, V] and each layer's attention
// weights [B, H, T, T].
func (s *inductionScores) add(ib *inductionBatch, logits []runtime.JSONFloat, ws [][]runtime.JSONFloat) error {
	T, V, H := ib.t, s.vocab, s.heads
	if len(logits) != ib.b*T*V {
		return fmt.Errorf("%d logits, want [%d, %d, %d]", len(logits), ib.b, T, V)
	}
	if len(ws) != s.layers {
		return fmt.Errorf("attention weights of %d layers, want %d", len(ws), s.layers)
	}
	for l, w := range ws {
		if len(w) != ib.b*H*T*T {
			return fmt.Errorf("layer %d: %d attention weights, want [%d, %d, %d, %d]", l, len(w), ib.b, H, T, T)
		}
	}
	for b := range ib.b {
		p, n := ib.prefix[b], ib.n[b]
		for t := range T {
			// Position t predicts targets[t] = seq[t+1]. The first copy's
			// tokens after its first are seq[p+1 .. p+n-1]; the repeat's
			// seq[p+n+1 .. T] (its first token cannot be foreseen).
			ce := func() float64 { return crossEntropy(logits[(b*T+t)*V:(b*T+t+1)*V], ib.targets[b*T+t]) }
			switch {
			case t >= p && t <= p+n-2:
				s.first += ce()
				s.nFirst++
			case t >= p+n:
				s.second += ce()
				s.nSecond++
			}
		}
		for l := range s.layers {
			for h := range H {
				at := func(q, k int) float64 { return float64(ws[l][((b*H+h)*T+q)*T+k]) }
				for t := p + n; t < T; t++ {
					// seq[t] occurred first at t-n; the token after it is at t-n+1.
					s.induction[l][h] += at(t, t-n+1)
				}
				for t := 1; t < T; t++ {
					s.prev[l][h] += at(t, t-1)
				}
			}
		}
		for t := p + n; t < T; t++ {
			s.chance += 1 / float64(t+1)
		}
		s.nInd += float64(T - p - n)
		s.nPrev += float64(T - 1)
		if s.example == nil {
			ex := &inductionExample{ids: append([]int32(nil), ib.ids[b*T:(b+1)*T]...), prefix: p, n: n}
			for l := range s.layers {
				var hm [][][]float64
				for h := range H {
					m := make([][]float64, T)
					for q := range T {
						m[q] = make([]float64, T)
						for k := range T {
							m[q][k] = float64(ws[l][((b*H+h)*T+q)*T+k])
						}
					}
					hm = append(hm, m)
				}
				ex.maps = append(ex.maps, hm)
			}
			s.example = ex
		}
	}
	s.sequences += ib.b
	return nil
}

// finish turns the sums into means.
func (s *inductionScores) finish() {
	s.first /= s.nFirst
	s.second /= s.nSecond
	s.chance /= s.nInd
	for l := range s.layers {
		for h := range s.heads {
			s.induction[l][h] /= s.nInd
			s.prev[l][h] /= s.nPrev
		}
	}
}

// evalInduction runs Predict on the held-out batches and scores them.
func evalInduction(srv *compile.Server, d *inductionData, taps []string, heads int) (*inductionScores, error) {
	s := newInductionScores(len(taps), heads, d.vocab)
	val := runtime.RNG{State: d.val.State} // the same sequences every time
	for range inductionEval {
		ib := d.batch(&val)
		res, err := srv.Do(compile.RunRequest{Cmd: "predict", Inputs: ib.inputs()})
		if err != nil {
			return nil, err
		}
		ws := make([][]runtime.JSONFloat, len(taps))
		for l, name := range taps {
			ws[l] = res.Taps[name].Data
		}
		if err := s.add(ib, res.Outputs["logits"].Data, ws); err != nil {
			return nil, fmt.Errorf("the generated model's answer: %v", err)
		}
	}
	s.finish()
	return s, nil
}

func grid2(a, b int) [][]float64 {
	g := make([][]float64, a)
	for i := range g {
		g[i] = make([]float64, b)
	}
	return g
}

// crossEntropy is −log softmax(logits)[target], computed stably.
func crossEntropy(logits []runtime.JSONFloat, target int32) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s) - float64(logits[target])
}

// inductionPNG draws the top head on the example sequence, tokens labelled
// by id, the repeat's tokens marked with a prime.
func inductionPNG(path string, ex *inductionExample, top headScore, taps []string) error {
	labels := make([]string, len(ex.ids))
	for i, id := range ex.ids {
		labels[i] = strconv.Itoa(int(id))
		if i >= ex.prefix+ex.n {
			labels[i] += "′"
		}
	}
	title := fmt.Sprintf("induction head: layer %d, head %d (%s), score %.3f", top.Layer, top.Head, taps[top.Layer], top.Induction)
	panel := fmt.Sprintf("held-out sequence: prefix %d, segment %d, repeat (′) from %d", ex.prefix, ex.n, ex.prefix+ex.n)
	_, _, err := writeAttnPNG(path, title, labels, []attnPanel{{Title: panel, W: ex.maps[top.Layer][top.Head]}})
	return err
}
