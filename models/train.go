package models

// TrainDefaults are the settings `mlc train` uses for a model when the flags
// leave them out.
type TrainDefaults struct {
	Opt   string  // optimizer kind
	LR    float64 // learning rate
	Steps int     // training steps (epochs, for full-batch models)
	Log   int     // steps between progress lines
	Eval  int     // steps between validation losses (0: none)
	// Warmup > 0 gives a linear warmup, then a cosine decay to LR/10 at Steps.
	Warmup int
	// Data is the data pipeline the model trains on (data.Kind*): "" its
	// example batch, "lm" a causal language model's windows of text, "mlm"
	// BERT's masked windows, "skipgram" word2vec's pairs, "case" the
	// seq2seq task of writing Go identifiers in snake_case.
	Data string
}

// trainDefaults are per model; the reference text's experiments set
// seedmlp's and xor's.
var trainDefaults = map[string]TrainDefaults{
	"seedmlp":     {Opt: "sgd", LR: 0.5, Steps: 1, Log: 1},
	"xor":         {Opt: "sgd", LR: 0.5, Steps: 10000, Log: 2000}, // the text: lr 0.5, 10,000 epochs, full batch
	"mlp":         {Opt: "sgd", LR: 0.1, Steps: 200, Log: 50},
	"tinydecoder": {Opt: "adam", LR: 0.01, Steps: 300, Log: 50},
	// 4,500 steps of 1,024 tokens (4.6M tokens of Go source), 6–9
	// minutes on two cores, reach a validation loss 44.5% below the
	// unigram baseline (docs/benchmarks.md).
	"gpt": {Opt: "adamw", LR: 2e-3, Steps: 4500, Log: 100, Eval: 500, Warmup: 100, Data: "lm"},
	// llama trains on gpt's pipeline with gpt's settings.
	"llama":    {Opt: "adamw", LR: 2e-3, Steps: 4500, Log: 100, Eval: 500, Warmup: 100, Data: "lm"},
	"bert":     {Opt: "adamw", LR: 1e-3, Steps: 2000, Log: 100, Eval: 500, Warmup: 100, Data: "mlm"},
	"word2vec": {Opt: "adam", LR: 3e-3, Steps: 5000, Log: 500, Eval: 1000, Data: "skipgram"},
	// 2,000 steps of 32 identifiers reach about 98% exact match on
	// held-out identifiers in minutes (docs/benchmarks.md).
	"seq2seq": {Opt: "adamw", LR: 2e-3, Steps: 2000, Log: 100, Eval: 500, Warmup: 100, Data: "case"},
}

// TrainDefaultsFor returns a model's training defaults.
func TrainDefaultsFor(name string) TrainDefaults {
	if d, ok := trainDefaults[name]; ok {
		return d
	}
	return TrainDefaults{Opt: "adamw", LR: 1e-3, Steps: 1000, Log: 100, Eval: 250}
}
