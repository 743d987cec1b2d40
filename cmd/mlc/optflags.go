package main

import (
	"flag"
	"strings"

	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
)

// optimizerFlags choose the update rule compiled into TrainStep: for the
// verbs that compile a model without training it (compile, bench), and for
// train, whose defaults are the model's training run.
type optimizerFlags struct {
	opt            string
	lr, wd, clip   float64
	beta1, beta2   float64
	modelsDefaults bool // an empty -opt means the model's training optimizer, not SGD
}

// register adds -opt, -lr, -wd, -clip, -beta1 and -beta2; emptyOpt and
// zeroLR say in their help what an empty -opt and a zero -lr mean.
func (o *optimizerFlags) register(fs *flag.FlagSet, emptyOpt, zeroLR string) {
	fs.StringVar(&o.opt, "opt", "", "optimizer of TrainStep: "+strings.Join(passes.OptimizerKinds, ", ")+" (default: "+emptyOpt+")")
	fs.Float64Var(&o.lr, "lr", 0, "learning rate (default: "+zeroLR+")")
	fs.Float64Var(&o.wd, "wd", 0, "AdamW's decoupled weight decay (default: the optimizer's)")
	fs.Float64Var(&o.clip, "clip", 0, "global gradient-norm limit (0: no clipping)")
	fs.Float64Var(&o.beta1, "beta1", 0, "momentum's μ, the EMA's β, RMSProp's α or Adam's β₁ (default: the optimizer's)")
	fs.Float64Var(&o.beta2, "beta2", 0, "Adam's and AdamW's β₂ (default: the optimizer's)")
}

// config is the optimizer the flags give for model (a zoo name, or "" for
// a user's package). With modelsDefaults and no -opt, it is the one mlc
// train uses for the model, at its learning rate, without the schedule.
func (o *optimizerFlags) config(model string) passes.OptimizerConfig {
	c := passes.OptimizerConfig{Kind: o.opt, LR: o.lr, WD: o.wd, Clip: o.clip, Beta1: o.beta1, Beta2: o.beta2}
	if o.modelsDefaults && o.opt == "" && model != "" {
		def := models.TrainDefaultsFor(model)
		c.Kind = def.Opt
		if c.LR == 0 {
			c.LR = def.LR
		}
	}
	return c
}
