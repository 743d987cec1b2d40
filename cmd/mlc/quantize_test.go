package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// TestStatsPrecisions: mlc stats gives the bytes of each precision, from
// compiled programs. For a small gpt: bf16 mixed-precision training keeps
// f32 master weights, f32 gradients and f32 Adam state (4 bytes each per
// parameter) and stores activations in bf16, fewer bytes than f32's;
// int8 weights shrink every weight matrix to a quarter (plus its f32
// scales), bf16 to a half, and the rest stays f32. -precision bf16 reports
// the bf16 program in the summary and the same rows.
func TestStatsPrecisions(t *testing.T) {
	code, out, errOut := runCLI("stats", "-model", "gpt", "-config", "vocab=64,ctx=16,d=32,heads=2,layers=2,ffn=64,tied=false,batch=2", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s modelStats
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	rows := map[string]precisionRow{}
	for _, r := range s.Precisions {
		rows[r.Name] = r
	}
	f32, bf, i8, h := rows["f32 train"], rows[precBF16Train], rows["int8 weights predict"], rows["bf16 weights predict"]
	P := s.Params
	if f32.Weights != 4*P || bf.Weights != 4*P || bf.Grads != 4*P || bf.State != f32.State || bf.Activations >= f32.Activations || bf.Activations == 0 || s.Estimate18 != 18*P {
		t.Errorf("training rows %+v and %+v for %d parameters", f32, bf, P)
	}
	code, out, errOut = runCLI("stats", "-model", "gpt", "-config", "vocab=64,ctx=16,d=32,heads=2,layers=2,ffn=64,tied=false,batch=2", "-precision", "bf16", "-json")
	if code != 0 {
		t.Fatalf("-precision bf16: exit %d: %s", code, errOut)
	}
	var sb modelStats
	if err := json.Unmarshal([]byte(out), &sb); err != nil {
		t.Fatal(err)
	}
	if sb.Precision != "bf16" || sb.ActPlanned != bf.Activations || len(sb.Precisions) != len(s.Precisions) || sb.Precisions[1] != bf {
		t.Errorf("-precision bf16: precision %q, planned activations %d (the bf16 row has %d), rows %+v", sb.Precision, sb.ActPlanned, bf.Activations, sb.Precisions)
	}
	if code, _, errOut := runCLI("stats", "-model", "gpt", "-precision", "f16"); code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("-precision f16: exit %d, %q; want a one-line error", code, errOut)
	}
	// The weight matrices: per layer Wq, Wk, Wv, Wo (32×32) and the MLP's
	// 32×64 and 64×32, and lm_head 32×64; each i8 matrix has f32 scales,
	// one per output column.
	mats := 2*(4*32*32+2*32*64) + 32*64
	cols := 2*(4*32+64+32) + 64
	rest := P - mats
	if i8.Weights != mats+4*cols+4*rest || h.Weights != 2*mats+4*rest {
		t.Errorf("inference weights: int8 %d bytes, want %d; bf16 %d, want %d", i8.Weights, mats+4*cols+4*rest, h.Weights, 2*mats+4*rest)
	}
	if pred := rows["f32 predict"]; pred.Weights != 4*P || i8.Activations != pred.Activations || i8.Grads != 0 {
		t.Errorf("predict rows %+v, %+v", pred, i8)
	}
}

