package codegen

import (
	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// patchGeomLit is the patchGeom literal (lib.go) of an Im2Col or Col2Im
// node over images with spatial dimensions in.
func patchGeomLit(n *graph.Node, in []int) (jen.Code, error) {
	p, err := graph.PatchesOf(n, in)
	if err != nil {
		return nil, err
	}
	vals := []jen.Code{jen.Lit(len(p.Kernel))}
	for i := range p.Kernel {
		for _, v := range []int{p.In[i], p.Kernel[i], p.Out[i], p.Strides[i], p.Dilations[i], p.Pads[i]} {
			vals = append(vals, jen.Lit(v))
		}
	}
	return jen.Id("patchGeom").Values(vals...), nil
}

func emitIm2Col(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	s := x.Type.Shape
	geom, err := patchGeomLit(n, s[2:])
	if err != nil {
		panic("codegen: " + err.Error()) // the validator has checked the shape rule
	}
	return []jen.Code{jen.Id("im2col").Call(f.ref(n), f.ref(x), jen.Lit(s[0]*s[1]), geom, f.toT(floatCode(n.Attrs.Value)))}
}

func emitCol2Im(f *fnGen, n *graph.Node) []jen.Code {
	x := n.Inputs[0]
	s := x.Type.Shape
	geom, err := patchGeomLit(n, n.Attrs.Shape)
	if err != nil {
		panic("codegen: " + err.Error())
	}
	return []jen.Code{jen.Id("col2im").Call(f.ref(n), f.ref(x), jen.Lit(s[0]*s[1]), geom)}
}

// usesPatches reports whether a program needs mlc_patches.go.
func usesPatches(prog *graph.Program) bool {
	for _, g := range prog.Graphs() {
		for _, n := range g.Nodes {
			if n.Op == graph.OpIm2Col || n.Op == graph.OpCol2Im {
				return true
			}
		}
	}
	return false
}
