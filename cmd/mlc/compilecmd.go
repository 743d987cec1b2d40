package main

import (
	"fmt"
	"go/token"
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
	var of optimizerFlags
	of.register(fs, "sgd", "the optimizer's")
	var pf passFlags
	pf.register(fs)
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
	m, err := mf.load()
	if err != nil {
		return err
	}
	optim, err := of.config(m.zooName())
	if err != nil {
		return err
	}
	opts := m.compileOptions(optim)
	if err := pf.apply(&opts, func(pass string, g *graph.Graph) {
		fmt.Fprintf(c.stderr, "# after %s:\n%s", pass, g)
	}); err != nil {
		return err
	}
	res, err := m.Compile(opts)
	if err != nil {
		return err
	}
	pf.report(c, opts.Stats)
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
