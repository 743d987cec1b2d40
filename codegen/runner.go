package codegen

import (
	"bytes"
	"fmt"
	"go/format"
	"strings"
	"text/template"

	"github.com/mlc-dev/mlc/graph"
)

// Runner returns the source of a main package that drives a generated model
// package (imported as pkgPath) over a JSON protocol on stdin and stdout: mlc
// run -engine gen and the engine-equivalence tests use it. It reads
//
//	{"params": {name: tensor}, "inputs": {name: tensor}, "loss": bool, "grads": bool}
//
// and prints the same JSON as mlc run -engine interp.
func Runner(prog *graph.Program, pkgPath string) ([]byte, error) {
	return RunnerWith(prog, pkgPath, RunnerOptions{})
}

// RunnerOptions vary the runner.
type RunnerOptions struct {
	// Dist makes the runner one rank of a data-parallel job under mpirun:
	// it imports github.com/mlc-dev/mlc/dist (build it with -tags mpi),
	// starts MPI, and then
	//
	//	{"cmd": "dist", "parts": [{"name": …, "data": …}]}
	//
	// checks that every rank passes the same parts (dist.Comm.Check) and
	// makes rank 0's parameters, optimizer state and dropout state every
	// rank's; "step" runs Backward, the mean of the gradients over the
	// ranks, and Update, reports the loss averaged over the ranks, and
	// sets "stop" when any rank's request did (an interruption that every
	// rank must agree on). The model package itself stays stdlib-only.
	Dist bool
}

// RunnerWith is Runner with options.
func RunnerWith(prog *graph.Program, pkgPath string, o RunnerOptions) ([]byte, error) {
	data := runnerData{Pkg: pkgPath, T: "float64", Dist: o.Dist && prog.Train != nil}
	inVars := varNames("in", []*graph.Graph{prog.Predict, prog.Train}, inputNames)
	outVars := varNames("out", []*graph.Graph{prog.Predict}, func(g *graph.Graph) []string {
		var names []string
		for _, o := range g.Results() {
			names = append(names, o.Name)
		}
		return names
	})
	if prog.Float == graph.F32 {
		data.T = "float32"
	}
	conv := func(g *graph.Graph) []runnerInput {
		var ins []runnerInput
		for _, n := range g.Inputs() {
			fn := "floats"
			switch n.Type.DType {
			case graph.I32:
				fn = "ids"
			case graph.Bool:
				fn = "masks"
			}
			ins = append(ins, runnerInput{Name: n.Name, Var: inVars[n.Name], Fn: fn, Size: n.Type.Shape.Size()})
		}
		return ins
	}
	data.PredictIn = conv(prog.Predict)
	if prog.Decode != nil {
		data.Decode = true
		ids := prog.Predict.Find(prog.Decode.Inputs()[0].Name) // the decoder's token ids
		for _, in := range data.PredictIn {
			if in.Name == ids.Name {
				data.DecodeIDs = in.Var
			} else {
				data.DecodeContext = append(data.DecodeContext, in) // an encoder-decoder's source
			}
		}
		full := ids.Type.Shape
		data.Ctx = full[len(full)-1]
		data.Rows = full.Size() / data.Ctx
		for _, o := range prog.Predict.Results() {
			one := prog.Decode.Output(o.Name).Type.Shape
			sh := o.Node.Type.Shape
			ax := seqAxis(sh, one)
			data.DecodeOuts = append(data.DecodeOuts, decodeOut{Name: o.Name, Var: outVars[o.Name], Shape: shapeLit(sh),
				Type:  map[graph.DType]string{graph.I32: "int32", graph.Bool: "bool"}[o.Node.Type.DType],
				Outer: graph.Shape(sh[:ax]).Size(), Inner: graph.Shape(sh[ax+1:]).Size()})
			if data.DecodeOuts[len(data.DecodeOuts)-1].Type == "" {
				data.DecodeOuts[len(data.DecodeOuts)-1].Type = data.T
			}
		}
		data.LM, _, data.Vocab = lmShape(prog)
		if !data.LM {
			data.S2S, _, data.Vocab, _ = s2sShape(prog)
		}
	}
	seen := map[string]bool{}
	for _, in := range data.PredictIn {
		seen[in.Name] = true
		data.AllIn = append(data.AllIn, in)
	}
	for _, o := range prog.Predict.Taps() {
		data.Taps = append(data.Taps, runnerOutput{Name: o.Name, Shape: shapeLit(o.Node.Type.Shape)})
	}
	for _, o := range prog.Predict.Results() {
		data.Outputs = append(data.Outputs, runnerOutput{Name: o.Name, Var: outVars[o.Name], Shape: shapeLit(o.Node.Type.Shape)})
	}
	if small := prog.PredictSmall; small != nil {
		data.SmallIn = conv(small)
		for _, o := range small.Results() {
			data.SmallOutputs = append(data.SmallOutputs, runnerOutput{Name: o.Name, Var: outVars[o.Name], Shape: shapeLit(o.Node.Type.Shape)})
		}
	}
	for _, g := range []*graph.Graph{prog.Predict, prog.Train} { // the caches of decoding are not State()
		data.HasState = data.HasState || g != nil && len(g.NodesWithOp(graph.OpState)) > 0
	}
	if prog.Train != nil {
		data.HasTrain = true
		data.TrainIn = conv(prog.Train)
		for _, in := range data.TrainIn {
			if !seen[in.Name] {
				seen[in.Name] = true
				data.AllIn = append(data.AllIn, in)
			}
		}
	}
	var buf bytes.Buffer
	if err := runnerTmpl.Execute(&buf, data); err != nil {
		return nil, err
	}
	src, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("codegen: runner: %v\n%s", err, buf.String())
	}
	return src, nil
}

