package graph

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Attrs holds the parameters of an op. Each op declares in the op table which
// of these it uses; the printer, parser and validator only look at those.
type Attrs struct {
	Axes        []int     // reductions: the axes reduced
	Axis        int       // softmax, log-softmax, concat, argmax: the axis (non-negative)
	KeepDims    bool      // reductions: keep reduced axes as size 1
	Perm        []int     // transpose: output axis i is input axis Perm[i]
	Shape       []int     // reshape, broadcast-to, causal mask, pad, const: the target shape
	Starts      []int     // slice, pad: first index per axis
	Ends        []int     // slice: one past the last index per axis
	TransA      bool      // matmul: use Aᵀ
	TransB      bool      // matmul: use Bᵀ
	Exponent    float64   // pow: the constant exponent
	Eps         float64   // layernorm: variance epsilon
	Value       float64   // const: the fill value when Data is empty
	Data        []float64 // const and param init "values": explicit row-major data
	To          DType     // cast, one-hot: the result dtype
	Depth       int       // one-hot: number of classes; scatter-add: number of rows
	Reduce      string    // losses: "mean", "sum" or "none"
	Init        string    // param: initializer name (zeros, ones, normal, he, xavier, values)
	Std         float64   // param init "normal": standard deviation
	P           float64   // dropout: drop probability
	Beta1       float64   // optimizers: first-moment / momentum coefficient (RMSProp: α)
	Beta2       float64   // Adam: second-moment coefficient
	WD          float64   // AdamW: decoupled weight decay
	LR          float64   // learning-rate schedule: peak rate
	LRMin       float64   // learning-rate schedule: final rate of the cosine decay
	Warmup      int       // learning-rate schedule: linear warmup steps
	Steps       int       // learning-rate schedule: total steps (warmup included)
	Theta       float64   // rope: the base of the rotation frequencies (10000 in Llama)
	Offset      int       // rope: the position of the first row
	Interleaved bool      // rope: rotate pairs (2i, 2i+1) instead of (i, i+d/2)
	Inverse     bool      // rope: rotate by the negated angles (the gradient)

	Kernel    []int // im2col, col2im: window size per spatial axis
	Strides   []int // im2col, col2im: step between windows per spatial axis
	Dilations []int // im2col, col2im: step between a window's taps per spatial axis
	Pads      []int // im2col, col2im: begin pads of every spatial axis, then end pads
}

// attrSpec describes one attribute for printing and parsing.
type attrSpec struct {
	name  string
	isSet func(a *Attrs) bool // false: omit when printing (value is the default)
	print func(a *Attrs) string
	parse func(a *Attrs, s string) error
}

