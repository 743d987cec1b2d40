// Package dsl is the builder that models are written with. A model is a Go
// function that receives a *Builder and calls methods that read like the math:
//
//	X := b.Input("X", 4, 2)
//	W1 := b.Param("W1", dsl.He(), 2, 4)
//	z1 := X.MatMul(W1).Add(b1).As("z1")
//
// Shapes and dtypes are checked as each op is built. A mistake is recorded
// with the DSL call site (file:line), the op and both shapes, and building
// carries on so that several independent mistakes are reported together.
package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/mlc-dev/mlc/graph"
)

// Dtypes, re-exported so that model code needs only this package.
const (
	F32  = graph.F32
	F64  = graph.F64
	I32  = graph.I32
	Bool = graph.Bool
)

// DType is an element type.
type DType = graph.DType

// Options control a build.
type Options struct {
	Float graph.DType // dtype of float values: F32 or F64 (default F64)
	Train bool        // training mode: dropout is active
}

// Builder records a model's graph.
type Builder struct {
	g    *graph.Graph
	opts Options
	errs []error
	// keyMasks are the attention views of key padding masks made so far, by
	// mask and rank, so that the attentions over one source share one.
	keyMasks map[keyMaskKey]*Tensor
}

type keyMaskKey struct {
	keep *graph.Node
	rank int
}

// Tensor is a value in the graph being built. A Tensor whose construction
// failed is "poisoned": ops on it build nothing and report nothing more, so
// one mistake gives one error.
type Tensor struct {
	b *Builder
	n *graph.Node
}

// Node is the IR node behind t (nil when t is poisoned).
func (t *Tensor) Node() *graph.Node {
	if t == nil {
		return nil
	}
	return t.n
}

// Shape is the static shape of t.
func (t *Tensor) Shape() []int {
	if t == nil || t.n == nil {
		return nil
	}
	return t.n.Type.Shape.Clone()
}

// DType is t's element type.
func (t *Tensor) DType() DType {
	if t == nil || t.n == nil {
		return graph.Invalid
	}
	return t.n.Type.DType
}

// Float is the float dtype of this build.
func (b *Builder) Float() DType { return b.opts.Float }

// Training reports whether the build is for training (dropout active).
func (b *Builder) Training() bool { return b.opts.Train }

// MaxNodes bounds a model's graph: a Build function that adds more nodes
// than this (a loop without end) stops with an error rather than taking
// all memory. The zoo's largest models have a few thousand.
const MaxNodes = 1 << 20

// maxErrors bounds the errors recorded: past it, Build stops.
const maxErrors = 100

// tooLarge is the panic that stops a Build past MaxNodes or maxErrors;
// Build turns it into an error.
type tooLarge struct {
	pos graph.Pos
	msg string
}

// checkSize stops the Build when the graph or the error list has grown
// past its bound.
func (b *Builder) checkSize(pos graph.Pos) {
	switch {
	case len(b.g.Nodes) >= MaxNodes:
		panic(tooLarge{pos, fmt.Sprintf("the graph grew past %d nodes; does Build loop without end?", MaxNodes)})
	case len(b.errs) >= maxErrors:
		panic(tooLarge{pos, fmt.Sprintf("stopped after %d errors", maxErrors)})
	}
}

