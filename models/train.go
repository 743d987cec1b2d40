package models

// TrainDefaults are the settings `mlc train` uses for a model when the flags
// leave them out.
type TrainDefaults struct {
	Opt   string  // optimizer kind
	LR    float64 // learning rate
	Steps int     // training steps (epochs, for full-batch models)
	Log   int     // steps between progress lines
	Eval  int     // steps between validation losses (0: none)
}

// trainDefaults are per model; the reference text's experiments set
// seedmlp's and xor's.
var trainDefaults = map[string]TrainDefaults{
	"seedmlp":     {Opt: "sgd", LR: 0.5, Steps: 1, Log: 1},
	"xor":         {Opt: "sgd", LR: 0.5, Steps: 10000, Log: 2000}, // the text: lr 0.5, 10,000 epochs, full batch
	"mlp":         {Opt: "sgd", LR: 0.1, Steps: 200, Log: 50},
	"tinydecoder": {Opt: "adam", LR: 0.01, Steps: 300, Log: 50},
}

// TrainDefaultsFor returns a model's training defaults.
func TrainDefaultsFor(name string) TrainDefaults {
	if d, ok := trainDefaults[name]; ok {
		return d
	}
	return TrainDefaults{Opt: "adamw", LR: 1e-3, Steps: 1000, Log: 100, Eval: 250}
}
