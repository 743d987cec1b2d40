package mechinterp

import (
	"fmt"
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

// The induction-head demo: a 2-layer attention-only gpt trained on
// repeated random sequences, and the scores that find its induction heads.

// The demo's model: gpt with ffn=0 (no MLPs), two layers. Every sequence
// holds at most vocab distinct tokens, so vocab ≥ ctx/2+1 + the longest
// prefix; these sizes train in a minute or two on two cores.
const (
	InductionConfig = "vocab=64,ctx=64,d=64,heads=4,layers=2,ffn=0,norm=pre,tied=false,dropout=0,batch=16"
	InductionSteps  = 3000
	InductionLR     = 3e-3
	InductionEval   = 4 // held-out batches
)

// InductionReport is the demo's result.
type InductionReport struct {
	Config    string          `json:"config"`
	Steps     int             `json:"steps"`
	Seed      uint64          `json:"seed"`
	Sequences int             `json:"sequences"` // held-out sequences the figures are measured on
	Loss      InductionLosses `json:"loss"`
	Chance    float64         `json:"chance"` // mean 1/(t+1) over the scored positions: uniform attention
	Heads     []HeadScore     `json:"heads"`
	Top       HeadScore       `json:"top"`
	PNG       string          `json:"png,omitempty"`
}

// InductionLosses are mean cross-entropies (nats) of the held-out
// sequences: predicting the tokens of the first copy of the segment (not
// predictable but for what was already used), of the repeat (predictable
// by copying), and the uniform guess ln(vocab) for scale.
type InductionLosses struct {
	FirstHalf  float64 `json:"first_half"`
	SecondHalf float64 `json:"second_half"`
	Uniform    float64 `json:"uniform"`
}

// HeadScore is one head's mean attention, over the repeat's positions,
// to the induction target (the token after the current token's earlier
// occurrence) and, over all positions but the first, to the previous token.
type HeadScore struct {
	Layer     int     `json:"layer"`
	Head      int     `json:"head"`
	Induction float64 `json:"induction"`
	PrevToken float64 `json:"prev_token"`
}

// InductionOptions configure Induction; zero values take the defaults.
type InductionOptions struct {
	Steps  int     // training steps (0: InductionSteps)
	Seed   uint64  // of the initialisation and of the sequences
	Config string  // gpt config overrides on top of InductionConfig
	LR     float64 // peak learning rate of AdamW with warmup and cosine decay (0: InductionLR)
	PNG    string  // write the top head's attention on a held-out sequence here ("": none)
	Engine Engine
	// LogEvery is the steps between progress lines (0: 100), which
	// Progress prints; Log prints warnings and timings. Either may be nil.
	LogEvery int
	Progress func(format string, args ...any)
	Log      func(format string, args ...any)
}

// Induction trains the demo's model and scores its heads on held-out
// sequences.
func Induction(opts InductionOptions) (*InductionReport, error) {
	if opts.Steps == 0 {
		opts.Steps = InductionSteps
	}
	if opts.LR == 0 {
		opts.LR = InductionLR
	}
	if opts.LogEvery == 0 {
		opts.LogEvery = 100
	}
	logf, progress := orNop(opts.Log), orNop(opts.Progress)
	switch {
	case opts.Steps < 0:
		return nil, fmt.Errorf("-steps must be positive, got %d", opts.Steps)
	case !(opts.LR > 0):
		return nil, fmt.Errorf("-lr must be positive, got %v", opts.LR)
	case opts.LogEvery < 0:
		return nil, fmt.Errorf("-log must be positive, got %d", opts.LogEvery)
	case opts.PNG != "" && !strings.EqualFold(filepath.Ext(opts.PNG), ".png"):
		return nil, fmt.Errorf("-o %s: the heatmap is a PNG, give a .png file", opts.PNG)
	}
	cfg := InductionConfig
	if opts.Config != "" {
		cfg += "," + opts.Config
	}
	m, err := LoadModel("gpt", cfg, "")
	if err != nil {
		return nil, err
	}
	vocab, ctx, batch := m.ConfigInt("vocab"), m.ConfigInt("ctx"), m.ConfigInt("batch")
	layers, heads := m.ConfigInt("layers"), m.ConfigInt("heads")
	if ffn := m.ConfigInt("ffn"); ffn != 0 {
		logf("warning: ffn=%d: the model has MLPs, it is no longer attention-only\n", ffn)
	}
	d, err := newInductionData(vocab, ctx, batch, opts.Seed)
	if err != nil {
		return nil, err
	}
	var taps []string
	for l := range layers {
		taps = append(taps, "h"+strconv.Itoa(l)+".attn.weights")
	}
	opt, err := passes.OptimizerConfig{Kind: "adamw", LR: opts.LR, Warmup: max(opts.Steps/20, 1), Steps: opts.Steps, LRMin: opts.LR / 10, Clip: 1}.Defaults()
	if err != nil {
		return nil, err
	}
	res, err := compile.Zoo("gpt", cfg, compile.Options{Float: graph.F32, Optimizer: opt, Taps: taps})
	if err != nil {
		return nil, err
	}
	prog := res.Program
	tr, err := newTrainer(prog, "", opts.Engine, opts.Seed)
	if err != nil {
		return nil, err
	}
	defer tr.close()

	progress("training gpt (%s) on repeated random segments for %d steps\n", prog.Config, opts.Steps)
	began := time.Now()
	for step := range opts.Steps {
		in := d.batch(&d.train)
		r, err := tr.Train(in.inputs(), 1)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		if len(r.Losses) == 0 {
			return nil, fmt.Errorf("step %d: no loss", step)
		}
		if (step+1)%opts.LogEvery == 0 || step == opts.Steps-1 {
			rate := float64(step+1) / time.Since(began).Seconds()
			progress("step %5d  loss %.4f  (%.1f steps/s)\n", step+1, r.Losses[len(r.Losses)-1], rate)
		}
	}
	trained := time.Since(began)

	// The trained parameters, in a model that reads out the taps.
	snap, err := tr.Snapshot()
	if err != nil {
		return nil, err
	}
	p, err := NewPredictor(prog, snap.Params, opts.Engine)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	rep := &InductionReport{Config: prog.Config, Steps: opts.Steps, Seed: opts.Seed, Loss: InductionLosses{Uniform: round6(math.Log(float64(vocab)))}}
	ev, err := evalInduction(p, d, taps, heads)
	if err != nil {
		return nil, err
	}
	rep.Sequences = ev.sequences
	rep.Loss.FirstHalf, rep.Loss.SecondHalf = round6(ev.first), round6(ev.second)
	rep.Chance = round6(ev.chance)
	for l := range layers {
		for h := range heads {
			s := HeadScore{Layer: l, Head: h, Induction: round6(ev.induction[l][h]), PrevToken: round6(ev.prev[l][h])}
			rep.Heads = append(rep.Heads, s)
			if s.Induction > rep.Top.Induction || len(rep.Heads) == 1 {
				rep.Top = s
			}
		}
	}
	if opts.PNG != "" {
		if err := inductionPNG(opts.PNG, ev.example, rep.Top, taps); err != nil {
			return nil, err
		}
		rep.PNG = opts.PNG
	}
	logf("trained in %s, evaluated in %s\n", trained.Round(time.Millisecond), (time.Since(began) - trained).Round(time.Millisecond))
	return rep, nil
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
func evalInduction(p Predictor, d *inductionData, taps []string, heads int) (*inductionScores, error) {
	s := newInductionScores(len(taps), heads, d.vocab)
	val := runtime.RNG{State: d.val.State} // the same sequences every time
	for range InductionEval {
		ib := d.batch(&val)
		res, err := p.Predict(ib.inputs())
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
func inductionPNG(path string, ex *inductionExample, top HeadScore, taps []string) error {
	labels := make([]string, len(ex.ids))
	for i, id := range ex.ids {
		labels[i] = strconv.Itoa(int(id))
		if i >= ex.prefix+ex.n {
			labels[i] += "′"
		}
	}
	title := fmt.Sprintf("induction head: layer %d, head %d (%s), score %.3f", top.Layer, top.Head, taps[top.Layer], top.Induction)
	panel := fmt.Sprintf("held-out sequence: prefix %d, segment %d, repeat (′) from %d", ex.prefix, ex.n, ex.prefix+ex.n)
	_, _, err := WriteAttentionPNG(path, title, labels, []Panel{{Title: panel, W: ex.maps[top.Layer][top.Head]}})
	return err
}
