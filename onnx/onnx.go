// Package onnx imports ONNX models (opsets 6 to 17; ModelProto through the
// official schema, see internal/onnxpb) into mlc's graph IR.
//
// Mapping, in short (docs/onnx.md has the details and the conformance table):
//
//   - A float initializer becomes a Param named exactly as in the file, its
//     initial values the stored weights (init "values"), so training starts
//     from the exported model. Integer and bool initializers, float ones
//     named in Options.Constants, holding an infinity or NaN (additive
//     masks) or read only by comparisons (a tril buffer compared with 0:
//     nothing could train it), and BatchNormalization's running statistics
//     are constants.
//   - A graph input that is not an initializer becomes an Input of the same
//     name; outputs keep their names. The IR keeps names as they are (codegen
//     turns them into Go identifiers itself), so nothing is renamed.
//   - Every float type (float, double, float16, bfloat16) becomes the one
//     float dtype Options.Float; integer types become i32 at run time (int64
//     while folded at import); bool stays bool.
//   - Shapes are static. A symbolic dimension (dim_param) must be bound in
//     Options.Dims; an unbound one is an error naming it.
//   - Whatever is known at import is folded there: Shape, Size,
//     ConstantOfShape, Range and integer arithmetic on shapes, and data
//     movement of constants (Reshape, Gather, Concat, Slice, …).
//   - An op, attribute or attribute value the importer does not handle is a
//     one-line error naming the node, the op and the attribute.
package onnx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// Options control an import.
type Options struct {
	// Dims binds symbolic dimensions by name, e.g. {"batch": 1}.
	Dims map[string]int
	// Float is the float dtype of the graph: graph.F32 or graph.F64. The
	// default is f64 when every float input and initializer is double, else f32.
	Float graph.DType
	// Frozen gives graph inputs fixed values: they become constants, folded
	// at import, so that inputs a model uses as shapes, axes or scales
	// (see NeedConstError) can be fixed. They are not inputs of the graph.
	Frozen map[string]*Tensor
	// Constants names float initializers that are not trained (buffers
	// such as masks or statistics that ONNX does not tell from weights).
	// Initializers holding an infinity or NaN are constants without being
	// named.
	Constants []string
}

// Model is an imported ONNX model.
type Model struct {
	Name   string
	Source string // the file it came from, as given to Load
	Float  graph.DType
	// Graph is the eval (inference) graph: inputs, parameters carrying the
	// file's weights, outputs named as in the file.
	Graph *graph.Graph
	// Dims lists the symbolic dimensions the inputs use, sorted, with the
	// values they were bound to.
	Dims []Dim
	// OpsetVersion is the default-domain opset the model imports.
	OpsetVersion int64
	// Inputs and Outputs name the file's graph inputs (initializers
	// excluded; frozen ones included, though they are not inputs of Graph)
	// and outputs, in the file's order.
	Inputs, Outputs []string
}

// Dim is a symbolic dimension and its binding.
type Dim struct {
	Name  string
	Value int
}

// Load imports the ONNX model in path; external weight files are read
// relative to its directory.
func Load(path string, opts Options) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %v", err)
	}
	m, err := Parse(data, filepath.Dir(path), filepath.Base(path), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Source = path
	return m, nil
}

// Parse imports a serialized ModelProto. dir is where external data files
// are looked up ("" refuses them); source names the model in positions.
func Parse(data []byte, dir, source string, opts Options) (m *Model, err error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %v", err)
	}
	if recoverPanics {
		defer func() {
			if r := recover(); r != nil { // a bug, but a bad file must not crash the caller
				m, err = nil, fmt.Errorf("internal error importing %s: %v", source, r)
			}
		}()
	}
	return importModel(&mp, dir, source, opts)
}

func readModel(path string) (*onnxpb.ModelProto, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %v", err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("%s: not an ONNX model: %v", path, err)
	}
	return &mp, nil
}

// InputNames lists the graph inputs of the model in path that are not
// initializers, in the file's order (the order of ONNX test data files).
func InputNames(path string) ([]string, error) {
	mp, err := readModel(path)
	if err != nil {
		return nil, err
	}
	inits := map[string]bool{}
	for _, t := range mp.GetGraph().GetInitializer() {
		inits[t.GetName()] = true
	}
	var out []string
	for _, vi := range mp.GetGraph().GetInput() {
		if !inits[vi.GetName()] {
			out = append(out, vi.GetName())
		}
	}
	return out, nil
}

