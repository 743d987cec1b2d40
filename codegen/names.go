package codegen

import (
	"go/token"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/graph"
)

// reserved are identifiers generated code uses itself; DSL names that collide
// get a suffix.
var reserved = map[string]bool{
	"m": true, "i": true, "j": true, "k": true, "l": true, "b": true, "o": true, "p": true, "r": true, "s": true,
	"err": true, "math": true, "fmt": true, "errors": true, "sync": true,
	"len": true, "cap": true, "max": true, "min": true, "copy": true, "clear": true, "append": true, "make": true,
	"new": true, "panic": true, "print": true, "println": true, "real": true, "imag": true, "complex": true,
	"close": true, "delete": true, "recover": true,
	"float32": true, "float64": true, "int": true, "int32": true, "int64": true, "uint64": true, "bool": true,
	"byte": true, "rune": true, "string": true, "error": true, "any": true, "true": true, "false": true,
	"nil": true, "iota": true, "uintptr": true,
	"sigmoid": true, "gelu": true, "geluGrad": true, "where": true, "matmul": true, "softmax": true,
	"softmaxGrad": true, "layerNorm": true, "layerNormGrad": true, "argmax": true, "gather": true,
	"scatterAdd": true, "oneHot": true, "crossEntropy": true, "bceWithLogits": true, "mse": true,
	"reduceLoss": true, "rng": true, "seedFor": true, "initNormal": true, "maxNaN": true, "minNaN": true,
	"rowStats": true, "errRange": true, "geluC": true, "New": true, "Model": true, "Tensor": true,
	"lrAt": true, "Gemm": true, "GemmSmall": true, "GemmBlocked": true, "Sgemm": true, "Dgemm": true,
	"NewPool": true, "Pool": true, "Reserve": true, "Float": true, "UseBlocked": true, "UseParallel": true,
}

// ident turns a DSL name into a Go identifier: letters, digits and '_'.
func ident(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// namer assigns each value of a graph a unique local identifier: its DSL name
// where it has one, else t<ID>.
type namer struct {
	used  map[string]bool
	names map[*graph.Node]string
}

func newNamer() *namer { return &namer{used: map[string]bool{}, names: map[*graph.Node]string{}} }

func (nm *namer) take(want string) string {
	name := want
	if reserved[name] || token.IsKeyword(name) || nm.used[name] || isLoopVar(name) {
		for k := 2; ; k++ {
			name = want + "_" + strconv.Itoa(k)
			if !nm.used[name] {
				break
			}
		}
	}
	nm.used[name] = true
	return name
}

// isLoopVar reports names of the form i4, i5, … that nested loops use.
func isLoopVar(s string) bool {
	if len(s) < 2 || s[0] != 'i' {
		return false
	}
	_, err := strconv.Atoi(s[1:])
	return err == nil
}

func (nm *namer) name(n *graph.Node) string {
	if s, ok := nm.names[n]; ok {
		return s
	}
	want := "t" + strconv.Itoa(n.ID)
	if n.Name != "" {
		want = ident(n.Name)
	}
	s := nm.take(want)
	nm.names[n] = s
	return s
}

// loopVar is the name of the loop variable for axis d of a loop nest.
func loopVar(d int) string {
	if d < 4 {
		return string("ijkl"[d])
	}
	return "i" + strconv.Itoa(d)
}

// exported makes a Go exported name from a DSL name: W1, B1, Yhat.
func exported(name string) string {
	s := ident(name)
	if s == "" {
		return "X"
	}
	if s[0] == '_' {
		return "X" + s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
