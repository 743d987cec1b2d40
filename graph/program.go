package graph

// Program is what codegen turns into one package: the graphs of a model's
// entry points. Variables (Param and State nodes) with the same name in
// different graphs are the same storage.
type Program struct {
	Name   string // model name
	Source string // module-relative file the model came from
	Config string // canonical config string, for documentation and checkpoints
	Float  DType  // dtype of float values

	// Predict is the eval-mode forward graph: outputs only, no loss, no dropout.
	Predict *Graph
	// PredictSmall is Predict built for a smaller batch (mlc compile
	// -predict-batch): the same inputs and outputs with a shorter first axis,
	// the same parameters. Generated Predict serves both sizes. Nil without.
	PredictSmall *Graph
	// Train is forward (train mode) + backward + optimizer update, with a loss
	// and gradients; nil for a model without a loss.
	Train *Graph
	// Prefill and Decode are a causal decoder's KV-cache entry points (see
	// passes.KVCache); nil for other models.
	Prefill, Decode *Graph
}

// Graphs lists the program's non-nil graphs in a fixed order.
func (p *Program) Graphs() []*Graph {
	var gs []*Graph
	for _, g := range []*Graph{p.Predict, p.PredictSmall, p.Train, p.Prefill, p.Decode} {
		if g != nil {
			gs = append(gs, g)
		}
	}
	return gs
}

// Names of the variable and input that KV-cache decoding adds (see
// passes.KVCache).
const (
	// KVPosName is the position counter, a State: the number of positions
	// the caches hold, which is the position Decode computes next.
	KVPosName = "kv.pos"
	// KVLengthName is Prefill's second input: the prompt's length (its ids
	// are padded to the full context; causality keeps the padding from
	// affecting the positions before it).
	KVLengthName = "kv.length"
)
