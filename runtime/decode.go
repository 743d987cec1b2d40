package runtime

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// This file is the interpreter's side of KV-cache decoding: Prefill and
// DecodeStep over the graphs passes.KVCache derives, with the same contract
// as the generated Model's methods of those names.

// HasDecode reports whether the program has KV-cache entry points.
func (pr *Program) HasDecode() bool { return pr.prefill != nil }

// Context is the number of positions the caches hold (0 without them).
func (pr *Program) Context() int {
	if pr.prefill == nil {
		return 0
	}
	in := pr.prefillIDs().Type.Shape
	return in[len(in)-1]
}

func (pr *Program) prefillIDs() *graph.Node { return pr.P.Prefill.Find(pr.decodeIDs().Name) }
func (pr *Program) decodeIDs() *graph.Node  { return pr.P.Decode.Inputs()[0] }

// ContextInputs are the inputs Prefill reads besides the decoder's ids: the
// source of an encoder-decoder, whole (nil for a decoder-only model).
func (pr *Program) ContextInputs() []*graph.Node {
	if pr.prefill == nil {
		return nil
	}
	var ins []*graph.Node
	for _, n := range pr.P.Prefill.Inputs() {
		if n.Name != pr.decodeIDs().Name && n.Name != graph.KVLengthName {
			ins = append(ins, n)
		}
	}
	return ins
}

// Pos is the number of positions the caches hold: the position DecodeStep
// computes next. With a position per sequence of the batch it is the
// largest (see SlotPos).
func (pr *Program) Pos() int {
	if pr.prefill == nil {
		return 0
	}
	p := pr.vars[graph.KVPosName]
	t := 0
	for i := range p.Len() {
		t = max(t, int(p.At(i)))
	}
	return t
}

// Slots is the number of sequences of the batch that decode at positions
// of their own: the length of the position vector, 1 for one shared position.
func (pr *Program) Slots() int {
	if pr.prefill == nil {
		return 0
	}
	return pr.vars[graph.KVPosName].Len()
}

// SlotPos is the position DecodeStep computes next for sequence b.
func (pr *Program) SlotPos(b int) int { return int(pr.vars[graph.KVPosName].At(b)) }

// ResetSlot starts sequence b of the batch again at position 0, leaving the
// others where they are (the generated Model's ResetSlot).
func (pr *Program) ResetSlot(b int) error {
	if b < 0 || b >= pr.Slots() {
		return fmt.Errorf("ResetSlot: slot %d is not in [0, %d)", b, pr.Slots())
	}
	pr.vars[graph.KVPosName].Set(b, 0)
	return nil
}

// Reset empties the caches.
func (pr *Program) Reset() {
	for _, n := range pr.P.Decode.NodesWithOp(graph.OpState) {
		pr.vars[n.Name].Zero()
	}
}

// Prefill runs a prompt: ids shaped like the full forward's ids with the
// last (sequence) axis n ≤ context. It fills the caches with the prompt's
// keys and values, sets Pos to n and returns the outputs of the whole
// padded window: positions ≥ n hold padding and mean nothing.
func (pr *Program) Prefill(ids *Tensor) (map[string]*Tensor, error) {
	return pr.PrefillWith(ids, nil)
}

// PrefillWith is Prefill for an encoder-decoder: context holds the
// ContextInputs (the source), which Prefill encodes once; DecodeStep reads
// what it kept (cross-attention's keys and values).
func (pr *Program) PrefillWith(ids *Tensor, context map[string]*Tensor) (map[string]*Tensor, error) {
	if pr.prefill == nil {
		return nil, fmt.Errorf("%s has no KV-cache decoding (it is not a causal decoder)", pr.P.Name)
	}
	in := pr.prefillIDs()
	full := in.Type.Shape
	ctx := full[len(full)-1]
	rows := full.Size() / ctx
	s := ids.Shape
	if ids.DType != graph.I32 || len(s) != len(full) || !s[:len(s)-1].Equal(full[:len(full)-1]) || s[len(s)-1] < 1 || s[len(s)-1] > ctx {
		return nil, fmt.Errorf("Prefill: ids are %s, want %s with the last axis 1..%d", ids.Type(), full[:len(full)-1].String()+"×n", ctx)
	}
	n := s[len(s)-1]
	padded := NewTensor(in.Type)
	for r := range rows {
		for j := range n {
			padded.Set(r*ctx+j, ids.At(r*n+j))
		}
	}
	length := NewTensor(pr.P.Prefill.Find(graph.KVLengthName).Type)
	length.Set(0, float64(n))
	feed := map[string]*Tensor{in.Name: padded, graph.KVLengthName: length}
	for _, c := range pr.ContextInputs() {
		feed[c.Name] = context[c.Name]
		if feed[c.Name] == nil {
			return nil, fmt.Errorf("Prefill: the input %s %s is missing", c.Name, c.Type)
		}
	}
	if err := pr.prefill.Run(feed); err != nil {
		return nil, err
	}
	return outputs(pr.prefill), nil
}

