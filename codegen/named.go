package codegen

import (
	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// namedAPI writes the methods through which a library drives a Model by
// names rather than by typed arguments: mlc's train package trains any
// generated package with them (train.Local). All use only the standard
// library's types, so one Go interface fits every generated package of a
// float type, and none allocates.
//
//	ParamNames, StateNames  the variables, in order
//	StateVar(name)          an optimizer state variable's data
//	TrainInputs             the inputs of TrainStep, in order
//	TrainInput(name)        the Model's own buffer of one of them
//	StepInPlace             TrainStep on the inputs already in those buffers
//	LossInPlace             Loss on them
func (g *gen) namedAPI(f *jen.File, train *entry) {
	m := func() *jen.Statement { return jen.Id("m").Op("*").Id("Model") }
	names := func(list string) jen.Code {
		return jen.Id("names").Op(":=").Make(jen.Index().String(), jen.Len(jen.Id("m").Dot(list)))
	}
	listNames := func(method, list, doc string, have bool) {
		docComment(f, doc)
		body := []jen.Code{jen.Return(jen.Nil())}
		if have {
			body = []jen.Code{
				names(list),
				jen.For(jen.List(jen.Id("i"), jen.Id("t")).Op(":=").Range().Id("m").Dot(list)).Block(jen.Id("names").Index(jen.Id("i")).Op("=").Id("t").Dot("Name")),
				jen.Return(jen.Id("names")),
			}
		}
		f.Func().Params(m()).Id(method).Params().Index().String().Block(body...)
		f.Line()
	}
	listNames("ParamNames", "paramList", "ParamNames lists the parameters' names in the order of Params. It allocates\nthe list: call it once, not per step.", true)
	listNames("StateNames", "stateList", "StateNames lists the optimizer state variables' names (none: nil). It\nallocates the list: call it once, not per step.", g.lay.stateSize > 0)
	docComment(f, "StateVar returns an optimizer state variable's data by name, or nil.")
	if g.lay.stateSize > 0 {
		f.Func().Params(m()).Id("StateVar").Params(jen.Id("name").String()).Index().Id(g.T).Block(
			jen.For(jen.List(jen.Id("_"), jen.Id("t")).Op(":=").Range().Id("m").Dot("stateList")).Block(
				jen.If(jen.Id("t").Dot("Name").Op("==").Id("name")).Block(jen.Return(jen.Id("t").Dot("Data"))),
			),
			jen.Return(jen.Nil()),
		)
	} else {
		f.Func().Params(m()).Id("StateVar").Params(jen.Id("name").String()).Index().Id(g.T).Block(jen.Return(jen.Nil()))
	}
	f.Line()
	docComment(f, "VarShape returns the shape of a parameter or optimizer state variable by\nname, or nil.")
	lists := []jen.Code{jen.Id("m").Dot("paramList")}
	if g.lay.stateSize > 0 {
		lists = append(lists, jen.Id("m").Dot("stateList"))
	}
	f.Func().Params(m()).Id("VarShape").Params(jen.Id("name").String()).Index().Int().Block(
		jen.For(jen.List(jen.Id("_"), jen.Id("list")).Op(":=").Range().Index().Index().Id("Tensor").Values(lists...)).Block(
			jen.For(jen.List(jen.Id("_"), jen.Id("t")).Op(":=").Range().Id("list")).Block(
				jen.If(jen.Id("t").Dot("Name").Op("==").Id("name")).Block(jen.Return(jen.Id("t").Dot("Shape"))),
			),
		),
		jen.Return(jen.Nil()),
	)
	f.Line()
	if train == nil {
		return
	}
	for _, n := range train.gr.NodesWithOp(graph.OpState) {
		h, ok := hyperSetters[n.Name]
		if !ok || n.Type.Shape.Rank() != 0 {
			continue
		}
		v := g.sliceOf(train.plan.slots[n]).Clone()
		docComment(f, "Set"+h.method+" sets "+h.what+" of the following updates, without\nrecompiling (a schedule run by the caller). It starts at the value the\nmodel was compiled with; checkpoints keep it with the optimizer state.")
		f.Func().Params(m()).Id("Set" + h.method).Params(jen.Id("v").Float64()).Block(v.Index(jen.Lit(0)).Op("=").Id(g.T).Call(jen.Id("v")))
		f.Line()
		docComment(f, h.method+" is "+h.what+" of the next update.")
		f.Func().Params(m()).Id(h.method).Params().Float64().Block(jen.Return(jen.Float64().Call(g.sliceOf(train.plan.slots[n]).Clone().Index(jen.Lit(0)))))
		f.Line()
	}
	var inNames []jen.Code
	var cases []jen.Code
	for _, n := range train.gr.Inputs() {
		inNames = append(inNames, jen.Lit(n.Name))
		s := train.plan.slots[n]
		buf := g.sliceOf(s).Clone()
		ret := []jen.Code{jen.Nil(), jen.Nil(), jen.Nil()}
		switch n.Type.DType {
		case graph.I32:
			ret[1] = buf
		case graph.Bool:
			ret[2] = buf
		default:
			ret[0] = buf
		}
		cases = append(cases, jen.Case(jen.Lit(n.Name)).Block(jen.Return(ret...)))
	}
	docComment(f, "TrainInputs lists the inputs of TrainStep, Backward and Loss, in order.\nIt allocates the list: call it once, not per step.")
	f.Func().Params(m()).Id("TrainInputs").Params().Index().String().Block(jen.Return(jen.Index().String().Values(inNames...)))
	f.Line()
	docComment(f, "TrainInput returns the Model's own buffer for the named input of\nTrainStep: a float, an id or a mask slice, whichever its type is (the\nothers nil; all nil for an unknown name). Fill every input's buffer, then\ncall StepInPlace or LossInPlace; the values do not survive the call.")
	f.Func().Params(m()).Id("TrainInput").Params(jen.Id("name").String()).Params(jen.Id("floats").Index().Id(g.T), jen.Id("ids").Index().Int32(), jen.Id("masks").Index().Bool()).Block(
		jen.Switch(jen.Id("name")).Block(cases...),
		jen.Return(jen.Nil(), jen.Nil(), jen.Nil()),
	)
	f.Line()
	loss := train.gr.Loss
	s := train.plan.slots[loss]
	lossRead := jen.Id("float64").Call(jen.Id("m").Dot(regionField(g, s)).Index(jen.Lit(s.off)))
	call := func(c string) jen.Code {
		return jen.If(jen.Err().Op(":=").Id("m").Dot(c).Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Lit(0), jen.Err()))
	}
	docComment(f, "StepInPlace is TrainStep on the inputs already in the buffers TrainInput\nreturns.")
	f.Func().Params(m()).Id("StepInPlace").Params().Params(jen.Id("loss").Float64(), jen.Err().Error()).Block(
		call("forward"), call("backward"), call("update"), jen.Return(lossRead, jen.Nil()),
	)
	f.Line()
	docComment(f, "LossInPlace is Loss on the inputs already in the buffers TrainInput returns.")
	f.Func().Params(m()).Id("LossInPlace").Params().Params(jen.Id("loss").Float64(), jen.Err().Error()).Block(
		jen.Id("m").Dot("evalMode").Op("=").True(),
		jen.Err().Op("=").Id("m").Dot("forward").Call(),
		jen.Id("m").Dot("evalMode").Op("=").False(),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Lit(0), jen.Err())),
		jen.Return(lossRead, jen.Nil()),
	)
	f.Line()
}

// hyperSetters names the generated setter and getter of each run-time
// hyperparameter the optimizer pass creates (passes.Optimizer).
var hyperSetters = map[string]struct{ method, what string }{
	"hyper.lr":    {"LR", "the learning rate"},
	"hyper.beta1": {"Beta1", "the optimizer's β₁ (Adam), momentum μ or RMSProp α"},
	"hyper.beta2": {"Beta2", "Adam's β₂"},
	"hyper.eps":   {"Eps", "the optimizer's ε (Adam, RMSProp)"},
	"hyper.wd":    {"WeightDecay", "AdamW's decoupled weight decay"},
}
