package graph

import "fmt"

// Convolution and pooling are built from two data-movement ops: Im2Col
// gathers every kernel window of an image into columns (a convolution is
// then one MatMul, a pooling one reduction), and Col2Im, its adjoint, adds
// columns back into an image. Each is the other's gradient.

// MaxSpatial is the most spatial axes Im2Col and Col2Im handle (1-D, 2-D
// and 3-D convolutions).
const MaxSpatial = 3

// Patches is the geometry of Im2Col and Col2Im for an image [N, C, D…]:
// per spatial axis the kernel size, stride, dilation and padding (Pads:
// the begin pads of every axis, then the end pads).
type Patches struct {
	In, Kernel, Strides, Dilations, Pads, Out []int
}

// PatchesOf checks the attributes of an Im2Col or Col2Im node against the
// image's spatial dimensions in and returns the geometry with the output
// positions Out.
func PatchesOf(n *Node, in []int) (Patches, error) {
	a := n.Attrs
	r := len(a.Kernel)
	p := Patches{In: in, Kernel: a.Kernel, Strides: a.Strides, Dilations: a.Dilations, Pads: a.Pads}
	if r < 1 || r > MaxSpatial {
		return p, shapeErr(n, "kernel %s needs 1 to %d spatial axes", intList(a.Kernel), MaxSpatial)
	}
	if len(in) != r || len(a.Strides) != r || len(a.Dilations) != r || len(a.Pads) != 2*r {
		return p, shapeErr(n, "kernel %s, strides %s, dilations %s and pads %s do not match the %d spatial axes of %v",
			intList(a.Kernel), intList(a.Strides), intList(a.Dilations), intList(a.Pads), len(in), in)
	}
	p.Out = make([]int, r)
	for i := range r {
		if a.Kernel[i] < 1 || a.Strides[i] < 1 || a.Dilations[i] < 1 || a.Pads[i] < 0 || a.Pads[r+i] < 0 {
			return p, shapeErr(n, "axis %d: kernel %d, stride %d and dilation %d must be positive, pads %d and %d non-negative",
				i, a.Kernel[i], a.Strides[i], a.Dilations[i], a.Pads[i], a.Pads[r+i])
		}
		span := a.Dilations[i]*(a.Kernel[i]-1) + 1
		padded := in[i] + a.Pads[i] + a.Pads[r+i]
		if padded < span {
			return p, shapeErr(n, "axis %d: the window (%d with dilation) is larger than the padded image (%d)", i, span, padded)
		}
		p.Out[i] = (padded-span)/a.Strides[i] + 1
	}
	return p, nil
}

// Source is the image index along axis i read by kernel offset k at output
// position o, and whether it lies inside the image (else it is padding).
func (p Patches) Source(i, k, o int) (int, bool) {
	x := o*p.Strides[i] + k*p.Dilations[i] - p.Pads[i]
	return x, x >= 0 && x < p.In[i]
}

func inferIm2Col(n *Node) (Type, error) {
	x := n.Inputs[0]
	if err := needFloat(n, x); err != nil {
		return Type{}, err
	}
	s := x.Type.Shape
	if s.Rank() < 3 {
		return Type{}, shapeErr(n, "operand %s must be [N, C, spatial…]", s)
	}
	p, err := PatchesOf(n, s[2:])
	if err != nil {
		return Type{}, err
	}
	out := append(append(Shape{s[0], s[1]}, p.Kernel...), p.Out...)
	return Type{DType: x.Type.DType, Shape: out}, nil
}

func inferCol2Im(n *Node) (Type, error) {
	x := n.Inputs[0]
	if err := needFloat(n, x); err != nil {
		return Type{}, err
	}
	img := n.Attrs.Shape
	r := len(n.Attrs.Kernel)
	s := x.Type.Shape
	if s.Rank() != 2+2*r || len(img) != r {
		return Type{}, shapeErr(n, "operand %s must be [N, C, kernel…, positions…] for kernel %s and image %s", s, intList(n.Attrs.Kernel), intList(img))
	}
	p, err := PatchesOf(n, img)
	if err != nil {
		return Type{}, err
	}
	want := append(append(Shape{s[0], s[1]}, p.Kernel...), p.Out...)
	if !want.Equal(s) {
		return Type{}, shapeErr(n, "operand %s does not match the columns %s of image %s", s, want, intList(img))
	}
	return Type{DType: x.Type.DType, Shape: append(Shape{s[0], s[1]}, img...)}, nil
}

func patchAttrs(a Attrs) Attrs {
	return Attrs{Kernel: append([]int{}, a.Kernel...), Strides: append([]int{}, a.Strides...),
		Dilations: append([]int{}, a.Dilations...), Pads: append([]int{}, a.Pads...)}
}

// gradIm2Col: dx = Col2Im(dy), each window's gradient added back where it was read.
func gradIm2Col(b *Builder, n, dy *Node) []*Node {
	a := patchAttrs(n.Attrs)
	a.Shape = n.Inputs[0].Type.Shape[2:].Clone()
	return []*Node{b.Apply(OpCol2Im, a, dy)}
}

// gradCol2Im: dcols = Im2Col(dy) with zero padding.
func gradCol2Im(b *Builder, n, dy *Node) []*Node {
	return []*Node{b.Apply(OpIm2Col, patchAttrs(n.Attrs), dy)}
}

func mathPatches(name string) func(n *Node, a []string) string {
	return func(n *Node, a []string) string {
		return fmt.Sprintf("%s(%s, k=%s, s=%s, d=%s, p=%s)", name, a[0], intList(n.Attrs.Kernel), intList(n.Attrs.Strides), intList(n.Attrs.Dilations), intList(n.Attrs.Pads))
	}
}
