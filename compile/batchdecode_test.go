package compile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// slotPlan is a continuous-batching schedule for B slots: before step s the
// slots resets[s] start a new sequence (ResetSlot); every step feeds
// tokens[s] (one per slot). Slot b at step s is token at[s][b] = {k, i} of
// sequence seqs[k], or {-1, 0} while it is idle (fed token 0, not
// compared).
type slotPlan struct {
	Tokens [][]int32
	Resets [][]int
	At     [][][2]int
	Seqs   [][]int32
}

// newSlotPlan staggers the slots' starts (slot b starts at step 2b), and
// gives slot 0 a second sequence half way, so that the slots are at
// different positions at every step and a slot is reused.
func newSlotPlan(B, ctx, vocab int) slotPlan {
	var p slotPlan
	cur := make([][2]int, B) // the slot's sequence and index, −1 idle
	for b := range cur {
		cur[b] = [2]int{-1, 0}
	}
	for s := range ctx {
		var resets []int
		for b := range B {
			if s == 2*b || (b == 0 && s == ctx/2) {
				resets = append(resets, b)
				k := len(p.Seqs)
				seq := make([]int32, ctx)
				for i := range seq {
					seq[i] = int32((5*b + 11*k + 3*i + 1) % vocab)
				}
				p.Seqs = append(p.Seqs, seq)
				cur[b] = [2]int{k, 0}
			}
		}
		toks, at := make([]int32, B), make([][2]int, B)
		for b := range B {
			at[b] = cur[b]
			if k := cur[b][0]; k >= 0 {
				toks[b] = p.Seqs[k][cur[b][1]]
				cur[b][1]++
			}
		}
		p.Tokens, p.Resets, p.At = append(p.Tokens, toks), append(p.Resets, resets), append(p.At, at)
	}
	return p
}

// slotLogits are what a run of a plan gives: the batch's logits at every
// step, and each sequence's logits decoded alone.
type slotLogits struct {
	Batch [][]float64
	Alone [][][]float64
}

// check compares every compared slot of every step with the sequence
// decoded alone.
func (p slotPlan) check(t *testing.T, what string, got slotLogits, vocab int, tol float64) {
	t.Helper()
	compared := 0
	for s, at := range p.At {
		for b, ki := range at {
			if ki[0] < 0 {
				continue
			}
			row, want := got.Batch[s][b*vocab:(b+1)*vocab], got.Alone[ki[0]][ki[1]]
			for j := range want {
				if math.Abs(row[j]-want[j]) > tol*math.Max(1, math.Abs(want[j])) {
					t.Fatalf("%s: step %d, slot %d (sequence %d, token %d): logit %d is %.17g batched, %.17g alone", what, s, b, ki[0], ki[1], j, row[j], want[j])
				}
			}
			compared++
		}
	}
	if compared < len(p.At) {
		t.Fatalf("%s: only %d slot-steps compared", what, compared)
	}
}

// TestBatchDecodeMatchesAlone: a batch of B sequences decoding at positions
// of their own (slots started at different steps, one reset and reused)
// gives every sequence the logits it gets decoded alone by the batch-1
// model: in the interpreter, and in generated code (f64 to 1e-12, f32 to
// 1e-5), whose batched DecodeStep also allocates nothing.
func TestBatchDecodeMatchesAlone(t *testing.T) {
	testutil.Long(t, "builds generated decoders")
	const B, ctx, vocab = 3, 12, 32
	plan := newSlotPlan(B, ctx, vocab)
	for _, c := range []struct{ model, config string }{
		{"gpt", "vocab=32,ctx=12,d=32,heads=2,layers=2,ffn=32"},                        // learned positions
		{"llama", "vocab=32,ctx=12,d=32,heads=4,kv_heads=2,layers=2,ffn=24,tie=false"}, // RoPE, grouped queries
	} {
		for _, dt := range []graph.DType{graph.F64, graph.F32} {
			t.Run(c.model+"/"+dt.String(), func(t *testing.T) {
				one, err := compile.Zoo(c.model, c.config+",batch=1", compile.Options{Float: dt, Decode: "on"})
				if err != nil {
					t.Fatal(err)
				}
				bat, err := compile.Zoo(c.model, c.config+fmt.Sprintf(",batch=%d", B), compile.Options{Float: dt, Decode: "on"})
				if err != nil {
					t.Fatal(err)
				}
				if s := bat.Program.Decode.Find(graph.KVPosName).Type.Shape; !s.Equal(graph.Shape{B}) {
					t.Fatalf("the batch's position is %v, not one per sequence", s)
				}
				tol := 1e-12
				if dt == graph.F32 {
					tol = 1e-5
				}
				if dt == graph.F64 {
					plan.check(t, "interpreter", interpretSlots(t, one.Program, bat.Program, plan), vocab, 1e-12)
				}
				plan.check(t, "generated", generateSlots(t, one.Program, bat.Program, plan), vocab, tol)
			})
		}
	}
}