type runnerInput struct {
	Name, Var, Fn string
	Size          int
}

type runnerOutput struct{ Name, Var, Shape string }

// decodeOut is a Predict output the runner assembles position by position
// from Prefill and DecodeStep: outer × ctx × inner around the sequence axis.
type decodeOut struct {
	Name, Var, Shape, Type string
	Outer, Inner           int
}

// seqAxis is the sequence axis of a full-forward output: where its shape
// differs from the one-position output's.
func seqAxis(full, one graph.Shape) int {
	for i := range full {
		if full[i] != one[i] {
			return i
		}
	}
	return len(full) - 1
}

type runnerData struct {
	Pkg, T             string
	PredictIn, TrainIn []runnerInput
	AllIn              []runnerInput
	Outputs            []runnerOutput
	Taps               []runnerOutput
	HasTrain           bool
	HasState           bool
	// Decode: KV-cache entry points; Rows sequences of Ctx positions.
	Decode     bool
	Rows, Ctx  int
	DecodeOuts []decodeOut
	// DecodeIDs is the variable of the decoder's ids; DecodeContext are the
	// other inputs Prefill reads whole (an encoder-decoder's source).
	DecodeIDs     string
	DecodeContext []runnerInput
	// LM: a causal language model with one i32 input [1, Ctx] and an output
	// "logits" [1, Ctx, Vocab]; the runner can generate text with it.
	LM    bool
	Vocab int
	// S2S: a one-sequence encoder-decoder; the runner generates the output
	// for a source (Generate(src, tokens, n, emit)).
	S2S bool
	// SmallIn and SmallOutputs are Predict's at the smaller batch
	// (graph.Program.PredictSmall), nil without one.
	SmallIn      []runnerInput
	SmallOutputs []runnerOutput
	// Dist: a rank of a data-parallel job (RunnerOptions.Dist).
	Dist bool
}

func shapeLit(s graph.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[]int{" + strings.Join(parts, ", ") + "}"
}

// CtxArgs lists the context inputs' variables, each followed by ", ".
func (d runnerData) CtxArgs() string {
	var s string
	for _, in := range d.DecodeContext {
		s += in.Var + ", "
	}
	return s
}

// CtxParams declares the context inputs as parameters, each followed by ", ".
func (d runnerData) CtxParams() string {
	var s string
	for _, in := range d.DecodeContext {
		s += in.Var + " []int32, "
	}
	return s
}

func (d runnerData) Args(ins []runnerInput) string {
	vars := make([]string, len(ins))
	for i, in := range ins {
		vars[i] = in.Var
	}
	return strings.Join(vars, ", ")
}