// recoverPanics turns a panic while importing into an error; the fuzz
// test turns it off so that it sees them.
var recoverPanics = true

// SymbolicDims lists the symbolic dimension names the inputs of the model in
// path use, so that a caller can ask for their values before Load.
func SymbolicDims(path string) ([]string, error) {
	mp, err := readModel(path)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, vi := range mp.GetGraph().GetInput() {
		for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
			if p, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimParam); ok && !seen[p.DimParam] {
				seen[p.DimParam] = true
				out = append(out, p.DimParam)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// value is an ONNX tensor during import: an IR node, a constant known at
// import, or both (a Param carries its initial values as c).
type value struct {
	name  string
	node  *graph.Node
	c     *constant
	param bool // node is a Param; c is only its initial value
	// missing, when set, says why the value is not available (an optional
	// output the importer does not compute); reading it is an error.
	missing string
}

func (v *value) shape() []int {
	if v.node != nil {
		return v.node.Type.Shape
	}
	return v.c.shape
}

func (v *value) kind() kind {
	if v.c != nil {
		return v.c.kind
	}
	switch v.node.Type.DType {
	case graph.I32:
		return kInt
	case graph.Bool:
		return kBool
	}
	return kFloat
}

// known reports whether v is a constant that may be folded (not a Param,
// whose value training changes).
func (v *value) known() bool { return v != nil && v.c != nil && !v.param }

type importer struct {
	g      *graph.Graph
	float  graph.DType
	opset  int64
	dir    string
	source string
	vals   map[string]*value
	node   *onnxpb.NodeProto // the node being converted, for errors
	index  int
}

// nodeError is a failure converting one node.
type nodeError struct {
	node, op string
	err      error
}

func (e *nodeError) Error() string {
	return fmt.Sprintf("node %q (%s): %v", e.node, e.op, e.err)
}

func (e *nodeError) Unwrap() error { return e.err }

// ErrUnsupported marks errors for ops, attributes or types the importer
// does not handle (as opposed to broken files).
var ErrUnsupported = errors.New("not supported")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// nodeName names node i of a graph in errors: its name, or #i.
func nodeName(nd *onnxpb.NodeProto, i int) string {
	if nd.GetName() != "" {
		return nd.GetName()
	}
	return fmt.Sprintf("#%d", i)
}

func importModel(mp *onnxpb.ModelProto, dir, source string, opts Options) (*Model, error) {
	gp := mp.GetGraph()
	if gp == nil {
		return nil, fmt.Errorf("the model has no graph")
	}
	opset := int64(-1)
	for _, o := range mp.GetOpsetImport() {
		switch o.GetDomain() {
		case "", "ai.onnx":
			opset = o.GetVersion()
		}
	}
	if opset < 0 {
		if len(mp.GetOpsetImport()) > 0 {
			return nil, unsupported("the model imports no default-domain opset")
		}
		opset = 1
	}
	if len(mp.GetFunctions()) > 0 {
		return nil, unsupported("model-local functions")
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, unsupported("sparse initializers")
	}
	name := gp.GetName()
	if name == "" {
		name = strings.TrimSuffix(source, filepath.Ext(source))
	}
	if name == "" {
		name = "onnx"
	}
	float := opts.Float
	if float == graph.Invalid {
		float = defaultFloat(gp)
	}
	if !float.IsFloat() {
		return nil, fmt.Errorf("options: float dtype must be f32 or f64, got %s", float)
	}
	im := &importer{g: graph.New(name, source), float: float, opset: opset, dir: dir, source: source, vals: map[string]*value{}}
	m := &Model{Name: name, Float: float, OpsetVersion: opset}

	// An op the importer lacks is the error, whatever else is wrong.
	for i, nd := range gp.GetNode() {
		if err := knownOp(nd); err != nil {
			return nil, &nodeError{node: nodeName(nd, i), op: nd.GetOpType(), err: err}
		}
	}

	inits := map[string]bool{}
	masks := onlyCompared(gp)
	for _, t := range gp.GetInitializer() {
		if t.GetName() == "" {
			return nil, fmt.Errorf("an initializer has no name")
		}
		if inits[t.GetName()] {
			return nil, fmt.Errorf("initializer %q appears twice", t.GetName())
		}
		inits[t.GetName()] = true
		c, err := decodeTensor(t, dir)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.GetName(), err)
		}
		v := &value{name: t.GetName(), c: c}
		if c.kind == kFloat && !slices.Contains(opts.Constants, t.GetName()) && allFinite(c.f) && !masks[t.GetName()] {
			if _, err := checkedSize(c.shape, maxElems); err != nil {
				return nil, fmt.Errorf("initializer %q: %w", t.GetName(), err)
			}
			n, err := im.g.Leaf(graph.OpParam, t.GetName(), graph.Type{DType: float, Shape: graph.Shape(c.shape).Clone()},
				graph.Attrs{Init: "values", Data: roundTo(float, c.f)})
			if err != nil {
				return nil, fmt.Errorf("initializer %q: %w", t.GetName(), err)
			}
			n.Pos = graph.Pos{File: source}
			v.node, v.param = n, true
		}
		im.vals[v.name] = v
	}

	dimSeen := map[string]bool{}
	for _, vi := range gp.GetInput() {
		if inits[vi.GetName()] {
			continue // an initializer listed as an input (IR < 4): a parameter with a default
		}
		if vi.GetName() == "" {
			return nil, fmt.Errorf("a graph input has no name")
		}
		if _, dup := im.vals[vi.GetName()]; dup {
			return nil, fmt.Errorf("graph input %q appears twice", vi.GetName())
		}
		tt := vi.GetType().GetTensorType()
		if tt == nil {
			return nil, unsupported("graph input %q is not a tensor", vi.GetName())
		}
		k, err := elemKind(tt.GetElemType())
		if err != nil {
			return nil, fmt.Errorf("graph input %q: %w", vi.GetName(), err)
		}
		if ft, ok := opts.Frozen[vi.GetName()]; ok {
			c, err := frozenConstant(ft, k)
			if err != nil {
				return nil, fmt.Errorf("frozen input %q: %w", vi.GetName(), err)
			}
			im.vals[vi.GetName()] = &value{name: vi.GetName(), c: im.roundFloat(c)}
			m.Inputs = append(m.Inputs, vi.GetName())
			continue
		}
		if tt.GetShape() == nil {
			return nil, fmt.Errorf("graph input %q has no shape; mlc needs static shapes", vi.GetName())
		}
		var shape graph.Shape
		for i, d := range tt.GetShape().GetDim() {
			switch x := d.GetValue().(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				if x.DimValue < 0 || x.DimValue > maxElems {
					return nil, fmt.Errorf("graph input %q: bad dimension %d", vi.GetName(), x.DimValue)
				}
				shape = append(shape, int(x.DimValue))
			case *onnxpb.TensorShapeProto_Dimension_DimParam:
				n, ok := opts.Dims[x.DimParam]
				if !ok {
					return nil, fmt.Errorf("graph input %q: dimension %d is the symbolic %q; bind it (e.g. -config %s=1)", vi.GetName(), i, x.DimParam, x.DimParam)
				}
				if n <= 0 {
					return nil, fmt.Errorf("symbolic dimension %q bound to %d; want a positive size", x.DimParam, n)
				}
				if !dimSeen[x.DimParam] {
					dimSeen[x.DimParam] = true
					m.Dims = append(m.Dims, Dim{Name: x.DimParam, Value: n})
				}
				shape = append(shape, n)
			default:
				return nil, fmt.Errorf("graph input %q: dimension %d is unknown; mlc needs static shapes", vi.GetName(), i)
			}
		}
		if _, err := checkedSize(shape, maxElems); err != nil {
			return nil, fmt.Errorf("graph input %q: %w", vi.GetName(), err)
		}
		dt := map[kind]graph.DType{kFloat: float, kInt: graph.I32, kBool: graph.Bool}[k]
		n, err := im.g.Leaf(graph.OpInput, vi.GetName(), graph.Type{DType: dt, Shape: shape}, graph.Attrs{})
		if err != nil {
			return nil, fmt.Errorf("graph input %q: %w", vi.GetName(), err)
		}
		n.Pos = graph.Pos{File: source}
		im.vals[vi.GetName()] = &value{name: vi.GetName(), node: n}
		m.Inputs = append(m.Inputs, vi.GetName())
	}
	sort.Slice(m.Dims, func(i, j int) bool { return m.Dims[i].Name < m.Dims[j].Name })

	for i, nd := range gp.GetNode() {
		im.node, im.index = nd, i
		if err := im.convert(nd); err != nil {
			return nil, &nodeError{node: nodeName(nd, i), op: nd.GetOpType(), err: err}
		}
	}

	if len(gp.GetOutput()) == 0 {
		return nil, fmt.Errorf("the graph has no outputs")
	}
	for _, vi := range gp.GetOutput() {
		v := im.vals[vi.GetName()]
		if v == nil {
			return nil, fmt.Errorf("graph output %q is not computed by any node", vi.GetName())
		}
		if v.missing != "" {
			return nil, unsupported("graph output %q is %s", vi.GetName(), v.missing)
		}
		if im.g.Output(vi.GetName()) != nil {
			return nil, fmt.Errorf("graph output %q appears twice", vi.GetName())
		}
		n, err := im.nodeOf(v)
		if err != nil {
			return nil, fmt.Errorf("graph output %q: %w", vi.GetName(), err)
		}
		if n.Op == graph.OpInput || n.Op == graph.OpParam || n.Op == graph.OpConst {
			// An output must be a computed value of its own: copy it.
			if n, err = im.copyNode(n); err != nil {
				return nil, fmt.Errorf("graph output %q: %w", vi.GetName(), err)
			}
		}
		if n.Name == "" || n.Role == graph.RoleForward {
			n.Name = vi.GetName()
		}
		im.g.Outputs = append(im.g.Outputs, graph.Output{Name: vi.GetName(), Node: n})
		m.Outputs = append(m.Outputs, vi.GetName())
	}
	fuseGELU(im.g, float)
	fuseCausalMask(im.g)
	// Initializers nothing reads (unused ones, BatchNorm's running
	// statistics, which are constants) are not parameters.
	uses := im.g.Uses()
	im.g.Remove(func(n *graph.Node) bool {
		return n.Op == graph.OpParam && len(uses[n]) == 0 && !slices.ContainsFunc(im.g.Outputs, func(o graph.Output) bool { return o.Node == n })
	})
	if err := graph.Validate(im.g); err != nil {
		return nil, fmt.Errorf("internal error, invalid graph: %w", err)
	}
	m.Graph = im.g
	return m, nil
}

