package passes_test

import (
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// TestKVCacheRefusesNonCausal: BERT's attention is bidirectional, so the
// rewrite is refused with the reason and the node that blocks it.
func TestKVCacheRefusesNonCausal(t *testing.T) {
	res, err := compile.Zoo("bert", "", compile.Options{Decode: "off"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = passes.KVCache(res.Program.Predict.Clone())
	if err == nil || !strings.Contains(err.Error(), "is not causal") || !strings.Contains(err.Error(), "models/bert/bert.go:") {
		t.Fatalf("err = %v", err)
	}
	_, err = compile.Zoo("bert", "", compile.Options{Decode: "on"})
	if err == nil || !strings.Contains(err.Error(), "cannot derive KV-cache decoding") {
		t.Fatalf("Decode on: err = %v", err)
	}
	_, err = compile.Zoo("mlp", "", compile.Options{Decode: "on"})
	if err == nil || !strings.Contains(err.Error(), "takes token ids only") {
		t.Fatalf("mlp: err = %v", err)
	}
}

func TestKVCacheGraphs(t *testing.T) {
	for _, c := range []struct{ model, config string }{{"tinydecoder", ""}, {"gpt", "vocab=32,ctx=8,d=16,heads=2,layers=2,ffn=32,batch=1"},
		{"llama", "vocab=32,ctx=8,d=16,heads=4,kv_heads=2,layers=2,ffn=24,batch=1"}} {
		res, err := compile.Zoo(c.model, c.config, compile.Options{Decode: "on", Float: graph.F64})
		if err != nil {
			t.Fatal(err)
		}
		p := res.Program
		if p.Decode == nil || p.Prefill == nil {
			t.Fatalf("%s: no decode graphs", c.model)
		}
		if n := len(p.Decode.NodesWithOp(graph.OpAttendCache)); n == 0 {
			t.Fatalf("%s: decode has no AttendCache", c.model)
		}
		if n := len(p.Decode.NodesWithOp(graph.OpCausalMask)); n != 0 {
			t.Fatalf("%s: decode still has %d causal masks", c.model, n)
		}
	}
}