var runnerTmpl = template.Must(template.New("runner").Parse(`// Command runner drives a model package generated by mlc over JSON.
package main

import (
	"bufio"
{{if .Dist}}	"encoding/binary"
{{end}}	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"time"
{{if .Dist}}	"unsafe"

	"github.com/mlc-dev/mlc/dist"
{{end}}
	model "{{.Pkg}}"
)

type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsInf(v, 1):
		return []byte(` + "`" + `"inf"` + "`" + `), nil
	case math.IsInf(v, -1):
		return []byte(` + "`" + `"-inf"` + "`" + `), nil
	case math.IsNaN(v):
		return []byte(` + "`" + `"nan"` + "`" + `), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "inf":
			*f = jsonFloat(math.Inf(1))
		case "-inf":
			*f = jsonFloat(math.Inf(-1))
		case "nan":
			*f = jsonFloat(math.NaN())
		default:
			return fmt.Errorf("bad number %q", s)
		}
		return nil
	}
	var v float64
	err := json.Unmarshal(b, &v)
	*f = jsonFloat(v)
	return err
}

type tensor struct {
	Shape []int       ` + "`json:\"shape\"`" + `
	Data  []jsonFloat ` + "`json:\"data\"`" + `
}

type request struct {
	Cmd    string            ` + "`json:\"cmd\"`" + `
	Params map[string]tensor ` + "`json:\"params\"`" + `
	State  map[string]tensor ` + "`json:\"state\"`" + `
	RNG    string            ` + "`json:\"rng\"`" + `
	Inputs map[string]tensor ` + "`json:\"inputs\"`" + `
	Loss   bool              ` + "`json:\"loss\"`" + `
	Grads  bool              ` + "`json:\"grads\"`" + `
	Steps  int               ` + "`json:\"steps\"`" + `
	Trace  bool              ` + "`json:\"trace\"`" + `
	Check  bool              ` + "`json:\"check\"`" + `
	// generate: the prompt's token ids, how many tokens to add, sampling.
	Prompt      []int32 ` + "`json:\"prompt\"`" + `
	N           int     ` + "`json:\"n\"`" + `
	Temperature float64 ` + "`json:\"temperature\"`" + `
	TopK        int     ` + "`json:\"top_k\"`" + `
	TopP        float64 ` + "`json:\"top_p\"`" + `
	Seed        uint64  ` + "`json:\"seed\"`" + `
	NoCache     bool    ` + "`json:\"no_cache\"`" + `
	// StopToken ends generation, done, after this token (nil: none);
	// Source is an encoder-decoder's source ids.
	StopToken *int32  ` + "`json:\"stop_token\"`" + `
	Source    []int32 ` + "`json:\"source\"`" + `
	// phase "decode": Predict's outputs computed by Prefill on the first
	// Prefill positions and DecodeStep on each later one.
	Phase   string ` + "`json:\"phase\"`" + `
	Prefill int    ` + "`json:\"prefill\"`" + `
	// bench: N calls of the entry point Entry.
	Entry string ` + "`json:\"entry\"`" + `
{{if .Dist}}	// dist: the parts every rank must agree on; step: this rank was
	// interrupted.
	Parts []distPart ` + "`json:\"parts\"`" + `
	Stop  bool       ` + "`json:\"stop\"`" + `
{{end}}}

// benchResult is the cost of N calls: total nanoseconds, heap allocations
// and bytes allocated.
type benchResult struct {
	N      int    ` + "`json:\"n\"`" + `
	Ns     int64  ` + "`json:\"ns\"`" + `
	Allocs uint64 ` + "`json:\"allocs\"`" + `
	Bytes  uint64 ` + "`json:\"bytes\"`" + `
}

// measure runs run once to warm up, then n times, timing the n calls and
// counting their allocations.
func measure(run func() error, n int) (*result, error) {
	if err := run(); err != nil {
		return nil, err
	}
	n = max(n, 1)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		if err := run(); err != nil {
			return nil, err
		}
	}
	ns := time.Since(start).Nanoseconds()
	runtime.ReadMemStats(&after)
	return &result{Bench: &benchResult{N: n, Ns: ns, Allocs: after.Mallocs - before.Mallocs, Bytes: after.TotalAlloc - before.TotalAlloc}}, nil
}

type result struct {
	Outputs map[string]tensor   ` + "`json:\"outputs,omitempty\"`" + `
	Taps    map[string]tensor   ` + "`json:\"taps,omitempty\"`" + `
	Loss    *jsonFloat          ` + "`json:\"loss,omitempty\"`" + `
	Grads   map[string]tensor   ` + "`json:\"grads,omitempty\"`" + `
	Params  map[string]tensor   ` + "`json:\"params,omitempty\"`" + `
	Losses  []jsonFloat         ` + "`json:\"losses,omitempty\"`" + `
	GradNorm *jsonFloat         ` + "`json:\"grad_norm,omitempty\"`" + `
	Diverged bool               ` + "`json:\"diverged,omitempty\"`" + `
	Trace   []map[string]tensor ` + "`json:\"trace,omitempty\"`" + `
	State   map[string]tensor   ` + "`json:\"state,omitempty\"`" + `
	RNG     string              ` + "`json:\"rng,omitempty\"`" + `
	Error   string              ` + "`json:\"error,omitempty\"`" + `
	Token   *int32              ` + "`json:\"token,omitempty\"`" + `
	Done    bool                ` + "`json:\"done,omitempty\"`" + `
	Bench   *benchResult        ` + "`json:\"bench,omitempty\"`" + `
{{if .Dist}}	Stop    bool                ` + "`json:\"stop,omitempty\"`" + `
	// The time these steps spent in the all-reduces (waiting for the
	// other ranks included) and the bytes each step all-reduced.
	CommNs    int64 ` + "`json:\"comm_ns,omitempty\"`" + `
	CommBytes int64 ` + "`json:\"comm_bytes,omitempty\"`" + `
{{end}}}

// errMissing marks an input the request left out: Predict does without
// the training inputs.
var errMissing = errors.New("missing")

func input(in map[string]tensor, name string, size int) ([]jsonFloat, error) {
	t, ok := in[name]
	if !ok {
		return nil, fmt.Errorf("input %q is %w", name, errMissing)
	}
	if len(t.Data) != size {
		return nil, fmt.Errorf("input %q has %d values, want %d", name, len(t.Data), size)
	}
	return t.Data, nil
}

func floats(in map[string]tensor, name string, size int) ([]{{.T}}, error) {
	d, err := input(in, name, size)
	out := make([]{{.T}}, len(d))
	for i, v := range d {
		out[i] = {{.T}}(v)
	}
	return out, err
}

func ids(in map[string]tensor, name string, size int) ([]int32, error) {
	d, err := input(in, name, size)
	out := make([]int32, len(d))
	for i, v := range d {
		x := float64(v)
		if x != math.Trunc(x) || x < math.MinInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("input %q: value %s at index %d is not a 32-bit integer id", name, strconv.FormatFloat(x, 'f', -1, 64), i)
		}
		out[i] = int32(x)
	}
	return out, err
}

func masks(in map[string]tensor, name string, size int) ([]bool, error) {
	d, err := input(in, name, size)
	out := make([]bool, len(d))
	for i, v := range d {
		out[i] = v != 0
	}
	return out, err
}

func toTensor[T {{.T}} | int32 | bool](data []T, shape []int) tensor {
	t := tensor{Shape: shape, Data: make([]jsonFloat, len(data))}
	for i, v := range data {
		switch x := any(v).(type) {
		case bool:
			if x {
				t.Data[i] = 1
			}
		case int32:
			t.Data[i] = jsonFloat(x)
		case {{.T}}:
			t.Data[i] = jsonFloat(x)
		}
	}
	return t
}

// main serves requests, one JSON object per line, until stdin ends: mlc
// run sends one; mlc train keeps the process and sends a batch per step.
func main() {
	seed := flag.Uint64("seed", 0, "seed of the model's random initialisers and dropout")
	flag.Parse()
	m := model.NewSeeded(*seed)
{{if .Dist}}	comm, err := dist.Init(dist.Options{Require: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ranks = newDistState(comm, m)
{{end}}	dec := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 1<<20))
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for {
		var req request
		if err := dec.Decode(&req); err == io.EOF {
{{if .Dist}}			if err := comm.Finalize(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
{{end}}			return
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "reading request:", err)
			os.Exit(1)
		}
		emit := func(r *result) {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			out.Flush()
		}
		res, err := serve(m, &req, emit)
		if err != nil {
			res = &result{Error: err.Error()}
		}
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out.Flush()
	}
}

// gradNorm is the global gradient norm √Σg².
func gradNorm(ts []model.Tensor) float64 {
	sum := 0.0
	for _, t := range ts {
		for _, v := range t.Data {
			sum += float64(v) * float64(v)
		}
	}
	return math.Sqrt(sum)
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func setAll(ts []model.Tensor, src map[string]tensor, what string) error {
	for _, p := range ts {
		t, ok := src[p.Name]
		if !ok {
			continue
		}
		if len(t.Data) != len(p.Data) {
			return fmt.Errorf("%s %q has %d values, want %d", what, p.Name, len(t.Data), len(p.Data))
		}
		for i, v := range t.Data {
			p.Data[i] = {{.T}}(v)
		}
	}
	return nil
}

func getAll(ts []model.Tensor) map[string]tensor {
	out := map[string]tensor{}
	for _, p := range ts {
		out[p.Name] = toTensor(p.Data, p.Shape)
	}
	return out
}

func serve(m *model.Model, req *request, emit func(*result)) (*result, error) {
	if err := setAll(m.Params(), req.Params, "parameter"); err != nil {
		return nil, err
	}
{{if .HasState}}	if err := setAll(m.State(), req.State, "state"); err != nil {
		return nil, err
	}
{{end}}	if req.RNG != "" {
		s, err := strconv.ParseUint(req.RNG, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad rng state %q", req.RNG)
		}
		m.SetRNGState(s)
	}
	res := &result{}
	switch req.Cmd {
	case "set":
		return res, nil
{{if or .LM .S2S}}	case "generate":
		return generate(m, req, emit)
{{end}}
{{if .Dist}}	case "dist":
		return res, ranks.start(m, req.Parts)
{{end}}	case "get":
		res.Params = getAll(m.Params())
{{if .HasState}}		res.State = getAll(m.State())
{{end}}		res.RNG = strconv.FormatUint(m.RNGState(), 10)
		return res, nil
	}
{{if .SmallIn}}{{$first := index .SmallIn 0}}	if t, ok := req.Inputs[{{printf "%q" $first.Name}}]; ok && len(t.Data) == {{$first.Size}} && (req.Cmd == "predict" || req.Cmd == "") {
		// The smaller batch Predict also serves (mlc compile -predict-batch).
		if req.Loss || req.Grads || req.Steps > 0 || req.Phase == "decode" {
			return nil, fmt.Errorf("inputs of the smaller batch run Predict only, not training or decoding")
		}
{{range .SmallIn}}		{{.Var}}, err := {{.Fn}}(req.Inputs, {{printf "%q" .Name}}, {{.Size}})
		if err != nil {
			return nil, err
		}
{{end}}		{{range .SmallOutputs}}{{.Var}}, {{end}}err := m.Predict({{.Args .SmallIn}})
		if err != nil {
			return nil, err
		}
		res.Outputs = map[string]tensor{}
{{range .SmallOutputs}}		res.Outputs[{{printf "%q" .Name}}] = toTensor({{.Var}}, {{.Shape}})
{{end}}		return res, nil
	}
{{end}}{{range .AllIn}}	{{.Var}}, err := {{.Fn}}(req.Inputs, {{printf "%q" .Name}}, {{.Size}})
	if err != nil && (req.Cmd != "predict" && req.Cmd != "" || !errors.Is(err, errMissing)) {
		return nil, err
	}
	_ = {{.Var}}
{{end}}	switch req.Cmd {
{{if .HasTrain}}	case "step", "train":
{{if .Dist}}		// Every rank's step is a data-parallel one.
		return ranks.step(m, req, func() (float64, error) { return m.Backward({{.Args .TrainIn}}) })
{{else}}		n := max(req.Steps, 1)
		for range n {
			loss, err := m.TrainStep({{.Args .TrainIn}})
			if err != nil {
				return nil, err
			}
			res.Losses = append(res.Losses, jsonFloat(loss))
			if req.Check {
				// Divergence: stop at the first step whose loss or
				// gradient norm is not finite.
				norm := jsonFloat(gradNorm(m.Grads()))
				res.GradNorm = &norm
				if !finite(loss) || !finite(float64(norm)) {
					res.Diverged = true
					break
				}
			}
		}
		return res, nil
{{end}}	case "loss":
		loss, err := m.Loss({{.Args .TrainIn}})
		if err != nil {
			return nil, err
		}
		l := jsonFloat(loss)
		res.Loss = &l
		return res, nil
{{end}}	case "bench":
		var run func() error
		switch req.Entry {
		case "Predict":
			run = func() error {
				{{range .Outputs}}_, {{end}}err := m.Predict({{.Args .PredictIn}})
				return err
			}
{{if .HasTrain}}		case "TrainStep":
			run = func() error {
				_, err := m.TrainStep({{.Args .TrainIn}})
				return err
			}
{{end}}{{if .Decode}}		case "DecodeStep": // every position of the context in turn
			step := {{.DecodeIDs}}[:{{.Rows}}]
			run = func() error {
				if m.Pos() == {{.Ctx}} {
					m.Reset()
				}
				{{range .Outputs}}_, {{end}}err := m.DecodeStep(step)
				return err
			}
{{end}}		default:
			return nil, fmt.Errorf("no entry point %q to benchmark", req.Entry)
		}
		return measure(run, req.N)
	case "predict", "":
	default:
		return nil, fmt.Errorf("unknown command %q", req.Cmd)
	}
{{range .PredictIn}}	if _, err := input(req.Inputs, {{printf "%q" .Name}}, {{.Size}}); err != nil {
		return nil, err
	}
{{end}}	res.Outputs = map[string]tensor{}
	switch req.Phase {
{{if .Decode}}	case "decode":
		if res.Outputs, err = decodeAll(m, {{.CtxArgs}}{{.DecodeIDs}}, req.Prefill); err != nil {
			return nil, err
		}
{{end}}	case "", "full":
		{{range .Outputs}}{{.Var}}, {{end}}err := m.Predict({{.Args .PredictIn}})
		if err != nil {
			return nil, err
		}
{{range .Outputs}}		res.Outputs[{{printf "%q" .Name}}] = toTensor({{.Var}}, {{.Shape}})
{{end}}{{if .Taps}}		res.Taps = map[string]tensor{}
{{range .Taps}}		res.Taps[{{printf "%q" .Name}}] = toTensor(m.Tap({{printf "%q" .Name}}), {{.Shape}})
{{end}}{{end}}	default:
		return nil, fmt.Errorf("unknown phase %q{{if .Decode}} (want full or decode){{else}}: the model has no KV-cache decoding{{end}}", req.Phase)
	}
	if req.Cmd == "predict" {
		return res, nil
	}
{{if .HasTrain}}	if req.Loss || req.Grads {
		loss, err := m.Backward({{.Args .TrainIn}})
		if err != nil {
			return nil, err
		}
		l := jsonFloat(loss)
		res.Loss = &l
		if req.Grads {
			res.Grads = map[string]tensor{}
			for _, g := range m.Grads() {
				res.Grads[g.Name] = toTensor(g.Data, g.Shape)
			}
		}
	}
	if req.Steps > 0 {
		for range req.Steps {
			loss, err := m.TrainStep({{.Args .TrainIn}})
			if err != nil {
				return nil, err
			}
			res.Losses = append(res.Losses, jsonFloat(loss))
			if req.Trace {
				res.Trace = append(res.Trace, getAll(m.Params()))
			}
		}
		res.Params = getAll(m.Params())
	}
{{end}}	return res, nil
}
{{if or .LM .S2S}}
// errStop ends generation at req.StopToken.
var errStop = errors.New("stop")

// generate samples req.N tokens after the prompt{{if .S2S}} (the decoder's, for
// the source req.Source){{end}}, streaming each one: with the KV cache
// (Generate) unless req.NoCache. It ends early after req.StopToken.
func generate(m *model.Model, req *request, emit func(*result)) (*result, error) {
	err := m.SetSampling(req.Temperature, req.TopK, req.TopP, req.Seed)
	if err != nil {
		return nil, err
	}
	send := func(t int32) error {
		emit(&result{Token: &t})
		if req.StopToken != nil && t == *req.StopToken {
			return errStop
		}
		return nil
	}
	tokens := append(make([]int32, 0, len(req.Prompt)+req.N), req.Prompt...)
	if req.NoCache {
		_, err = m.GenerateNoCache({{if .S2S}}req.Source, {{end}}tokens, req.N, send)
	} else {
		_, err = m.Generate({{if .S2S}}req.Source, {{end}}tokens, req.N, send)
	}
	if err != nil && err != errStop {
		return nil, err
	}
	return &result{Done: true}, nil
}
{{end}}{{if .Dist}}
// distPart is one part of the start-up consistency check.
type distPart struct {
	Name string ` + "`json:\"name\"`" + `
	Data string ` + "`json:\"data\"`" + `
}

// distState is this rank's side of data-parallel training.
type distState struct {
	comm    *dist.Comm
	params  [][]{{.T}}
	{{if .HasState}}state   [][]{{.T}}
	{{end}}red     *dist.Reducer[{{.T}}]
	// ctl holds the loss and the stop flag, summed over the ranks: its own
	// allocation, since cgo refuses a pointer into memory that holds Go
	// pointers (as distState does).
	ctl     []float64
	bytes   int64 // all-reduced per step: the gradient and ctl
	started bool
}

var ranks *distState

// bucketBytes is the size of the gradient all-reduce's buckets: a few
// large collectives are the fastest without overlap (docs/distributed.md).
const bucketBytes = 4 << 20

func newDistState(c *dist.Comm, m *model.Model) *distState {
	d := &distState{comm: c, params: flat(m.Params()){{if .HasState}}, state: flat(m.State()){{end}}, ctl: make([]float64, 2)}
	red, err := dist.NewReducer(c, flat(m.Grads()), bucketBytes)
	if err != nil {
		c.Abort(1, err.Error())
	}
	d.red = red
	for _, g := range m.Grads() {
		d.bytes += int64(len(g.Data)) * int64(unsafe.Sizeof(g.Data[0]))
	}
	d.bytes += 16
	return d
}

// flat returns the tensors' data as one slice when they are consecutive
// parts of one array, as a generated model's parameters, gradients and
// state are (one collective over them needs no staging), and as a slice
// per tensor otherwise.
func flat(ts []model.Tensor) [][]{{.T}} {
	var z {{.T}}
	size := unsafe.Sizeof(z)
	var base unsafe.Pointer
	total := 0
	for _, t := range ts {
		if len(t.Data) == 0 {
			continue
		}
		p := unsafe.Pointer(unsafe.SliceData(t.Data))
		if base == nil {
			base = p
		}
		if p != unsafe.Add(base, uintptr(total)*size) {
			out := make([][]{{.T}}, len(ts))
			for i, t := range ts {
				out[i] = t.Data
			}
			return out
		}
		total += len(t.Data)
	}
	if base == nil {
		return nil
	}
	return [][]{{.T}}{unsafe.Slice((*{{.T}})(base), total)}
}

// start checks that every rank runs the same model, config and data, then
// makes rank 0's parameters, optimizer state and dropout state every
// rank's. mlc sends it once, after any restore.
func (d *distState) start(m *model.Model, parts []distPart) error {
	ps := make([]dist.Part, len(parts))
	for i, p := range parts {
		ps[i] = dist.Part{Name: p.Name, Data: []byte(p.Data)}
	}
	if err := d.comm.Check(ps...); err != nil {
		return err
	}
	for _, x := range d.params {
		d.must(dist.Broadcast(d.comm, x))
	}
{{if .HasState}}	for _, x := range d.state {
		d.must(dist.Broadcast(d.comm, x))
	}
{{end}}	rng := make([]byte, 8)
	binary.LittleEndian.PutUint64(rng, m.RNGState())
	d.must(dist.Broadcast(d.comm, rng))
	m.SetRNGState(binary.LittleEndian.Uint64(rng))
	d.started = true
	return nil
}

// must ends the whole job on a failed collective: the other ranks may
// wait in it, and only MPI_Abort reaches them.
func (d *distState) must(err error) {
	if err != nil {
		d.comm.Abort(1, err.Error())
	}
}

// step runs req.Steps data-parallel steps: backward on this rank's batch,
// the mean of the gradients over the ranks, the same update everywhere.
// The loss reported is the mean over the ranks, and the divergence check
// sees the mean gradient, so every rank takes the same decisions.
func (d *distState) step(m *model.Model, req *request, backward func() (float64, error)) (*result, error) {
	if !d.started {
		return nil, errors.New("dist: step before the start-up check (send {\"cmd\": \"dist\"} first)")
	}
	res := &result{CommBytes: d.bytes}
	for range max(req.Steps, 1) {
		loss, err := backward()
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		d.must(d.red.Mean())
		d.ctl[0], d.ctl[1] = loss, 0
		if req.Stop {
			d.ctl[1] = 1
		}
		d.must(dist.AllreduceSum(d.comm, d.ctl))
		res.CommNs += time.Since(t0).Nanoseconds()
		if err := m.Update(); err != nil {
			return nil, err
		}
		res.Losses = append(res.Losses, jsonFloat(d.ctl[0]/float64(d.comm.Size())))
		res.Stop = res.Stop || d.ctl[1] > 0
		if req.Check {
			norm := jsonFloat(gradNorm(m.Grads()))
			res.GradNorm = &norm
			if !finite(float64(res.Losses[len(res.Losses)-1])) || !finite(float64(norm)) {
				res.Diverged = true
				break
			}
		}
	}
	return res, nil
}
{{end}}{{if .Decode}}
// decodeAll computes Predict's outputs the KV-cache way: Prefill on the
// first p positions of each of the {{.Rows}} sequences, then DecodeStep for
// each later position, assembling every output over all {{.Ctx}} positions.
func decodeAll(m *model.Model, {{.CtxParams}}ids []int32, p int) (map[string]tensor, error) {
	const rows, ctx = {{.Rows}}, {{.Ctx}}
	if p == 0 {
		p = 1
	}
	if p < 1 || p > ctx {
		return nil, fmt.Errorf("prefill %d positions of %d", p, ctx)
	}
	prompt := make([]int32, rows*p)
	for r := range rows {
		copy(prompt[r*p:(r+1)*p], ids[r*ctx:r*ctx+p])
	}
{{range .DecodeOuts}}	full{{.Var}} := make([]{{.Type}}, {{.Outer}}*ctx*{{.Inner}})
{{end}}	{{range .DecodeOuts}}{{.Var}}, {{end}}err := m.Prefill({{.CtxArgs}}prompt)
	if err != nil {
		return nil, err
	}
{{range .DecodeOuts}}	place(full{{.Var}}, {{.Var}}, {{.Outer}}, {{.Inner}}, ctx, ctx, 0, p)
{{end}}	step := make([]int32, rows)
	for t := p; t < ctx; t++ {
		for r := range rows {
			step[r] = ids[r*ctx+t]
		}
		{{range .DecodeOuts}}{{.Var}}, {{end}}err := m.DecodeStep(step)
		if err != nil {
			return nil, err
		}
{{range .DecodeOuts}}		place(full{{.Var}}, {{.Var}}, {{.Outer}}, {{.Inner}}, 1, ctx, t, 1)
{{end}}	}
	return map[string]tensor{
{{range .DecodeOuts}}		{{printf "%q" .Name}}: toTensor(full{{.Var}}, {{.Shape}}),
{{end}}	}, nil
}

// place copies n positions of src (srcT positions along the sequence axis)
// to positions from.. of dst (dstT positions).
func place[E any](dst, src []E, outer, inner, srcT, dstT, from, n int) {
	for o := range outer {
		for j := range n {
			copy(dst[(o*dstT+from+j)*inner:(o*dstT+from+j+1)*inner], src[(o*srcT+j)*inner:(o*srcT+j+1)*inner])
		}
	}
}
{{end}}`))