// defaultFloat is f64 when every float input and initializer is double.
func defaultFloat(gp *onnxpb.GraphProto) graph.DType {
	sawDouble, sawOther := false, false
	note := func(dt int32) {
		switch onnxpb.TensorProto_DataType(dt) {
		case onnxpb.TensorProto_DOUBLE:
			sawDouble = true
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
			sawOther = true
		}
	}
	for _, vi := range gp.GetInput() {
		note(vi.GetType().GetTensorType().GetElemType())
	}
	for _, vi := range gp.GetOutput() {
		note(vi.GetType().GetTensorType().GetElemType())
	}
	for _, t := range gp.GetInitializer() {
		note(t.GetDataType())
	}
	if sawDouble && !sawOther {
		return graph.F64
	}
	return graph.F32
}

// roundTo rounds data to float32 precision for an f32 graph, so that the
// interpreter and generated code start from the same numbers.
func roundTo(dt graph.DType, data []float64) []float64 {
	out := make([]float64, len(data))
	for i, v := range data {
		if dt == graph.F32 {
			v = float64(float32(v))
		}
		out[i] = v
	}
	return out
}

// WithLoss returns a training graph: a copy of the eval graph with a loss on
// the named output (the first output when output is ""). kind is
// cross_entropy (the output holds logits [..., C]; the target is an i32
// input of class ids [...]), mse or bce_with_logits (targets of the
// output's shape and float dtype). The target is a new input named
// "<output>_target"; the loss is the mean over all positions.
func (m *Model) WithLoss(kind, output string) (*graph.Graph, error) {
	g := m.Graph.Clone()
	if output == "" {
		output = g.Results()[0].Name
	}
	out := g.Output(output)
	if out == nil {
		var names []string
		for _, o := range g.Results() {
			names = append(names, o.Name)
		}
		return nil, fmt.Errorf("%s: no output %q (outputs: %s)", m.Name, output, strings.Join(names, ", "))
	}
	if !out.Type.DType.IsFloat() {
		return nil, fmt.Errorf("%s: output %q is %s; a loss needs a float output", m.Name, output, out.Type)
	}
	tname := output + "_target"
	if slices.ContainsFunc(g.Nodes, func(n *graph.Node) bool { return n.Name == tname && (n.Op == graph.OpInput || n.IsVariable()) }) {
		return nil, fmt.Errorf("%s: the model already has a value named %q", m.Name, tname)
	}
	var op graph.Op
	tt := out.Type
	switch kind {
	case "cross_entropy":
		op = graph.OpCrossEntropy
		if tt.Shape.Rank() == 0 {
			return nil, fmt.Errorf("%s: cross_entropy needs logits with a class axis, output %q is %s", m.Name, output, tt)
		}
		tt = graph.Type{DType: graph.I32, Shape: tt.Shape[:tt.Shape.Rank()-1].Clone()}
	case "mse":
		op = graph.OpMSE
	case "bce_with_logits":
		op = graph.OpBCEWithLogits
	default:
		return nil, fmt.Errorf("unknown loss %q (want cross_entropy, mse or bce_with_logits)", kind)
	}
	target, err := g.Leaf(graph.OpInput, tname, tt, graph.Attrs{})
	if err != nil {
		return nil, err
	}
	target.Pos = graph.Pos{File: m.Source}
	loss, err := g.Apply(op, graph.Attrs{Reduce: "mean"}, out, target)
	if err != nil {
		return nil, fmt.Errorf("%s: loss %s on %q: %w", m.Name, kind, output, err)
	}
	loss.Name = "loss"
	loss.Pos = graph.Pos{File: m.Source}
	g.Loss = loss
	if err := graph.Validate(g); err != nil {
		return nil, fmt.Errorf("%s: internal error, invalid training graph: %w", m.Name, err)
	}
	return g, nil
}