func intList(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func parseIntList(s string) ([]int, error) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("want a list like [0,1], got %q", s)
	}
	out := []int{}
	if body := s[1 : len(s)-1]; body != "" {
		for _, f := range strings.Split(body, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("bad integer %q", f)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// FormatFloat prints a float as the shortest decimal that reads back exactly.
func FormatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ParseFloat reads what FormatFloat prints.
func ParseFloat(s string) (float64, error) {
	switch s {
	case "inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan":
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return f, nil
}

func floatList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = FormatFloat(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func parseFloatList(s string) ([]float64, error) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("want a list like [0.5,1], got %q", s)
	}
	out := []float64{}
	if body := s[1 : len(s)-1]; body != "" {
		for _, f := range strings.Split(body, ",") {
			x, err := ParseFloat(f)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
	}
	return out, nil
}

func intsAttr(name string, field func(a *Attrs) *[]int) attrSpec {
	return attrSpec{
		name:  name,
		isSet: func(a *Attrs) bool { return *field(a) != nil },
		print: func(a *Attrs) string { return intList(*field(a)) },
		parse: func(a *Attrs, s string) (err error) { *field(a), err = parseIntList(s); return },
	}
}

func intAttr(name string, field func(a *Attrs) *int) attrSpec {
	return attrSpec{
		name:  name,
		isSet: func(a *Attrs) bool { return true },
		print: func(a *Attrs) string { return strconv.Itoa(*field(a)) },
		parse: func(a *Attrs, s string) (err error) {
			*field(a), err = strconv.Atoi(s)
			if err != nil {
				err = fmt.Errorf("bad integer %q", s)
			}
			return
		},
	}
}

func boolAttr(name string, field func(a *Attrs) *bool) attrSpec {
	return attrSpec{
		name:  name,
		isSet: func(a *Attrs) bool { return *field(a) },
		print: func(a *Attrs) string { return strconv.FormatBool(*field(a)) },
		parse: func(a *Attrs, s string) (err error) {
			*field(a), err = strconv.ParseBool(s)
			if err != nil {
				err = fmt.Errorf("bad boolean %q", s)
			}
			return
		},
	}
}

// floatAttr prints always, or (omitZero) only when non-zero.
func floatAttr(name string, omitZero bool, field func(a *Attrs) *float64) attrSpec {
	return attrSpec{
		name:  name,
		isSet: func(a *Attrs) bool { return !omitZero || *field(a) != 0 },
		print: func(a *Attrs) string { return FormatFloat(*field(a)) },
		parse: func(a *Attrs, s string) (err error) { *field(a), err = ParseFloat(s); return },
	}
}

func stringAttr(name string, field func(a *Attrs) *string) attrSpec {
	return attrSpec{
		name:  name,
		isSet: func(a *Attrs) bool { return *field(a) != "" },
		print: func(a *Attrs) string { return *field(a) },
		parse: func(a *Attrs, s string) error { *field(a) = s; return nil },
	}
}

// attrSpecs lists every attribute; ops name the ones they use.
var attrSpecs = map[string]attrSpec{
	"axes":        intsAttr("axes", func(a *Attrs) *[]int { return &a.Axes }),
	"axis":        intAttr("axis", func(a *Attrs) *int { return &a.Axis }),
	"keepdims":    boolAttr("keepdims", func(a *Attrs) *bool { return &a.KeepDims }),
	"perm":        intsAttr("perm", func(a *Attrs) *[]int { return &a.Perm }),
	"shape":       intsAttr("shape", func(a *Attrs) *[]int { return &a.Shape }),
	"starts":      intsAttr("starts", func(a *Attrs) *[]int { return &a.Starts }),
	"ends":        intsAttr("ends", func(a *Attrs) *[]int { return &a.Ends }),
	"transA":      boolAttr("transA", func(a *Attrs) *bool { return &a.TransA }),
	"transB":      boolAttr("transB", func(a *Attrs) *bool { return &a.TransB }),
	"exponent":    floatAttr("exponent", false, func(a *Attrs) *float64 { return &a.Exponent }),
	"eps":         floatAttr("eps", false, func(a *Attrs) *float64 { return &a.Eps }),
	"value":       floatAttr("value", false, func(a *Attrs) *float64 { return &a.Value }),
	"std":         floatAttr("std", true, func(a *Attrs) *float64 { return &a.Std }),
	"p":           floatAttr("p", false, func(a *Attrs) *float64 { return &a.P }),
	"beta1":       floatAttr("beta1", false, func(a *Attrs) *float64 { return &a.Beta1 }),
	"beta2":       floatAttr("beta2", false, func(a *Attrs) *float64 { return &a.Beta2 }),
	"wd":          floatAttr("wd", true, func(a *Attrs) *float64 { return &a.WD }),
	"lr":          floatAttr("lr", false, func(a *Attrs) *float64 { return &a.LR }),
	"lrmin":       floatAttr("lrmin", true, func(a *Attrs) *float64 { return &a.LRMin }),
	"warmup":      intAttr("warmup", func(a *Attrs) *int { return &a.Warmup }),
	"steps":       intAttr("steps", func(a *Attrs) *int { return &a.Steps }),
	"depth":       intAttr("depth", func(a *Attrs) *int { return &a.Depth }),
	"theta":       floatAttr("theta", false, func(a *Attrs) *float64 { return &a.Theta }),
	"offset":      intAttr("offset", func(a *Attrs) *int { return &a.Offset }),
	"interleaved": boolAttr("interleaved", func(a *Attrs) *bool { return &a.Interleaved }),
	"inverse":     boolAttr("inverse", func(a *Attrs) *bool { return &a.Inverse }),
	"reduce":      stringAttr("reduce", func(a *Attrs) *string { return &a.Reduce }),
	"init":        stringAttr("init", func(a *Attrs) *string { return &a.Init }),
	"kernel":      intsAttr("kernel", func(a *Attrs) *[]int { return &a.Kernel }),
	"strides":     intsAttr("strides", func(a *Attrs) *[]int { return &a.Strides }),
	"dilations":   intsAttr("dilations", func(a *Attrs) *[]int { return &a.Dilations }),
	"pads":        intsAttr("pads", func(a *Attrs) *[]int { return &a.Pads }),
	"data": {
		name:  "data",
		isSet: func(a *Attrs) bool { return a.Data != nil },
		print: func(a *Attrs) string { return floatList(a.Data) },
		parse: func(a *Attrs, s string) (err error) { a.Data, err = parseFloatList(s); return },
	},
	"to": {
		name:  "to",
		isSet: func(a *Attrs) bool { return true },
		print: func(a *Attrs) string { return a.To.String() },
		parse: func(a *Attrs, s string) (err error) { a.To, err = ParseDType(s); return },
	},
}

// Clone returns a deep copy.
func (a Attrs) Clone() Attrs {
	b := a
	b.Axes = slices.Clone(a.Axes)
	b.Perm = slices.Clone(a.Perm)
	b.Shape = slices.Clone(a.Shape)
	b.Starts = slices.Clone(a.Starts)
	b.Ends = slices.Clone(a.Ends)
	b.Kernel = slices.Clone(a.Kernel)
	b.Strides = slices.Clone(a.Strides)
	b.Dilations = slices.Clone(a.Dilations)
	b.Pads = slices.Clone(a.Pads)
	b.Data = slices.Clone(a.Data)
	return b
}