// Build runs build on a fresh Builder and returns the graph, or every error
// found. A panic inside build is returned as an error at its call site.
func Build(name, source string, opts Options, build func(b *Builder)) (g *graph.Graph, err error) {
	if opts.Float == graph.Invalid {
		opts.Float = graph.F64
	}
	if !opts.Float.IsFloat() {
		return nil, fmt.Errorf("dsl: float dtype must be f32 or f64, got %s", opts.Float)
	}
	b := &Builder{g: graph.New(name, source), opts: opts}
	defer func() {
		if r := recover(); r != nil {
			if t, ok := r.(tooLarge); ok {
				if len(b.errs) > 0 && len(b.errs) >= maxErrors {
					err = &BuildError{Model: name, Errs: append(b.errs, fmt.Errorf("%s: %s", t.pos, t.msg))}
				} else {
					err = fmt.Errorf("%s: %s: %s", t.pos, name, t.msg)
				}
			} else {
				err = fmt.Errorf("%s: panic while building %s: %v", panicSite(), name, r)
			}
			g = nil
		}
	}()
	build(b)
	if len(b.errs) > 0 {
		return nil, &BuildError{Model: name, Errs: b.errs}
	}
	if err := graph.Validate(b.g); err != nil {
		return nil, fmt.Errorf("%s: internal error, invalid graph: %w", name, err)
	}
	return b.g, nil
}

// BuildError lists every mistake found while building a model.
type BuildError struct {
	Model string
	Errs  []error
}

func (e *BuildError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives the individual errors to errors.Is and errors.As.
func (e *BuildError) Unwrap() []error { return e.Errs }

// Graph is the graph built so far (for helpers that extend the DSL).
func (b *Builder) Graph() *graph.Graph { return b.g }

// Errorf records a mistake at the model's call site.
func (b *Builder) Errorf(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf("%s: %s", callSite(), fmt.Sprintf(format, args...)))
}

func (b *Builder) record(pos graph.Pos, err error) {
	b.errs = append(b.errs, fmt.Errorf("%s: %w", pos, err))
}

func (b *Builder) wrap(n *graph.Node) *Tensor { return &Tensor{b: b, n: n} }

func (b *Builder) poisoned() *Tensor { return &Tensor{b: b} }

// apply builds op over the operands, recording the call site. Poisoned
// operands poison the result silently.
func (b *Builder) apply(op graph.Op, attrs graph.Attrs, xs ...*Tensor) *Tensor {
	pos := callSite()
	b.checkSize(pos)
	nodes := make([]*graph.Node, len(xs))
	for i, x := range xs {
		if x == nil {
			b.record(pos, fmt.Errorf("%s: operand %d is nil", op, i))
			return b.poisoned()
		}
		if x.b != b {
			b.record(pos, fmt.Errorf("%s: operand %d belongs to another builder", op, i))
			return b.poisoned()
		}
		if x.n == nil {
			return b.poisoned()
		}
		nodes[i] = x.n
	}
	n, err := b.g.Apply(op, attrs, nodes...)
	if err != nil {
		b.record(pos, err)
		return b.poisoned()
	}
	n.Pos = pos
	return b.wrap(n)
}

func (b *Builder) leaf(op graph.Op, name string, t graph.Type, attrs graph.Attrs) *Tensor {
	pos := callSite()
	b.checkSize(pos)
	what := op.String()
	if name != "" {
		what += fmt.Sprintf(" %q", name)
	}
	for _, d := range t.Shape {
		if d <= 0 {
			b.record(pos, fmt.Errorf("%s: dimensions must be positive, got %s", what, t.Shape))
			return b.poisoned()
		}
	}
	if (op == graph.OpInput || op == graph.OpParam || op == graph.OpState) && !validName(name) {
		b.record(pos, fmt.Errorf("%s: bad name %q: use letters, digits, '_' and '.', starting with a letter", op, name))
		return b.poisoned()
	}
	if name != "" {
		if prev := b.findVar(name); prev != nil {
			b.record(pos, fmt.Errorf("%s: name %q already used at %s", op, name, prev.Pos))
			return b.poisoned()
		}
	}
	n, err := b.g.Leaf(op, name, t, attrs)
	if err != nil {
		if name != "" {
			err = fmt.Errorf("%q: %w", name, err)
		}
		b.record(pos, err)
		return b.poisoned()
	}
	n.Pos = pos
	return b.wrap(n)
}

