package main

import (
	"flag"
	"fmt"
	"math"
	"strings"

	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
)

// optimizerFlags choose the update rule compiled into TrainStep: for the
// verbs that compile a model without training it (compile, bench), and for
// train, whose defaults are the model's training run. A flag the user gave
// is taken as given, zero included; one left out takes the default.
type optimizerFlags struct {
	opt               string
	lr, wd, clip, eps float64
	beta1, beta2      float64
	modelsDefaults    bool            // an empty -opt means the model's training optimizer, not SGD
	set               map[string]bool // the flags given on the command line
}

// register adds -opt, -lr, -wd, -clip, -beta1, -beta2 and -eps; emptyOpt
// and unsetLR say in their help what a missing -opt and -lr mean.
func (o *optimizerFlags) register(fs *flag.FlagSet, emptyOpt, unsetLR string) {
	fs.StringVar(&o.opt, "opt", "", "optimizer of TrainStep: "+strings.Join(passes.OptimizerKinds, ", ")+" (default: "+emptyOpt+")")
	fs.Float64Var(&o.lr, "lr", 0, "learning rate (default: "+unsetLR+")")
	fs.Float64Var(&o.wd, "wd", 0, "AdamW's decoupled weight decay (default: the optimizer's, 0.01)")
	fs.Float64Var(&o.clip, "clip", 0, "global gradient-norm limit (default 0: no clipping)")
	fs.Float64Var(&o.beta1, "beta1", 0, "momentum's μ, the EMA's β, RMSProp's α or Adam's β₁ (default: the optimizer's)")
	fs.Float64Var(&o.beta2, "beta2", 0, "Adam's and AdamW's β₂ (default: the optimizer's, 0.999)")
	fs.Float64Var(&o.eps, "eps", 0, "RMSProp's and Adam's ε (default: the optimizer's, 1e-8)")
}

// parsed records which flags of fs the user gave; call it after fs.Parse.
func (o *optimizerFlags) parsed(fs *flag.FlagSet) {
	o.set = setFlags(fs)
}

// setFlags lists the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// config is the optimizer the flags give for model (a zoo name, or "" for
// another source), with every default filled in. With modelsDefaults and
// no -opt, it is the one mlc train uses for the model, at its learning
// rate, without the schedule.
func (o *optimizerFlags) config(model string) (passes.OptimizerConfig, error) {
	c := passes.OptimizerConfig{Kind: o.opt}
	if o.modelsDefaults && o.opt == "" && model != "" {
		def := models.TrainDefaultsFor(model)
		c.Kind, c.LR = def.Opt, def.LR
	}
	return o.resolve(c)
}

// resolve fills c's defaults, then sets the values the user gave.
func (o *optimizerFlags) resolve(c passes.OptimizerConfig) (passes.OptimizerConfig, error) {
	c, err := c.Defaults()
	if err != nil {
		return c, err
	}
	given := map[string]float64{"lr": o.lr, "wd": o.wd, "clip": o.clip, "beta1": o.beta1, "beta2": o.beta2, "eps": o.eps}
	for _, name := range []string{"lr", "wd", "clip", "beta1", "beta2", "eps"} {
		if !o.set[name] {
			continue
		}
		v := given[name]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return c, fmt.Errorf("-%s must be a finite number, got %v", name, v)
		}
		*map[string]*float64{"lr": &c.LR, "wd": &c.WD, "clip": &c.Clip, "beta1": &c.Beta1, "beta2": &c.Beta2, "eps": &c.Eps}[name] = v
	}
	c.Resolved = true
	return c.Defaults()
}

// loadWithOptimizer loads the model the flags name and the optimizer the
// optimizer flags give for it: what compile, bench and inspect start from.
func loadWithOptimizer(mf *modelFlags, of *optimizerFlags) (*loaded, passes.OptimizerConfig, error) {
	m, err := mf.load()
	if err != nil {
		return nil, passes.OptimizerConfig{}, err
	}
	optim, err := of.config(m.zooName())
	return m, optim, err
}

// checkL2 validates an -l2 strength.
func checkL2(l2 float64) error {
	if math.IsNaN(l2) || math.IsInf(l2, 0) || l2 < 0 {
		return fmt.Errorf("-l2 must be a number ≥ 0, got %v", l2)
	}
	return nil
}
