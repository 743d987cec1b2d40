package codegen

import (
	"fmt"
	"slices"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/codegen/kernels"
	"github.com/mlc-dev/mlc/graph"
)

// Kernels that the worker pool's threads share. A kernel whose work splits
// into independent pieces along its outermost loop (the rows of an
// elementwise loop nest, the matrices of a batched product or of an
// attention) is emitted as a Model method over a range [lo, hi) of that
// loop; m.parallel hands it to Pool.ParallelFor, which cuts the loop into
// ranges for the threads. Its operands travel as views in m.task, so a call
// allocates nothing; products inside a range use GemmOnThread with the
// thread's own packing buffers, and scratch memory is per thread.
//
// Below the thresholds the hand-off costs more than the second thread
// saves, so the kernel stays a plain loop on the calling goroutine.
const (
	// parallelMinElems is the smallest elementwise kernel, in elements,
	// that runs on the pool: about 10 µs of additions on one core.
	parallelMinElems = 16384
	// parallelMinWork is the smallest batched product, in multiply-adds
	// over the whole batch, that runs its matrices on the pool.
	parallelMinWork = 64 * 64 * 64
)

// kernelGen returns a generator for the body of a kernel method of f's
// function: the same names and storage, its own record of the slices the
// body touches (the method's parameters or views).
func (f *fnGen) kernelGen() *fnGen {
	return &fnGen{g: f.g, gr: f.gr, p: f.p, nm: f.nm, used: map[*graph.Node]bool{}}
}

// splits reports whether a kernel of the given size (elements, or
// multiply-adds for products) runs on the pool: the model has one, and the
// kernel is at least min or Options.ParallelAll asks for every kernel.
func (g *gen) splits(size, min int) bool {
	return g.usesPool && (size >= min || g.parallelAll)
}

// parallelKernel returns the Model method name, which runs body over
// [lo, hi) on a thread of the pool and is documented by doc, and the
// statement that runs it over [0, n): m.parallel(n, (*Model).name,
// operands...). The method reads its operands (every slice lf touched, in
// ID order) from its views argument under their usual names; the call site
// refers to them through f. ok is false when an operand is not of the float
// type, which is all views hold.
func (f *fnGen) parallelKernel(lf *fnGen, name string, n int, body []jen.Code, doc string) (call, decl jen.Code, ok bool) {
	fn, args, decl, ok := f.kernelDecl(lf, name, body, doc)
	if !ok {
		return nil, nil, false
	}
	call = jen.Id("m").Dot("parallel").Call(append([]jen.Code{jen.Lit(n), fn}, args...)...)
	return call, decl, true
}

// kernelDecl is parallelKernel's method declaration, with the method value
// and the operands that a call passes as its views.
func (f *fnGen) kernelDecl(lf *fnGen, name string, body []jen.Code, doc string) (fn jen.Code, args []jen.Code, decl jen.Code, ok bool) {
	var operands []*graph.Node
	for x := range lf.used {
		if x.Type.DType != f.g.prog.Float {
			return nil, nil, nil, false
		}
		operands = append(operands, x)
	}
	slices.SortFunc(operands, func(a, b *graph.Node) int { return a.ID - b.ID })
	var names, views []jen.Code
	for i, x := range operands {
		names = append(names, jen.Id(f.nm.name(x)))
		views = append(views, jen.Id("v").Index(jen.Lit(i)))
		args = append(args, f.ref(x))
	}
	f.g.maxViews = max(f.g.maxViews, len(operands))
	if len(operands) > 0 {
		body = append([]jen.Code{jen.List(names...).Op(":=").List(views...)}, body...)
	}
	decl = jen.Comment(lineComments(doc)).Line().
		Func().Params(jen.Id("m").Op("*").Id("Model")).Id(name).
		Params(jen.List(jen.Id("lo"), jen.Id("hi"), jen.Id("thread")).Int(), jen.Id("v").Index().Index().Id(f.g.T)).
		Block(body...)
	return jen.Parens(jen.Op("*").Id("Model")).Dot(name), args, decl, true
}

