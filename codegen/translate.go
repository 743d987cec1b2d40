package codegen

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// This file emits Generate and GenerateNoCache for an encoder-decoder:
// the output for a source, decoded with the KV cache or without.

// s2sShape reports whether Predict is a one-sequence encoder-decoder with
// KV-cache decoding: two i32 inputs, the decoder's ids [1, ctx] (Decode's
// input) and the source [1, srcLen], and an output "logits"
// [1, ctx, vocab]. src is the source's input.
func s2sShape(p *graph.Program) (ok bool, ctx, vocab int, src *graph.Node) {
	if p.Decode == nil || len(p.Decode.Inputs()) != 1 {
		return false, 0, 0, nil
	}
	ins := p.Predict.Inputs()
	if len(ins) != 2 {
		return false, 0, 0, nil
	}
	var ids *graph.Node
	for _, n := range ins {
		if n.Type.DType != graph.I32 || n.Type.Shape.Rank() != 2 || n.Type.Shape[0] != 1 {
			return false, 0, 0, nil
		}
		if n.Name == p.Decode.Inputs()[0].Name {
			ids = n
		} else {
			src = n
		}
	}
	lg := p.Predict.Output("logits")
	if ids == nil || src == nil || lg == nil || lg.Type.Shape.Rank() != 3 || lg.Type.Shape[1] != ids.Type.Shape[1] {
		return false, 0, 0, nil
	}
	return true, ids.Type.Shape[1], lg.Type.Shape[2], src
}

// genShape reports whether the program gets Generate and GenerateNoCache:
// a one-sequence language model or encoder-decoder with KV-cache decoding,
// its context and vocabulary, and the encoder-decoder's source (nil for a
// language model).
func genShape(p *graph.Program) (ok bool, ctx, vocab int, src *graph.Node) {
	if ok, ctx, vocab := lmShape(p); ok && p.Decode != nil {
		return true, ctx, vocab, nil
	}
	return s2sShape(p)
}

