package main

import (
	"encoding/json"
	"fmt"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// modelStats is what mlc stats reports.
type modelStats struct {
	Model      string `json:"model"`
	Config     string `json:"config"`
	DType      string `json:"dtype"`
	Precision  string `json:"precision,omitempty"` // bf16: the figures are of the mixed-precision training program
	Optimizer  string `json:"optimizer"`
	Params     int    `json:"params"`
	Estimate12 int    `json:"params_12Ld2,omitempty"` // the text's 12·L·d² for transformers

	FLOPsTrain   int64 `json:"flops_train_step"`
	FLOPsPredict int64 `json:"flops_predict"`

	ParamBytes int `json:"param_bytes"`
	GradBytes  int `json:"grad_bytes"`
	StateBytes int `json:"optimizer_state_bytes"`

	ActNaive   int `json:"activation_bytes_naive"`
	ActPlanned int `json:"activation_bytes_planned"`
	ActLower   int `json:"activation_bytes_lower_bound"`
	InPlace    int `json:"in_place_values"`

	Estimate18 int `json:"training_bytes_18_per_param"`
	Measured   int `json:"training_bytes_measured"`

	KVCacheBytes   int `json:"kv_cache_bytes,omitempty"`         // what the generated Model allocates, without the position counter
	KVCacheFormula int `json:"kv_cache_bytes_formula,omitempty"` // the text's 2 × layers × ctx × kv_heads × head_dim × bytes per value (× batch); kv_heads × head_dim = d without grouped-query attention
	// Precisions are the bytes of each precision (docs/low-precision.md).
	Precisions []precisionRow `json:"precisions,omitempty"`

	// encDec: the formula is an encoder-decoder's, whose cache also keeps
	// the cross-attention keys and values and the source masks.
	encDec bool
}

func cmdStats(c *cli, args []string) error {
	fs := c.flags("stats")
	var mf modelFlags
	mf.register(fs)
	opt := fs.String("opt", "", "optimizer whose state to count (default: the model's training default)")
	asJSON := fs.Bool("json", false, "print JSON")
	precision := fs.String("precision", "", "bf16: report the bf16 mixed-precision training program (its activations stored in bf16) instead of the f32 one")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	kind := *opt
	if kind == "" {
		kind = m.trainDefaults().Opt
	}
	prec, err := compile.ParsePrecision(*precision)
	if err != nil {
		return err
	}
	res, err := m.Compile(compile.Options{Optimizer: passes.OptimizerConfig{Kind: kind}, Precision: prec})
	if err != nil {
		return err
	}
	s, err := statsOf(res.Program, m, kind)
	if err != nil {
		return err
	}
	if prec == graph.BF16 {
		s.Precision = "bf16"
	}
	if s.Precisions, err = precisionRows(m, kind, res.Program, s); err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(s, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
		return nil
	}
	w := c.stdout
	fmt.Fprintf(w, "%s (%s, %s, %s", s.Model, s.Config, s.DType, s.Optimizer)
	if s.Precision != "" {
		fmt.Fprintf(w, ", %s mixed precision", s.Precision)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "parameters            %12d", s.Params)
	if s.Estimate12 > 0 {
		fmt.Fprintf(w, "   (12·L·d² = %d)", s.Estimate12)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "FLOPs per train step  %12d   (%.3g GFLOP)\n", s.FLOPsTrain, float64(s.FLOPsTrain)/1e9)
	fmt.Fprintf(w, "FLOPs per predict     %12d   (%.3g GFLOP)\n", s.FLOPsPredict, float64(s.FLOPsPredict)/1e9)
	fmt.Fprintf(w, "parameter bytes       %12d\n", s.ParamBytes)
	fmt.Fprintf(w, "gradient bytes        %12d\n", s.GradBytes)
	fmt.Fprintf(w, "optimizer state bytes %12d\n", s.StateBytes)
	fmt.Fprintf(w, "activation bytes      %12d naive   %12d planned (%.2f× naive)   %12d lower bound (planned %.3f×)\n",
		s.ActNaive, s.ActPlanned, ratio(s.ActPlanned, s.ActNaive), s.ActLower, ratio(s.ActPlanned, s.ActLower))
	fmt.Fprintf(w, "in-place values       %12d\n", s.InPlace)
	fmt.Fprintf(w, "training memory       %12d measured   %12d by the 18 bytes/parameter rule\n", s.Measured, s.Estimate18)
	if len(s.Precisions) > 0 {
		fmt.Fprintf(w, "bytes by precision        %12s %12s %12s %12s %12s\n", "weights", "gradients", "optim state", "activations", "total")
		for _, r := range s.Precisions {
			fmt.Fprintf(w, "  %-23s %12d %12d %12d %12d %12d", r.Name, r.Weights, r.Grads, r.State, r.Activations, r.Total())
			if r.Name == precBF16Train {
				fmt.Fprintf(w, "   (18 × params = %d)", s.Estimate18)
			}
			fmt.Fprintln(w)
		}
	}
	if s.KVCacheBytes > 0 {
		fmt.Fprintf(w, "KV cache bytes        %12d allocated", s.KVCacheBytes)
		switch {
		case s.KVCacheFormula > 0 && s.encDec:
			fmt.Fprintf(w, "   %12d by (2 × dec_layers × (ctx + src_ctx) × kv_heads × head_dim + src_ctx) × bytes × batch", s.KVCacheFormula)
		case s.KVCacheFormula > 0:
			fmt.Fprintf(w, "   %12d by 2 × layers × ctx × kv_heads × head_dim × bytes × batch", s.KVCacheFormula)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func statsOf(p *graph.Program, m *loaded, opt string) (modelStats, error) {
	s := modelStats{Model: p.Name, Config: p.Config, DType: p.Float.String(), Optimizer: opt}
	size := p.Float.Size()
	g := p.Train
	if g == nil {
		g = p.Predict
	}
	for _, n := range g.Params() {
		s.Params += n.Type.Shape.Size()
	}
	if L, d := configInt(m, "layers"), configInt(m, "d"); L > 0 && d > 0 && configInt(m, "heads") > 0 {
		s.Estimate12 = 12 * L * d * d
	}
	s.ParamBytes = s.Params * size
	if p.Train != nil {
		s.GradBytes = s.ParamBytes
		for _, n := range p.Train.NodesWithOp(graph.OpState) {
			s.StateBytes += n.Type.Bytes()
		}
		s.FLOPsTrain = flops(p.Train)
		if pl := p.Train.Plan; pl != nil {
			s.ActNaive, s.ActPlanned, s.ActLower, s.InPlace = pl.NaiveBytes, pl.PlannedBytes, pl.LowerBoundBytes, pl.InPlace
		}
	}
	s.FLOPsPredict = flops(p.Predict)
	s.Estimate18 = 18 * s.Params
	s.Measured = s.ParamBytes + s.GradBytes + s.StateBytes + s.ActPlanned
	if p.Decode != nil {
		values, err := codegen.CacheValues(p)
		if err != nil {
			return s, err
		}
		s.KVCacheBytes = (values - p.Decode.Find(graph.KVPosName).Type.Shape.Size()) * size // less the position counter(s)
		L, ctx, d, batch := configInt(m, "layers"), configInt(m, "ctx"), configInt(m, "d"), max(configInt(m, "batch"), 1)
		if L > 0 && ctx > 0 && d > 0 {
			kvWidth := d // kv_heads × head_dim: d unless fewer key/value heads than query heads
			if heads, kv := configInt(m, "heads"), configInt(m, "kv_heads"); heads > 0 && kv > 0 {
				kvWidth = kv * (d / heads)
			}
			s.KVCacheFormula = 2 * L * ctx * kvWidth * size * batch
		}
		// An encoder-decoder: the decoder's self-attention caches, the
		// cross-attention keys and values Prefill keeps of the encoder's
		// output, and the source padding mask they share.
		if L, src := configInt(m, "dec_layers"), configInt(m, "src_ctx"); L > 0 && src > 0 && ctx > 0 && d > 0 {
			kvWidth := d
			if heads, kv := configInt(m, "heads"), configInt(m, "kv_heads"); heads > 0 && kv > 0 {
				kvWidth = kv * (d / heads)
			}
			s.KVCacheFormula = (2*L*(ctx+src)*kvWidth + src) * size * batch
			s.encDec = true
		}
	}
	return s, nil
}

// flops estimates the floating-point operations of one run of g: 2mnk per
// matrix product, one per element for elementwise ops and reductions, and
// a few per element for the row ops (softmax, layernorm, losses).
func flops(g *graph.Graph) int64 {
	var total int64
	for _, n := range g.Nodes {
		size := int64(n.Type.Shape.Size())
		switch info := n.Op.Info(); {
		case n.Op == graph.OpMatMul:
			as := n.Inputs[0].Type.Shape
			k := as[len(as)-1]
			if n.Attrs.TransA {
				k = as[len(as)-2]
			}
			total += 2 * size * int64(k)
		case info.Has(graph.Leaf), info.Has(graph.ShapeOnly), n.Op == graph.OpGather:
		case n.Op == graph.OpSoftmax, n.Op == graph.OpLogSoftmax, n.Op == graph.OpSoftmaxGrad, n.Op == graph.OpLogSoftmaxGrad:
			total += 5 * size
		case n.Op == graph.OpLayerNorm, n.Op == graph.OpLayerNormGrad:
			total += 8 * size
		case n.Op == graph.OpCrossEntropy || n.Op == graph.OpBCEWithLogits || n.Op == graph.OpMSE:
			total += 5 * int64(n.Inputs[0].Type.Shape.Size())
		case n.Op == graph.OpSum || n.Op == graph.OpMean || n.Op == graph.OpMax:
			total += int64(n.Inputs[0].Type.Shape.Size())
		case info.Has(graph.Effect):
			total += 10 * int64(n.Inputs[0].Type.Shape.Size())
		default:
			total += size
		}
	}
	return total
}

// precisionRow is the memory of one way of storing the model.
type precisionRow struct {
	Name        string `json:"name"`
	Weights     int    `json:"weight_bytes"`
	Grads       int    `json:"grad_bytes"`
	State       int    `json:"optimizer_state_bytes"`
	Activations int    `json:"activation_bytes"`
}

func (r precisionRow) Total() int { return r.Weights + r.Grads + r.State + r.Activations }

const precBF16Train = "bf16 train"

// precisionRows are the bytes of weights, gradients, optimizer state and
// activations of compiled programs: training in the model's float dtype, bf16
// mixed-precision training (f32 master weights, f32 gradients and optimizer
// state, the activations passes.BF16Storage stores in bf16), and inference
// with int8 and with bf16 weight matrices (the weights the program holds,
// Predict's planned activations). p is the program stats compiled, with
// the optimizer opt; its precision says which training row it gives.
func precisionRows(m *loaded, opt string, p *graph.Program, s modelStats) ([]precisionRow, error) {
	var rows []precisionRow
	if p.Train != nil {
		train := func(name string, q *graph.Program) error {
			qs, err := statsOf(q, m, opt)
			if err != nil {
				return err
			}
			rows = append(rows, precisionRow{Name: name, Weights: qs.ParamBytes, Grads: qs.GradBytes, State: qs.StateBytes, Activations: qs.ActPlanned})
			return nil
		}
		other := compile.Options{Optimizer: passes.OptimizerConfig{Kind: opt}}
		if s.Precision == "" {
			other.Precision = graph.BF16
		}
		var q *graph.Program
		if p.Float == graph.F32 {
			res, err := m.Compile(other)
			if err != nil {
				return nil, err
			}
			q = res.Program
		}
		f32, bf := p, q
		if s.Precision != "" {
			f32, bf = q, p
		}
		if f32 != nil {
			if err := train(f32.Float.String()+" train", f32); err != nil {
				return nil, err
			}
		}
		if bf != nil {
			if err := train(precBF16Train, bf); err != nil {
				return nil, err
			}
		}
	}
	infer := func(name string, g *graph.Graph) precisionRow {
		r := precisionRow{Name: name}
		for _, n := range g.Params() {
			r.Weights += n.Type.Bytes()
		}
		if g.Plan != nil {
			r.Activations = g.Plan.PlannedBytes
		}
		return r
	}
	rows = append(rows, infer(p.Float.String()+" predict", p.Predict))
	if p.Float != graph.F32 {
		return rows, nil // low-precision weights widen to f32: give -dtype f32 for their rows
	}
	for _, w := range []struct {
		name string
		dt   graph.DType
	}{{"int8 weights predict", graph.I8}, {"bf16 weights predict", graph.BF16}} {
		res, err := m.Compile(compile.Options{Weights: w.dt})
		if err != nil {
			return nil, err
		}
		rows = append(rows, infer(w.name, res.Program.Predict))
	}
	return rows, nil
}