// productThenKernel returns the statement that computes the product p (one
// matrix, or a batch flattened into one: splitsByCols(p) holds) and then
// the loop kernel body over its columns, inside the product's split
// (kernels.GemmThen): each thread finishes the columns it computed while
// they are in its core's cache, with no second hand-off. The kernel method
// is declared like parallelKernel's; lf generated body.
func (f *fnGen) productThenKernel(lf *fnGen, p *graph.Node, name string, body []jen.Code, doc string) (call, decl jen.Code, ok bool) {
	fn, args, decl, ok := f.kernelDecl(lf, name, body, doc)
	if !ok {
		return nil, nil, false
	}
	A, B := p.Inputs[0], p.Inputs[1]
	as, bs := A.Type.Shape, B.Type.Shape
	ta, tb, m, nn, k := matmulDims(p)
	f.g.productThen = true
	call = jen.Id("m").Dot("productThen").Call(append([]jen.Code{
		jen.Lit(ta), jen.Lit(tb), jen.Lit(m), jen.Lit(nn), jen.Lit(k),
		f.ref(A), jen.Lit(as[len(as)-1]), f.ref(B), jen.Lit(bs[len(bs)-1]), f.ref(p), fn,
	}, args...)...)
	return call, decl, true
}

// addParallel is parallelKernel for the usual case: it adds the method to
// the package's kernels and returns the statements that run it.
func (f *fnGen) addParallel(lf *fnGen, name string, n int, body []jen.Code, doc string) ([]jen.Code, bool) {
	call, decl, ok := f.parallelKernel(lf, name, n, body, doc)
	if !ok {
		return nil, false
	}
	f.g.kernels = append(f.g.kernels, decl)
	return []jen.Code{call}, true
}

// parallelDecls declares the task type that carries a parallel kernel and
// its views to the pool, and Model.parallel, which starts one.
func (g *gen) parallelDecls(f *jen.File) {
	fnType := jen.Func().Params(jen.Id("m").Op("*").Id("Model"), jen.List(jen.Id("lo"), jen.Id("hi"), jen.Id("thread")).Int(), jen.Id("v").Index().Index().Id(g.T))
	docComment(f, "task is the kernel the pool's threads are running, each over its own range\nof the kernel's outermost loop, and the views it reads and writes.")
	fields := []jen.Code{
		jen.Id("m").Op("*").Id("Model"),
		jen.Id("kernel").Add(fnType.Clone()),
		jen.Id("views").Index(jen.Lit(max(g.maxViews, 1))).Index().Id(g.T),
		jen.Id("n").Int().Comment("views in use"),
	}
	if g.bf16Casts {
		fields = append(fields, jen.Id("h").Index().Uint16().Comment("castBF16's bf16 operand"))
	}
	f.Type().Id("task").Struct(fields...)
	f.Line()
	docComment(f, "Range runs the kernel over [lo, hi) on the pool's thread number thread.")
	f.Func().Params(jen.Id("t").Op("*").Id("task")).Id("Range").Params(jen.List(jen.Id("lo"), jen.Id("hi"), jen.Id("thread")).Int()).Block(
		jen.Id("t").Dot("kernel").Call(jen.Id("t").Dot("m"), jen.Id("lo"), jen.Id("hi"), jen.Id("thread"), jen.Id("t").Dot("views").Index(jen.Op(":").Id("t").Dot("n"))),
	)
	f.Line()
	docComment(f, "parallel runs kernel over [0, n) on the pool's threads, with views as its\noperands. Nothing escapes: the views are copied into m.task.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("parallel").Params(
		jen.Id("n").Int(), jen.Id("kernel").Add(fnType.Clone()), jen.Id("views").Op("...").Index().Id(g.T),
	).Block(
		jen.Id("t").Op(":=").Op("&").Id("m").Dot("task"),
		jen.List(jen.Id("t").Dot("m"), jen.Id("t").Dot("kernel")).Op("=").List(jen.Id("m"), jen.Id("kernel")),
		jen.Id("t").Dot("n").Op("=").Copy(jen.Id("t").Dot("views").Index(jen.Op(":")), jen.Id("views")),
		jen.Id("m").Dot("pool").Dot("ParallelFor").Call(jen.Id("n"), jen.Id("t")),
	)
	if g.bf16Casts {
		g.castBF16Decls(f)
	}
	if !g.productThen {
		return
	}
	f.Line()
	docComment(f, "productThen computes the product c = op(a)·op(b) (rows×n, inner dimension k)\non the pool's threads and runs kernel, with views as its operands, over\nthe columns [0, n) of c: each range on the thread that computed those\ncolumns, right after it did. Nothing escapes: the views are copied into\nm.task.")
	T := jen.Index().Id(g.T)
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("productThen").Params(
		jen.List(jen.Id("transA"), jen.Id("transB")).Bool(), jen.List(jen.Id("rows"), jen.Id("n"), jen.Id("k")).Int(),
		jen.Id("a").Add(T.Clone()), jen.Id("lda").Int(), jen.Id("b").Add(T.Clone()), jen.Id("ldb").Int(), jen.Id("c").Add(T.Clone()),
		jen.Id("kernel").Add(fnType.Clone()), jen.Id("views").Op("...").Add(T.Clone()),
	).Block(
		jen.Id("t").Op(":=").Op("&").Id("m").Dot("task"),
		jen.List(jen.Id("t").Dot("m"), jen.Id("t").Dot("kernel")).Op("=").List(jen.Id("m"), jen.Id("kernel")),
		jen.Id("t").Dot("n").Op("=").Copy(jen.Id("t").Dot("views").Index(jen.Op(":")), jen.Id("views")),
		jen.Id(internal("GemmThen")).Call(jen.Id("m").Dot("pool"), jen.Id("transA"), jen.Id("transB"), jen.Id("rows"), jen.Id("n"), jen.Id("k"),
			jen.Id("a"), jen.Id("lda"), jen.Id("b"), jen.Id("ldb"), jen.Id("c"), jen.Id("n"), jen.False(), jen.Id("t")),
	)
}