// translateAPI writes Generate (KV cache) and GenerateNoCache (the whole
// model recomputed for every token) for a one-sequence encoder-decoder:
// the output for a source, from a decoder prompt (a start token). Decoder
// positions are absolute and the source is fixed, so there is no sliding
// window: the output ends at the context.
func (g *gen) translateAPI(f *jen.File, outNames []string, ctx, vocab int, src *graph.Node) {
	name := g.prog.Name
	srcLen := src.Type.Shape[1]
	lhs := make([]jen.Code, len(outNames))
	for i, o := range outNames {
		lhs[i] = jen.Id("_")
		if o == "logits" {
			lhs[i] = jen.Id("logits")
		}
	}
	call := func(method string, args ...jen.Code) jen.Code {
		return jen.List(append(lhs, jen.Err())...).Op("=").Id("m").Dot(method).Call(args...)
	}
	// Predict's arguments in the order of its inputs.
	var predictArgs []jen.Code
	for _, n := range g.prog.Predict.Inputs() {
		if n.Name == src.Name {
			predictArgs = append(predictArgs, jen.Id("src"))
		} else {
			predictArgs = append(predictArgs, jen.Id("m").Dot("window"))
		}
	}
	tail := []jen.Code{
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Id("tokens"), jen.Err())),
		jen.List(jen.Id("next"), jen.Err()).Op(":=").Id("m").Dot("sampler").Dot("Sample").Call(jen.Id("logits").Index(jen.Id("last").Op("*").Lit(vocab).Op(":").Parens(jen.Id("last").Op("+").Lit(1)).Op("*").Lit(vocab))),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Id("tokens"), jen.Err())),
		jen.Id("tokens").Op("=").Append(jen.Id("tokens"), jen.Int32().Call(jen.Id("next"))),
		jen.If(jen.Id("emit").Op("!=").Nil()).Block(
			jen.If(jen.Err().Op(":=").Id("emit").Call(jen.Int32().Call(jen.Id("next"))), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Id("tokens"), jen.Err())),
		),
	}
	head := func(method string) []jen.Code {
		return []jen.Code{
			jen.If(jen.Len(jen.Id("src")).Op("!=").Lit(srcLen)).Block(jen.Return(jen.Id("tokens"), jen.Qual("fmt", "Errorf").Call(jen.Lit(fmt.Sprintf("%s: %s: %%d source ids, want %d", name, method, srcLen)), jen.Len(jen.Id("src"))))),
			jen.If(jen.Len(jen.Id("tokens")).Op("==").Lit(0)).Block(jen.Return(jen.Id("tokens"), jen.Qual("fmt", "Errorf").Call(jen.Lit(name+": "+method+": the decoder's prompt is empty (give it the start token)")))),
			jen.If(jen.Id("n").Op("<").Lit(0).Op("||").Len(jen.Id("tokens")).Op("+").Id("n").Op(">").Lit(ctx + 1)).Block(jen.Return(jen.Id("tokens"), jen.Qual("fmt", "Errorf").Call(jen.Lit(fmt.Sprintf("%s: %s: %%d prompt tokens and %%d more do not fit the decoder's context of %d (at most %d in all)", name, method, ctx, ctx+1)), jen.Len(jen.Id("tokens")), jen.Id("n")))),
			jen.Var().Id("logits").Index().Id(g.T),
			jen.Var().Err().Error(),
		}
	}
	params := []jen.Code{jen.Id("src").Index().Int32(), jen.Id("tokens").Index().Int32(), jen.Id("n").Int(), jen.Id("emit").Func().Params(jen.Int32()).Error()}
	results := []jen.Code{jen.Index().Int32(), jen.Error()}

	loop := jen.For(jen.Id("i").Op(":=").Range().Id("n")).Block(append([]jen.Code{
		jen.Id("last").Op(":=").Lit(0),
		jen.If(jen.Id("i").Op("==").Lit(0)).Block(
			call("Prefill", jen.Id("src"), jen.Id("tokens")),
			jen.Id("last").Op("=").Len(jen.Id("tokens")).Op("-").Lit(1),
		).Else().Block(
			call("DecodeStep", jen.Id("tokens").Index(jen.Len(jen.Id("tokens")).Op("-").Lit(1).Op(":"))),
		),
	}, tail...)...)
	g.samplingAPI(f)
	docComment(f, fmt.Sprintf("Generate writes the output for a source: src is %d source ids (padded),\n"+
		"tokens the decoder's prompt (its start token, and any output already\n"+
		"fixed). It appends n tokens, each drawn (see SetSampling) from the logits\n"+
		"after the tokens before it, and passes each to emit (when not nil); an\n"+
		"error from emit stops it. Prefill encodes the source once and runs the\n"+
		"prompt; every new token goes through DecodeStep. The decoder's positions\n"+
		"end at its context: len(tokens)+n must be at most %d. With\n"+
		"cap(tokens) ≥ len(tokens)+n it does not allocate.", srcLen, ctx+1))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Generate").Params(params...).Params(results...).Block(append(head("Generate"), loop, jen.Return(jen.Id("tokens"), jen.Nil()))...)
	f.Line()

	win := jen.Id("m").Dot("window")
	loop = jen.For(jen.Range().Id("n")).Block(append([]jen.Code{
		jen.Clear(win),
		jen.Copy(win, jen.Id("tokens")).Comment("positions after the tokens do not affect earlier logits (causal)"),
		call("Predict", predictArgs...),
		jen.Id("last").Op(":=").Len(jen.Id("tokens")).Op("-").Lit(1),
	}, tail...)...)
	docComment(f, "GenerateNoCache is Generate without the KV cache: for every token it runs\n"+
		"Predict on the source and the tokens so far, encoding the source and\n"+
		"recomputing every decoder position again. It is the baseline that shows\n"+
		"what the cache saves; both give the same tokens.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("GenerateNoCache").Params(params...).Params(results...).Block(append(head("GenerateNoCache"), loop, jen.Return(jen.Id("tokens"), jen.Nil()))...)
	f.Line()
}

// EncoderDecoderShape reports whether a program is a one-sequence
// encoder-decoder whose generated Model has Generate(src, tokens, n, emit):
// its decoder context, vocabulary and source input.
func EncoderDecoderShape(p *graph.Program) (ok bool, ctx, vocab int, src *graph.Node) {
	return s2sShape(p)
}