func interpretSlots(t *testing.T, one, bat *graph.Program, plan slotPlan) slotLogits {
	p1, err := runtime.NewProgram(one, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := runtime.NewProgram(bat, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out slotLogits
	step := func(pr *runtime.Program, toks []int32) []float64 {
		ids := runtime.NewTensor(graph.T(graph.I32, len(toks), 1))
		for i, x := range toks {
			ids.Set(i, float64(x))
		}
		res, err := pr.DecodeStep(ids)
		if err != nil {
			t.Fatal(err)
		}
		lg := res["logits"]
		row := make([]float64, lg.Len())
		for i := range row {
			row[i] = lg.At(i)
		}
		return row
	}
	for s, toks := range plan.Tokens {
		for _, b := range plan.Resets[s] {
			if err := pb.ResetSlot(b); err != nil {
				t.Fatal(err)
			}
		}
		out.Batch = append(out.Batch, step(pb, toks))
	}
	for _, seq := range plan.Seqs {
		p1.Reset()
		var rows [][]float64
		for _, x := range seq {
			rows = append(rows, step(p1, []int32{x}))
		}
		out.Alone = append(out.Alone, rows)
	}
	return out
}

// slotMain runs the plan (JSON on stdin) on the generated packages one and
// batch and prints the logits (JSON), after checking that a batched step
// allocates nothing.
const slotMain = `package main

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"slots/batch"
	"slots/one"
)

type plan struct {
	Tokens [][]int32
	Resets [][]int
	Seqs   [][]int32
}

func f64(x []%[1]s) []float64 {
	r := make([]float64, len(x))
	for i, v := range x {
		r[i] = float64(v)
	}
	return r
}

func main() {
	var p plan
	if err := json.NewDecoder(os.Stdin).Decode(&p); err != nil {
		panic(err)
	}
	m1, mb := one.New(), batch.New()
	var out struct{ Batch [][]float64; Alone [][][]float64 }
	for s, toks := range p.Tokens {
		for _, b := range p.Resets[s] {
			if err := mb.ResetSlot(b); err != nil {
				panic(err)
			}
		}
		lg, err := mb.DecodeStep(toks)
		if err != nil {
			panic(err)
		}
		out.Batch = append(out.Batch, f64(lg))
	}
	for _, seq := range p.Seqs {
		m1.Reset()
		var rows [][]float64
		for _, x := range seq {
			lg, err := m1.DecodeStep([]int32{x})
			if err != nil {
				panic(err)
			}
			rows = append(rows, f64(lg))
		}
		out.Alone = append(out.Alone, rows)
	}
	mb.Reset()
	toks := p.Tokens[0]
	if a := testing.AllocsPerRun(5, func() {
		if _, err := mb.DecodeStep(toks); err != nil {
			panic(err)
		}
	}); a != 0 {
		fmt.Fprintf(os.Stderr, "batched DecodeStep: %%v allocations\n", a)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
`

func generateSlots(t *testing.T, one, bat *graph.Program, plan slotPlan) slotLogits {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for pkg, prog := range map[string]*graph.Program{"one": one, "batch": bat} {
		files, err := codegen.Generate(prog, codegen.Options{Package: pkg})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			write(filepath.Join(pkg, f.Name), f.Data)
		}
	}
	T := "float64"
	if one.Float == graph.F32 {
		T = "float32"
	}
	write("go.mod", []byte("module slots\n\ngo 1.26\n"))
	write("main.go", fmt.Appendf(nil, slotMain, T))
	in, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the generated packages: %v", err)
	}
	var out slotLogits
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