// rowArg is an argument of a library row kernel (rowKernel): a value x,
// sliced to a range's rows of rowLen elements each, or passed whole when
// rowLen is 0; or, with x nil, the code lit, or the kernel's row count when
// count is set.
type rowArg struct {
	x      *graph.Node
	rowLen int
	lit    jen.Code
	count  bool
}

func whole(x *graph.Node) rowArg             { return rowArg{x: x} }
func byRow(x *graph.Node, rowLen int) rowArg { return rowArg{x: x, rowLen: rowLen} }
func litArg(c jen.Code) rowArg               { return rowArg{lit: c} }

var rowCount = rowArg{count: true}

// rowKernel calls the library kernel fn, whose rows are independent, over
// rows rows of elems elements in all: on the pool's threads, each over a
// range of rows, through a method named after method, when the work is large
// enough; as one call otherwise.
func (f *fnGen) rowKernel(fn, method string, rows, elems int, args []rowArg) []jen.Code {
	build := func(f *fnGen, ranged bool) jen.Code {
		var cs []jen.Code
		for _, a := range args {
			switch {
			case a.count && ranged:
				cs = append(cs, jen.Id("hi").Op("-").Id("lo"))
			case a.count:
				cs = append(cs, jen.Lit(rows))
			case a.x == nil:
				cs = append(cs, a.lit)
			case a.rowLen > 0 && ranged:
				cs = append(cs, f.ref(a.x).Index(jen.Id("lo").Op("*").Lit(a.rowLen).Op(":").Id("hi").Op("*").Lit(a.rowLen)))
			default:
				cs = append(cs, f.ref(a.x))
			}
		}
		return jen.Id(fn).Call(cs...)
	}
	if rows >= 2 && f.g.splits(elems, parallelMinElems) {
		lf := f.kernelGen()
		body := build(lf, true)
		name := f.g.kernelNames.take(method)
		doc := fmt.Sprintf("%s runs %s over rows [lo, hi) of %d on a thread of the pool.", name, fn, rows)
		if call, ok := f.addParallel(lf, name, rows, []jen.Code{body}, doc); ok {
			return call
		}
	}
	return []jen.Code{build(f, false)}
}

// loopKernel emits the loop nest that computes n over shape (loops'
// arguments; body builds the statements with the fnGen whose slices they
// read): inline, or, when it is large enough, as a Model method named after
// prefix and n that the pool's threads run over ranges of the outermost
// loop.
func (f *fnGen) loopKernel(prefix string, n *graph.Node, shape graph.Shape, flat bool, body func(f *fnGen) func(vars []string, idx string) []jen.Code) []jen.Code {
	if shape.Size() > 1 && f.g.splits(shape.Size(), parallelMinElems) {
		lf := f.kernelGen()
		nest, extent := rangedLoops(shape, flat, body(lf))
		name := f.g.kernelNames.take(prefix + exported(f.nm.name(n)))
		doc := fmt.Sprintf("%s computes %s = %s over [lo, hi) of its\noutermost loop (%d), on a thread of the pool.", name, f.nm.name(n), f.math(n, 0), extent)
		if call, ok := f.addParallel(lf, name, extent, []jen.Code{nest}, doc); ok {
			return call
		}
	}
	return []jen.Code{loops(shape, flat, body(f))}
}

