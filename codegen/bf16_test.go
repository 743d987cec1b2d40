package codegen_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
)

// TestBF16Products: under bf16 mixed precision every product of the
// training step runs on gemmBF16 (or gemmBF16OnThread, in split kernels
// and fused attention), with the packing buffers reserved in New; no
// rounding loop is left (each RoundBF16 is folded into the products that
// read it), and the f32 build has none of it.
func TestBF16Products(t *testing.T) {
	const config = "vocab=64,ctx=16,d=32,heads=2,layers=1,ffn=128,batch=2"
	src := func(o compile.Options) string {
		t.Helper()
		o.Float = graph.F32
		res, err := compile.Zoo("gpt", config, o)
		if err != nil {
			t.Fatal(err)
		}
		files, err := compile.Generate(res, "gpt")
		if err != nil {
			t.Fatal(err)
		}
		return string(files[0].Data)
	}
	bf16 := src(compile.Options{Precision: graph.BF16})
	train := bf16[strings.Index(bf16, "func (m *Model) forward("):]
	train = train[:strings.Index(train, "func (m *Model) update(")]
	if n := len(regexp.MustCompile(`\bgemmBF16(OnThread)?\(`).FindAllString(train, -1)); n < 10 {
		t.Errorf("forward and backward call the bf16 product %d times, want every product (≥ 10)", n)
	}
	if regexp.MustCompile(`\bgemm(Small|OnThread)?\(`).MatchString(train) {
		t.Errorf("forward or backward still calls an f32 product")
	}
	if strings.Contains(train, "roundBF16(") {
		t.Errorf("a rounding loop is left in forward or backward")
	}
	if !strings.Contains(bf16, "reserveBF16(m.pool") {
		t.Errorf("New reserves no bf16 packing buffers")
	}
	if !strings.Contains(bf16, "fused causal attention") {
		t.Errorf("attention is not fused under bf16")
	}
	if f32 := src(compile.Options{}); strings.Contains(f32, "BF16") {
		t.Errorf("the f32 build calls bf16 code")
	}
}