// DecodeStep runs one new position Pos for ids shaped like the full
// forward's with the sequence axis 1, appends its keys and values to the
// caches and advances Pos. Past the context it is an error, and nothing
// changes.
func (pr *Program) DecodeStep(ids *Tensor) (map[string]*Tensor, error) {
	if pr.decode == nil {
		return nil, fmt.Errorf("%s has no KV-cache decoding (it is not a causal decoder)", pr.P.Name)
	}
	if t, ctx := pr.Pos(), pr.Context(); t >= ctx {
		return nil, fmt.Errorf("DecodeStep: position %d is past the context of %d: Prefill or Reset to start again", t, ctx)
	}
	in := pr.decodeIDs()
	if err := pr.decode.Run(map[string]*Tensor{in.Name: ids}); err != nil {
		return nil, err
	}
	return outputs(pr.decode), nil
}

func outputs(it *Interpreter) map[string]*Tensor {
	out := map[string]*Tensor{}
	for _, o := range it.G.Results() {
		out[o.Name] = it.Value(o.Node)
	}
	return out
}

// SeqAxis is the sequence axis of a full-forward output, found by comparing
// its shape with the one-position (Decode) output of the same name.
func SeqAxis(full, one graph.Shape) int {
	for i := range full {
		if full[i] != one[i] {
			return i
		}
	}
	return len(full) - 1 // a context of 1: any axis of extent 1
}

// DecodeAll runs a full sequence the KV-cache way: Prefill on its first
// prefill positions, then DecodeStep for each later one. It returns every
// output assembled over all positions, shaped like Predict's, so the two
// can be compared element by element.
func (pr *Program) DecodeAll(ids *Tensor, prefill int) (map[string]*Tensor, error) {
	return pr.DecodeAllWith(ids, nil, prefill)
}

// DecodeAllWith is DecodeAll for an encoder-decoder, with the context
// inputs for Prefill.
func (pr *Program) DecodeAllWith(ids *Tensor, context map[string]*Tensor, prefill int) (map[string]*Tensor, error) {
	if pr.prefill == nil {
		return nil, fmt.Errorf("%s has no KV-cache decoding (it is not a causal decoder)", pr.P.Name)
	}
	s := ids.Shape
	T := s[len(s)-1]
	if prefill < 1 || prefill > T {
		return nil, fmt.Errorf("prefill %d positions of a sequence of %d", prefill, T)
	}
	rows := s.Size() / T
	slice := func(from, n int) *Tensor {
		sh := s.Clone()
		sh[len(sh)-1] = n
		t := NewTensor(graph.T(graph.I32, sh...))
		for r := range rows {
			for j := range n {
				t.Set(r*n+j, ids.At(r*T+from+j))
			}
		}
		return t
	}
	outs := map[string]*Tensor{}
	for _, o := range pr.P.Predict.Results() {
		outs[o.Name] = NewTensor(o.Node.Type)
	}
	// put copies positions [from, from+n) of src (whose sequence axis has
	// extent srcT) into the assembled output.
	put := func(name string, src *Tensor, from, n int) {
		dst := outs[name]
		ax := SeqAxis(dst.Shape, pr.P.Decode.Output(name).Type.Shape)
		outer := graph.Shape(dst.Shape[:ax]).Size()
		inner := graph.Shape(dst.Shape[ax+1:]).Size()
		srcT, dstT := src.Shape[ax], dst.Shape[ax]
		for o := range outer {
			for j := range n {
				for i := range inner {
					dst.Set((o*dstT+from+j)*inner+i, src.At((o*srcT+j)*inner+i))
				}
			}
		}
	}
	first, err := pr.PrefillWith(slice(0, prefill), context)
	if err != nil {
		return nil, err
	}
	for name, t := range first {
		put(name, t, 0, prefill)
	}
	for p := prefill; p < T; p++ {
		step, err := pr.DecodeStep(slice(p, 1))
		if err != nil {
			return nil, err
		}
		for name, t := range step {
			put(name, t, p, 1)
		}
	}
	return outs, nil
}