func (b *Builder) findVar(name string) *graph.Node {
	for _, n := range b.g.Nodes {
		if n.Name == name && (n.IsVariable() || n.Op == graph.OpInput) {
			return n
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// As names t (the name shows in the IR and in generated code) and returns t.
func (t *Tensor) As(name string) *Tensor {
	if t != nil && t.n != nil {
		if !validName(name) {
			t.b.Errorf("bad name %q: use letters, digits, '_' and '.', starting with a letter", name)
			return t
		}
		t.n.Name = name
	}
	return t
}

// Input declares a float input of the build's float dtype.
func (b *Builder) Input(name string, dims ...int) *Tensor {
	return b.leaf(graph.OpInput, name, graph.T(b.opts.Float, dims...), graph.Attrs{})
}

// InputIDs declares an i32 input: token ids, class labels.
func (b *Builder) InputIDs(name string, dims ...int) *Tensor {
	return b.leaf(graph.OpInput, name, graph.T(graph.I32, dims...), graph.Attrs{})
}

// InputMask declares a bool input, e.g. which positions a loss counts.
func (b *Builder) InputMask(name string, dims ...int) *Tensor {
	return b.leaf(graph.OpInput, name, graph.T(graph.Bool, dims...), graph.Attrs{})
}

// Init says how a parameter starts.
type Init struct {
	kind string
	std  float64
	data []float64
}

// Zeros starts every element at 0.
func Zeros() Init { return Init{kind: "zeros"} }

// Ones starts every element at 1.
func Ones() Init { return Init{kind: "ones"} }

// Normal draws from N(0, std²).
func Normal(std float64) Init { return Init{kind: "normal", std: std} }

// He draws from N(0, 2/fan_in), fan_in the first dimension.
func He() Init { return Init{kind: "he"} }

// Xavier draws from N(0, 2/(fan_in+fan_out)).
func Xavier() Init { return Init{kind: "xavier"} }

// Values gives explicit row-major values.
func Values(data ...float64) Init { return Init{kind: "values", data: append([]float64{}, data...)} }

// Param declares a trainable parameter of the build's float dtype.
func (b *Builder) Param(name string, init Init, dims ...int) *Tensor {
	return b.leaf(graph.OpParam, name, graph.T(b.opts.Float, dims...), graph.Attrs{Init: init.kind, Std: init.std, Data: init.data})
}

// State declares a non-trainable variable that persists across calls.
func (b *Builder) State(name string, value float64, dims ...int) *Tensor {
	return b.leaf(graph.OpState, name, graph.T(b.opts.Float, dims...), graph.Attrs{Value: value})
}

// Const is a float constant of the build's dtype with every element v.
func (b *Builder) Const(v float64, dims ...int) *Tensor {
	return b.leaf(graph.OpConst, "", graph.T(b.opts.Float, dims...), graph.Attrs{Value: v})
}

// ConstIDs is an i32 constant tensor with explicit values.
func (b *Builder) ConstIDs(data []int, dims ...int) *Tensor {
	f := make([]float64, len(data))
	for i, v := range data {
		f[i] = float64(v)
	}
	return b.leaf(graph.OpConst, "", graph.T(graph.I32, dims...), graph.Attrs{Data: f})
}

// Output marks t as a named result of the model.
func (b *Builder) Output(name string, t *Tensor) {
	if t == nil || t.n == nil {
		return
	}
	if b.g.Output(name) != nil || b.g.Tap(name) != nil {
		b.Errorf("output %q declared twice", name)
		return
	}
	if t.n.Name == "" {
		t.n.Name = name
	}
	b.g.Outputs = append(b.g.Outputs, graph.Output{Name: name, Node: t.n})
}

// Tap marks t as a value the caller can read after Predict under name
// (attention weights, the residual stream after a layer) and returns t.
// A tap is computed only when a compile asks for it (compile.Options.Taps);
// the others cost nothing.
func (t *Tensor) Tap(name string) *Tensor {
	if t == nil || t.n == nil {
		return t
	}
	b := t.b
	switch {
	case !validName(name):
		b.Errorf("Tap: bad name %q: use letters, digits, '_' and '.', starting with a letter", name)
	case !t.n.Type.DType.IsFloat():
		b.Errorf("Tap %q: %s is not a float value", name, t.n.Type)
	case b.g.Output(name) != nil || b.g.Tap(name) != nil:
		b.Errorf("Tap: %q is already an output or a tap", name)
	default:
		if t.n.Name == "" {
			t.n.Name = name
		}
		b.g.Outputs = append(b.g.Outputs, graph.Output{Name: name, Node: t.n, Tap: true})
	}
	return t
}

// Loss marks t, a float scalar, as the training objective.
func (b *Builder) Loss(t *Tensor) {
	if t == nil || t.n == nil {
		return
	}
	if t.n.Type.Shape.Rank() != 0 {
		b.Errorf("Loss: the loss must be a scalar, got %s; reduce it with Mean or Sum", t.n.Type)
		return
	}
	if b.g.Loss != nil {
		b.Errorf("Loss: declared twice (first at %s)", b.g.Loss.Pos)
		return
	}
	if t.n.Name == "" {
		t.n.Name = "loss"
	}
	b.g.Loss = t.n
}

// Errs lists the mistakes recorded so far.
func (b *Builder) Errs() []error { return append([]error{}, b.errs...) }

// ---- call sites ----

var (
	dslDir   string
	rootMu   sync.Mutex
	rootMemo = map[string]string{}
)

func init() {
	_, file, _, _ := runtime.Caller(0)
	dslDir = filepath.Dir(file)
}

// callSite is the first frame outside this package: the model's line.
func callSite() graph.Pos {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if filepath.Dir(f.File) != dslDir || strings.HasSuffix(f.File, "_test.go") {
			return relPos(f.File, f.Line)
		}
		if !more {
			return graph.Pos{}
		}
	}
}

// panicSite finds the user frame that panicked, from inside a deferred recover.
func panicSite() graph.Pos {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		inRuntime := strings.HasPrefix(f.Function, "runtime.")
		if !inRuntime && f.File != "" && (filepath.Dir(f.File) != dslDir || strings.HasSuffix(f.File, "_test.go")) {
			return relPos(f.File, f.Line)
		}
		if !more {
			return graph.Pos{File: "?"}
		}
	}
}

// relPos makes a file path relative to the root of the module that holds it,
// so positions (and generated code) do not depend on where the checkout lives.
func relPos(file string, line int) graph.Pos {
	dir := filepath.Dir(file)
	root := moduleRoot(dir)
	if root == "" {
		return graph.Pos{File: filepath.Base(file), Line: line}
	}
	rel, err := filepath.Rel(root, file)
	if err != nil {
		rel = filepath.Base(file)
	}
	return graph.Pos{File: filepath.ToSlash(rel), Line: line}
}

func moduleRoot(dir string) string {
	rootMu.Lock()
	defer rootMu.Unlock()
	if r, ok := rootMemo[dir]; ok {
		return r
	}
	r := ""
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			r = d
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	rootMemo[dir] = r
	return r
}

// SourceOf gives the module-relative file of a function, e.g. a model's Build.
func SourceOf(pc uintptr) string {
	f := runtime.FuncForPC(pc)
	if f == nil {
		return ""
	}
	file, _ := f.FileLine(pc)
	return relPos(file, 0).File
}

// Graph is the IR graph type, re-exported for code that builds models
// without importing the graph package.
type Graph = graph.Graph

// ConstValues is a float constant tensor with explicit row-major values.
func (b *Builder) ConstValues(data []float64, dims ...int) *Tensor {
	return b.leaf(graph.OpConst, "", graph.T(b.opts.Float, dims...), graph.Attrs{Data: append([]float64{}, data...)})
}

// Wrap makes a Tensor of a node built directly on b's graph (for helpers
// that create IR nodes the DSL has no method for).
func Wrap(b *Builder, n *graph.Node) *Tensor { return b.wrap(n) }
