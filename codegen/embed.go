package codegen

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/dave/jennifer/jen"
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
}

// weightsFiles is the weight file, when the package has one.
func (g *gen) weightsFiles() []File {
	if g.weights == nil {
		return nil
	}
	return []File{{Name: weightsFile, Data: g.weights}}
}
