package codegen

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/dave/jennifer/jen"
	"github.com/mlc-dev/mlc/codegen/kernels"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime/lowp"
)

// Large initial values (an imported model's weights) do not become Go
// literals: a literal of a million floats makes go build take over a
// minute. They go, little-endian in the package's float type, into
// mlc_weights.bin, which model.go embeds with //go:embed and New decodes.
// The file starts with the generated-code header line, so that mlc knows it
// as its own when it rewrites the directory.

// embedMinValues is the smallest parameter whose values go to the file.
const embedMinValues = 4096

// weightsFile is the name of the embedded file.
const weightsFile = "mlc_weights.bin"

// embedValues appends data to the weight file and returns the statement
// that fills dst from it in New.
func (g *gen) embedValues(dst jen.Code, data []float64) jen.Code {
	if g.weights == nil {
		g.weights = []byte("// " + Header(g.prog.Source) + "\n")
	}
	off := len(g.weights)
	for _, v := range data {
		if g.T == "float32" {
			g.weights = binary.LittleEndian.AppendUint32(g.weights, math.Float32bits(float32(v)))
		} else {
			g.weights = binary.LittleEndian.AppendUint64(g.weights, math.Float64bits(v))
		}
	}
	return jen.Id("loadWeights").Call(dst, jen.Lit(off))
}

// lowValues is the statement that fills dst, a low-precision parameter's
// slice, with n's values: its bytes (int8, or little-endian bf16 bit
// patterns) in the weight file when large, else a literal. A bf16 weight
// that the products read as x·W is written in the pair layout of
// kernels.PairBF16 (rows 2q and 2q+1 interleaved), which QMatMulBF16 reads.
func (g *gen) lowValues(dst jen.Code, n *graph.Node) jen.Code {
	bf16 := n.Type.DType == graph.BF16
	var h []uint16
	if bf16 {
		h = make([]uint16, len(n.Attrs.Data))
		for i, v := range n.Attrs.Data {
			h[i] = lowp.F32ToBF16(float32(v))
		}
		if plain, read := g.bf16Plain[n.Name]; read && !plain && len(n.Type.Shape) == 2 {
			p := make([]uint16, len(h))
			kernels.PairBF16(p, h, n.Type.Shape[0], n.Type.Shape[1])
			h = p
		}
	}
	lit := make([]jen.Code, len(n.Attrs.Data))
	for i, v := range n.Attrs.Data {
		if bf16 {
			lit[i] = jen.Lit(int(h[i]))
		} else {
			lit[i] = jen.Lit(int(int8(v)))
		}
	}
	if len(n.Attrs.Data) < embedMinValues {
		if bf16 {
			return jen.Copy(dst, jen.Index().Uint16().Values(lit...))
		}
		return jen.Copy(dst, jen.Index().Int8().Values(lit...))
	}
	if g.weights == nil {
		g.weights = []byte("// " + Header(g.prog.Source) + "\n")
	}
	off := len(g.weights)
	for i, v := range n.Attrs.Data {
		if bf16 {
			g.weights = binary.LittleEndian.AppendUint16(g.weights, h[i])
		} else {
			g.weights = append(g.weights, byte(int8(v)))
		}
	}
	if bf16 {
		g.loadBF16 = true
		return jen.Id("loadBF16").Call(dst, jen.Lit(off))
	}
	g.loadI8 = true
	return jen.Id("loadI8").Call(dst, jen.Lit(off))
}

// weightsDecls declares the embedded file and its decoder, when used.
func (g *gen) weightsDecls(f *jen.File) {
	if g.weights == nil {
		return
	}
	f.Anon("embed")
	// One comment per line: a multi-line one would become a /* */ block,
	// where the directive does not count.
	f.Comment(fmt.Sprintf("mlcWeights holds the initial values of the large parameters (%d bytes):", len(g.weights)))
	f.Comment(fmt.Sprintf("the header line, then little-endian %s numbers.", g.T))
	f.Comment("//")
	f.Comment("//go:embed " + weightsFile)
	f.Var().Id("mlcWeights").String()
	f.Line()
	get, size := jen.Qual("math", "Float64frombits").Call(jen.Qual("encoding/binary", "LittleEndian").Dot("Uint64").Call(jen.Id("b").Index(jen.Lit(8).Op("*").Id("i").Op(":")))), 8
	if g.T == "float32" {
		get, size = jen.Qual("math", "Float32frombits").Call(jen.Qual("encoding/binary", "LittleEndian").Dot("Uint32").Call(jen.Id("b").Index(jen.Lit(4).Op("*").Id("i").Op(":")))), 4
	}
	docComment(f, "loadWeights fills dst from mlcWeights, starting at byte off.")
	f.Func().Id("loadWeights").Params(jen.Id("dst").Index().Id(g.T), jen.Id("off").Int()).Block(
		jen.Id("b").Op(":=").Index().Byte().Parens(jen.Id("mlcWeights").Index(jen.Id("off").Op(":").Id("off").Op("+").Lit(size).Op("*").Len(jen.Id("dst")))),
		jen.For(jen.Id("i").Op(":=").Range().Id("dst")).Block(jen.Id("dst").Index(jen.Id("i")).Op("=").Add(get)),
	)
	if g.loadI8 {
		docComment(f, "loadI8 fills dst with int8 weights from mlcWeights, starting at byte off.")
		f.Func().Id("loadI8").Params(jen.Id("dst").Index().Int8(), jen.Id("off").Int()).Block(
			jen.For(jen.Id("i").Op(":=").Range().Id("dst")).Block(jen.Id("dst").Index(jen.Id("i")).Op("=").Int8().Call(jen.Id("mlcWeights").Index(jen.Id("off").Op("+").Id("i")))),
		)
	}
	if g.loadBF16 {
		docComment(f, "loadBF16 fills dst with little-endian bf16 bit patterns from mlcWeights,\nstarting at byte off.")
		f.Func().Id("loadBF16").Params(jen.Id("dst").Index().Uint16(), jen.Id("off").Int()).Block(
			jen.Id("b").Op(":=").Index().Byte().Parens(jen.Id("mlcWeights").Index(jen.Id("off").Op(":").Id("off").Op("+").Lit(2).Op("*").Len(jen.Id("dst")))),
			jen.For(jen.Id("i").Op(":=").Range().Id("dst")).Block(jen.Id("dst").Index(jen.Id("i")).Op("=").Qual("encoding/binary", "LittleEndian").Dot("Uint16").Call(jen.Id("b").Index(jen.Lit(2).Op("*").Id("i").Op(":")))),
		)
	}
}

// weightsFiles is the weight file, when the package has one.
func (g *gen) weightsFiles() []File {
	if g.weights == nil {
		return nil
	}
	return []File{{Name: weightsFile, Data: g.weights}}
}