// TestQuantizeCheckpoint: mlc quantize turns a trained checkpoint into a
// safetensors file with I8 weight matrices, their F32 scales and the other
// parameters in F32 (BF16 matrices with -weights bf16), under the names
// docs/low-precision.md gives; mlc compile -weights -ckpt compiles the same
// weights; bad flags are one-line errors.
func TestQuantizeCheckpoint(t *testing.T) {
	testutil.Long(t, "trains a language model")
	config := "vocab=300,ctx=16,d=32,heads=2,layers=1,ffn=64,batch=2"
	_, ckpt := trainOnGoCorpus(t, "gpt", config, "-steps", "3")
	root := t.TempDir()
	ck, err := safetensors.LoadCheckpoint(filepath.Join(ckpt, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ flag, dtype string }{{"int8", safetensors.I8}, {"bf16", safetensors.BF16}} {
		out := filepath.Join(root, w.flag+".safetensors")
		if code, _, errs := runCLI("quantize", "-ckpt", ckpt, "-weights", w.flag, "-o", out); code != 0 {
			t.Fatalf("quantize %s: exit %d: %s", w.flag, code, errs)
		}
		f, err := safetensors.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if f.Metadata["mlc.weights"] != w.flag || f.Metadata["mlc.model"] != "gpt" {
			t.Errorf("%s: metadata %v", w.flag, f.Metadata)
		}
		wq, _ := f.Lookup("h0.mlp.W1")
		scale, _ := f.Lookup("h0.mlp.W1.scale")
		tied, _ := f.Lookup("wte.q")
		wte, _ := f.Lookup("wte")
		b1, _ := f.Lookup("h0.mlp.b1")
		switch {
		case wq == nil || wq.DType != w.dtype || len(wq.Shape) != 2 || wq.Shape[0] != 32 || wq.Shape[1] != 64:
			t.Fatalf("%s: h0.mlp.W1 is %+v", w.flag, wq)
		case (w.flag == "int8") != (scale != nil) || scale != nil && (scale.DType != safetensors.F32 || scale.Shape[0] != 64):
			t.Fatalf("%s: h0.mlp.W1.scale is %+v", w.flag, scale)
		case tied == nil || tied.DType != w.dtype || tied.Shape[0] != 32 || tied.Shape[1] != 300:
			t.Fatalf("%s: wte.q (the tied projection, [d, vocab]) is %+v", w.flag, tied)
		case wte == nil || wte.DType != safetensors.F32 || b1 == nil || b1.DType != safetensors.F32:
			t.Fatalf("%s: wte %+v, b1 %+v: want F32", w.flag, wte, b1)
		}
		// The converted values are the trained ones: the first int8 weight
		// times its column's scale is within half a step of the checkpoint's.
		orig, _ := ck.Param("h0.mlp.W1")
		if w.flag == "int8" {
			if d := float64(wq.I8[0])*float64(scale.F32[0]) - float64(orig.F32[0]); d*d > float64(scale.F32[0]*scale.F32[0])/4*1.0001 {
				t.Errorf("W1[0,0]: %d × %v is not the trained %v", wq.I8[0], scale.F32[0], orig.F32[0])
			}
		}
	}
	// mlc eval: the f32 validation loss is the one training reported, and
	// int8 weights stay within 1% of it (the interpreter: no runner build).
	var losses []float64
	for _, w := range []string{"", "int8"} {
		code, out, errs := runCLI("eval", "-ckpt", ckpt, "-weights", w, "-engine", "interp", "-batches", "2")
		var l float64
		if _, err := fmt.Sscanf(out, "validation loss %f", &l); code != 0 || err != nil || !(l > 0) {
			t.Fatalf("eval -weights %q: exit %d, %q %s", w, code, out, errs)
		}
		losses = append(losses, l)
	}
	if d := math.Abs(losses[1]-losses[0]) / losses[0]; d > 0.01 || d == 0 {
		t.Errorf("validation loss %v with int8 weights, %v with f32: relative difference %.3g, want in (0, 0.01]", losses[1], losses[0], d)
	}
	if code, _, errs := runCLI("compile", "-ckpt", ckpt, "-weights", "int8", "-config", "batch=1", "-o", filepath.Join(root, "pkg")); code != 0 {
		t.Fatalf("compile -weights int8 -ckpt: exit %d: %s", code, errs)
	}
	// The file of mlc quantize compiles to the same package.
	if code, _, errs := runCLI("compile", "-weights-file", filepath.Join(root, "int8.safetensors"), "-config", "batch=1", "-o", filepath.Join(root, "pkgfile")); code != 0 {
		t.Fatalf("compile -weights-file: exit %d: %s", code, errs)
	}
	for _, name := range []string{"model.go", "mlc_weights.bin"} {
		a, errA := os.ReadFile(filepath.Join(root, "pkg", name))
		b, errB := os.ReadFile(filepath.Join(root, "pkgfile", name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: compiled from the checkpoint and from the quantized file, the packages differ (%v, %v)", name, errA, errB)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"quantize", "-weights", "int8", "-o", "x"}, "-ckpt DIR is required"},
		{[]string{"quantize", "-ckpt", ckpt, "-o", "x"}, "-weights int8 or -weights bf16 is required"},
		{[]string{"quantize", "-ckpt", ckpt, "-weights", "int4", "-o", "x"}, `-weights must be int8, bf16 or f32, got "int4"`},
		{[]string{"compile", "-model", "gpt", "-weights", "int8", "-dtype", "f64", "-o", filepath.Join(root, "x")}, "low-precision weights need -dtype f32"},
		{[]string{"compile", "-weights-file", filepath.Join(root, "int8.safetensors"), "-weights", "bf16", "-o", filepath.Join(root, "x")}, `the weights file holds "int8" weights`},
		{[]string{"compile", "-weights-file", filepath.Join(ckpt, "checkpoint.safetensors"), "-o", filepath.Join(root, "x")}, "not a file of mlc quantize"},
		{[]string{"compile", "-weights-file", "x", "-ckpt", ckpt, "-o", filepath.Join(root, "x")}, "give -ckpt or -weights-file, not both"},
	} {
		code, _, errs := runCLI(c.args...)
		if code == 0 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, %q; want the one-line error %q", c.args, code, errs, c.want)
		}
	}
}

// TestBenchVsF32: mlc bench -weights int8 -vs-f32 times the int8 and the f32
// builds alternately, on the quantised program's entries (no TrainStep),
// and names both; -vs-f32 without -weights is a one-line error.
func TestBenchVsF32(t *testing.T) {
	testutil.Long(t, "builds generated packages")
	code, out, errOut := runCLI("bench", "-model", "gpt", "-config", "vocab=32,ctx=8,d=32,heads=2,layers=1,ffn=64,batch=1", "-weights", "int8", "-vs-f32", "-runs", "3", "-time", "2ms", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		A, B    string
		Entries []compile.PairEntry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, e := range rep.Entries {
		entries = append(entries, e.Entry)
		if e.A == nil || e.B == nil || e.A.Runs != 3 || e.Ratio != e.B.NsMedian/e.A.NsMedian {
			t.Errorf("%s: %+v", e.Entry, e)
		}
	}
	if rep.A != "int8 weights" || rep.B != "f32 weights" || strings.Join(entries, ",") != "Predict,DecodeStep" {
		t.Errorf("compared %q with %q on %v", rep.A, rep.B, entries)
	}
	if code, _, errs := runCLI("bench", "-model", "gpt", "-vs-f32"); code == 0 || !strings.Contains(errs, "-vs-f32 compares -weights int8 or bf16, or -precision bf16") {
		t.Errorf("-vs-f32 alone: exit %d, %q", code, errs)
	}
}
