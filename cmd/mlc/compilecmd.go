package main

import (
	"fmt"
	"go/token"
	"math"
	"strings"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
)

func cmdCompile(c *cli, args []string) error {
	fs := c.flags("compile")
	var mf modelFlags
	mf.register(fs)
	mf.registerTaps(fs)
	out := fs.String("o", "", "output directory for the generated package (required)")
	pkg := fs.String("pkg", "", "package name (default: the model name)")
	predictBatch := fs.String("predict-batch", "", "also compile Predict for a smaller batch N (the config key batch; KEY=N names another), so one package serves both batch sizes")
	module := fs.String("module", "", "also write a go.mod declaring this module path, so that the package builds and tests on its own")
	var of optimizerFlags
	of.register(fs, "sgd", "the optimizer's")
	l2 := fs.Float64("l2", 0, "L2 regularisation λ of a λ/2·‖w‖² term on the weight matrices, in TrainStep's loss")
	warmup := fs.Int("warmup", 0, "linear warmup steps of TrainStep's learning rate; it then decays by a cosine to -lr-min at -steps")
	cosine := fs.Bool("cosine", false, "decay the learning rate by a cosine to -lr-min at -steps (implied by -warmup)")
	lrMin := fs.Float64("lr-min", 0, "final learning rate of the cosine decay")
	schedSteps := fs.Int("steps", 0, "with -warmup or -cosine: the step at which the decay ends")
	var pf passFlags
	pf.register(fs)
	var wf weightsFlags
	wf.register(fs)
	precision := fs.String("precision", "", "bf16: TrainStep's matrix products read bf16-rounded operands, f32 master weights, optimizer state and loss (docs/low-precision.md)")
	// A package path may come before or after the flags.
	var path string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() > 0 {
		if path != "" || fs.NArg() > 1 {
			return fmt.Errorf("unexpected argument %q", fs.Arg(fs.NArg()-1))
		}
		path = fs.Arg(0)
	}
	of.parsed(fs)
	if *out == "" {
		return fmt.Errorf("-o DIR is required")
	}
	if *pkg != "" {
		if err := checkPackageName(*pkg); err != nil {
			return err
		}
	}
	switch {
	case path != "" && mf.model != "":
		return fmt.Errorf("give either -model or a package path, not both")
	case path != "":
		mf.model = path
	}
	weights, err := wf.parse(&mf)
	if err != nil {
		return err
	}
	m, optim, err := loadWithOptimizer(&mf, &of)
	if err != nil {
		return err
	}
	if err := m.predictBatch(*predictBatch); err != nil {
		return err
	}
	if err := checkL2(*l2); err != nil {
		return err
	}
	if *warmup > 0 || *cosine {
		if *schedSteps < 1 {
			return fmt.Errorf("-warmup and -cosine need -steps N, the step the decay ends at")
		}
		if *warmup < 0 || math.IsNaN(*lrMin) || *lrMin < 0 {
			return fmt.Errorf("-warmup and -lr-min must not be negative")
		}
		optim.Warmup, optim.Steps, optim.LRMin = *warmup, *schedSteps, *lrMin
		if optim, err = optim.Defaults(); err != nil {
			return err
		}
	} else if *schedSteps != 0 || *lrMin != 0 {
		return fmt.Errorf("-steps and -lr-min shape a schedule: give -warmup N or -cosine with them")
	}
	opts := m.compileOptions(optim)
	opts.L2 = *l2
	wf.apply(&opts, weights)
	if opts.Precision, err = compile.ParsePrecision(*precision); err != nil {
		return err
	}
	if err := pf.apply(&opts, func(pass string, g *graph.Graph) {
		fmt.Fprintf(c.stderr, "# after %s:\n%s", pass, g)
	}); err != nil {
		return err
	}
	res, err := m.Compile(opts)
	if err != nil {
		return err
	}
	p := res.Program
	for _, st := range []struct {
		name string
		g    *graph.Graph
	}{{"Predict", p.Predict}, {"TrainStep", p.Train}, {"Prefill", p.Prefill}, {"DecodeStep", p.Decode}} {
		if st.g != nil && (pf.stats || pf.timePasses) {
			fmt.Fprintf(c.stderr, "# %s:\n", st.name)
			pf.report(c, res.StageStats[st.g])
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(c.stderr, "warning:", w)
	}
	name := *pkg
	if name == "" {
		name = defaultPkg(res.Program)
	}
	files, err := compile.Generate(res, name)
	if err != nil {
		return err
	}
	if err := compile.TypeCheck(files); err != nil {
		return err
	}
	if *module != "" {
		gomod, err := compile.GoMod(res, *module)
		if err != nil {
			return err
		}
		files = append(files, gomod)
	}
	if err := compile.WriteDir(*out, files); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "wrote package %s to %s (%d files)\n", name, *out, len(files))
	return nil
}

func defaultPkg(p *graph.Program) string {
	var b strings.Builder
	for _, r := range strings.ToLower(p.Name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' && b.Len() > 0 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "model"
	}
	return b.String()
}

// checkPackageName accepts a name the generated package can take: a Go
// identifier that is not a keyword, not the blank identifier and not main
// (a command, which the generated library cannot be).
func checkPackageName(name string) error {
	switch {
	case token.IsKeyword(name), name == "_", name == "main":
		return fmt.Errorf("-pkg %q is reserved in Go; choose another package name", name)
	case !token.IsIdentifier(name):
		return fmt.Errorf("-pkg %q is not a Go identifier (letters, digits and _, not starting with a digit)", name)
	}
	return nil
}