// frozenConstant converts a caller's tensor for an input of kind k.
func frozenConstant(t *Tensor, k kind) (*constant, error) {
	if t == nil {
		return nil, fmt.Errorf("no value")
	}
	n, err := checkedSize(t.Shape, maxConstElems)
	if err != nil {
		return nil, err
	}
	if n != len(t.Data) {
		return nil, fmt.Errorf("shape %v needs %d values, got %d", t.Shape, n, len(t.Data))
	}
	c, err := newConstant(k, t.Shape)
	if err != nil {
		return nil, err
	}
	for j, v := range t.Data {
		switch k {
		case kInt:
			if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
				return nil, fmt.Errorf("value %v is not an integer", v)
			}
			c.i[j] = int64(v)
		case kBool:
			c.f[j] = b2f(v != 0)
		default:
			c.f[j] = v
		}
	}
	return c, nil
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return false
		}
	}
	return true
}

// onlyCompared names the float initializers whose values reach nothing but
// comparisons (through data movement: Slice, Reshape, Unsqueeze, …), such as
// nanoGPT's causal mask buffer, tril(ones), read as mask == 0. No gradient
// flows through a comparison, so they are buffers, not weights: the
// importer makes them constants, which folds the mask at import.
func onlyCompared(gp *onnxpb.GraphProto) map[string]bool {
	users := map[string][]*onnxpb.NodeProto{}
	for _, nd := range gp.GetNode() {
		for _, in := range nd.GetInput() {
			users[in] = append(users[in], nd)
		}
	}
	outputs := map[string]bool{}
	for _, o := range gp.GetOutput() {
		outputs[o.GetName()] = true
	}
	var compared func(name string, depth int) bool
	compared = func(name string, depth int) bool {
		if outputs[name] || len(users[name]) == 0 || depth > 8 {
			return false
		}
		for _, nd := range users[name] {
			switch nd.GetOpType() {
			case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual":
			case "Slice", "Reshape", "Unsqueeze", "Squeeze", "Expand", "Transpose", "Identity", "Flatten":
				if len(nd.GetInput()) == 0 || nd.GetInput()[0] != name {
					continue // read as a shape or an index, not as data
				}
				for _, out := range nd.GetOutput() {
					if !compared(out, depth+1) {
						return false
					}
				}
			default:
				return false
			}
		}
		return true
	}
	masks := map[string]bool{}
	for _, t := range gp.GetInitializer() {
		if compared(t.GetName(), 0) {
			masks[t.GetName()] = true
		}
	}
	return masks
}