// splitsByCols reports whether the product n, when its pool has several
// threads, is cut into bands of columns of its output (kernels.Gemm cuts C
// into columns when it is at least as wide as tall, rows otherwise; see
// kernels.UseParallel for whether it splits at all). The loop after such a
// product splits by the same columns (colRangedLoops), so each thread
// finishes the columns its core just computed instead of half of the
// other core's: the pool gives thread t the same share, columns
// [n·t/threads, n·(t+1)/threads), of both kernels. Options.ParallelAll
// makes every product count, so that tests run the column kernels on small
// models.
func (g *gen) splitsByCols(n *graph.Node) bool {
	if !g.usesPool || n.Op != graph.OpMatMul || g.bf16Product(n) {
		return false // GemmBF16 has no GemmThen: its loop after splits by rows
	}
	ta, tb, m, nn, k := matmulDims(n)
	if os := n.Type.Shape; graph.Shape(os[:len(os)-2]).Size() != 1 && !flatBatch(n) {
		return false // a batch of matrices splits by matrix
	}
	if m*nn*k <= inlineMaxWork || nn < m {
		return false
	}
	if g.parallelAll {
		return true
	}
	if g.T == "float32" {
		return kernels.UseParallel[float32](ta, tb, m, nn, k)
	}
	return kernels.UseParallel[float64](ta, tb, m, nn, k)
}

// colRangedLoops is loops over shape whose innermost loop, over the last
// axis, runs over [lo, hi) instead of its whole extent: the body of a
// kernel that the pool's threads run over ranges of columns.
func colRangedLoops(shape graph.Shape, body func(vars []string, idx string) []jen.Code) jen.Code {
	r := shape.Rank()
	vars := make([]string, r)
	for d := range vars {
		vars[d] = loopVar(d)
	}
	code := jen.For(jen.Id(vars[r-1]).Op(":=").Id("lo").Op(";").Id(vars[r-1]).Op("<").Id("hi").Op(";").Id(vars[r-1]).Op("++")).Block(body(vars, "")...)
	for d := r - 2; d >= 0; d-- {
		if shape[d] != 1 { // a loop of one: index terms for this axis are omitted anyway
			code = jen.For(jen.Id(vars[d]).Op(":=").Range().Lit(shape[d])).Block(code)
		}
	}
	return code
}

// splitUpdate emits an optimizer's update of the parameter p: pre, then the
// vector call (a row kernel such as sgdRow32, elementwise over p and its
// state) that call builds from view, which slices an operand of p's shape
// to the part being updated. A large parameter is updated on the pool's
// threads, each over a contiguous range of rows, which is where a weight
// gradient Xᵀ·dY with more rows than columns was computed (Gemm splits it
// by rows; the schedule gives thread t the same share of both). Splitting
// by columns instead, where Gemm does, measured slower: a call per row of
// each range costs more than the cache lines it keeps local. Elementwise,
// so the result is the same however it is cut.
func (f *fnGen) splitUpdate(p *graph.Node, method string, build func(f *fnGen, view func(x *graph.Node) jen.Code) (pre []jen.Code, call jen.Code)) []jen.Code {
	shape := p.Type.Shape
	size := shape.Size()
	cols := 1
	if shape.Rank() >= 2 {
		cols = shape[shape.Rank()-1]
	}
	rows := size / cols
	if rows == 1 {
		rows, cols = size, 1
	}
	if size >= 2 && f.g.splits(size, parallelMinElems) {
		lf := f.kernelGen()
		pre, call := build(lf, func(x *graph.Node) jen.Code {
			if cols == 1 {
				return lf.ref(x).Index(jen.Id("lo").Op(":").Id("hi"))
			}
			return lf.ref(x).Index(jen.Id("lo").Op("*").Lit(cols).Op(":").Id("hi").Op("*").Lit(cols))
		})
		body := append(pre, call)
		name := f.g.kernelNames.take(method + exported(f.nm.name(p)))
		doc := fmt.Sprintf("%s updates %s over rows [lo, hi) of %d on a thread of the pool.", name, f.nm.name(p), rows)
		if call, ok := f.addParallel(lf, name, rows, body, doc); ok {
			return call
		}
	}
	pre, call := build(f, func(x *graph.Node) jen.Code { return f.ref(x) })
	if len(pre) == 0 {
		return []jen.Code{call}
	}
	return []jen.Code{jen.Block(append(pre, call)...)}
}
