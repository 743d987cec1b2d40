package compile_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/runtime"
)

// decoderConfigs span the decoders the KV-cache rewrite must serve: gpt
// pre- and post-norm with 1 to 4 heads and 1 to 3 layers (tied and untied,
// GELU and ReLU, one sequence and a batch of two), tinydecoder, and llama
// (RoPE at the absolute position) with multi-head, grouped-query and
// multi-query attention, and the seq2seq encoder-decoder (the source
// encoded once by Prefill, cross-attention's keys and values kept).
var decoderConfigs = []struct{ model, config string }{
	{"tinydecoder", ""},
	{"gpt", "vocab=32,ctx=8,d=16,heads=1,layers=1,ffn=32,norm=pre,batch=1"},
	{"gpt", "vocab=32,ctx=16,d=16,heads=2,layers=2,ffn=32,norm=post,act=relu,batch=2"}, // d = ctx: weights [d, d] look positional
	{"gpt", "vocab=32,ctx=12,d=24,heads=3,layers=3,ffn=32,norm=pre,tied=false,batch=1"},
	{"gpt", "vocab=32,ctx=8,d=16,heads=4,layers=3,ffn=32,norm=post,batch=1"},
	{"llama", "vocab=32,ctx=8,d=16,heads=2,kv_heads=2,layers=1,ffn=24,batch=1"},
	{"llama", "vocab=32,ctx=12,d=16,heads=4,kv_heads=2,layers=2,ffn=24,rope_theta=100,batch=2"},
	{"llama", "vocab=32,ctx=8,d=24,heads=4,kv_heads=1,layers=2,ffn=20,tie=false,batch=1"},
	{"seq2seq", "vocab=32,src_ctx=7,ctx=6,d=16,heads=4,kv_heads=2,enc_layers=2,dec_layers=2,ffn=24,batch=2"},
	{"seq2seq", "vocab=32,src_ctx=3,ctx=5,d=8,heads=2,kv_heads=2,enc_layers=1,dec_layers=1,ffn=8,batch=1"},
}

// TestKVCacheMatchesFullForward: Prefill on the first p positions and then
// DecodeStep one position at a time give, at every position, the logits of
// the full forward pass, f64 to 1e-10, in the interpreter and in generated
// code.
func TestKVCacheMatchesFullForward(t *testing.T) {
	testutil.Long(t, "builds generated decoders")
	for _, c := range decoderConfigs {
		t.Run(c.model+"/"+c.config, func(t *testing.T) {
			kvMatchesFull(t, c.model, c.config, graph.F64, 1e-10)
		})
	}
}

// TestKVCacheTiling: float32 decoders whose contexts are whole tiles keep
// their key caches in tiles (Prefill's whole-cache write, DecodeStep's
// write and attention each use the tiled form); float64 ones, and float32
// ones with a context of part of a tile, keep rows.
func TestKVCacheTiling(t *testing.T) {
	for _, c := range []struct {
		config string
		dt     graph.DType
		tiled  bool
	}{
		{"vocab=32,ctx=32,d=32,heads=2,layers=2,ffn=32,batch=1", graph.F32, true},
		{"vocab=32,ctx=16,d=24,heads=3,layers=1,ffn=32,batch=2", graph.F32, true},
		{"vocab=32,ctx=32,d=32,heads=2,layers=2,ffn=32,batch=1", graph.F64, false},
		{"vocab=32,ctx=12,d=24,heads=3,layers=1,ffn=32,batch=1", graph.F32, false},
	} {
		res, err := compile.Zoo("gpt", c.config, compile.Options{Float: c.dt, Decode: "on"})
		if err != nil {
			t.Fatal(err)
		}
		files, err := codegen.Generate(res.Program, codegen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var model string
		for _, f := range files {
			if f.Name == "model.go" {
				model = string(f.Data)
			}
		}
		for _, call := range []string{"attendRowTiled(", "cacheWriteTiled(", "tileKeys("} {
			if got := strings.Contains(model, call); got != c.tiled {
				t.Errorf("%s %s: model.go calls %s: %v, want %v", c.dt, c.config, call, got, c.tiled)
			}
		}
		if got := strings.Contains(model, "attendRow("); got == c.tiled {
			t.Errorf("%s %s: model.go calls attendRow: %v, want %v", c.dt, c.config, got, !c.tiled)
		}
	}
}

// TestKVCacheTiledMatchesFullForward is TestKVCacheMatchesFullForward for
// float32 decoders whose contexts are whole tiles, so that generated code
// keeps its key caches in tiles (attendRowTiled): one sequence and a batch,
// several heads, and llama's grouped queries (two query rows per key head);
// to 1e-4 relative.
func TestKVCacheTiledMatchesFullForward(t *testing.T) {
	testutil.Long(t, "builds generated decoders")
	for _, c := range tiledConfigs {
		t.Run(c.model+"/"+c.config, func(t *testing.T) {
			kvMatchesFull(t, c.model, c.config, graph.F32, 1e-4)
		})
	}
}

var tiledConfigs = []struct{ model, config string }{
	{"gpt", "vocab=32,ctx=32,d=32,heads=2,layers=2,ffn=32,norm=pre,batch=1"},
	{"gpt", "vocab=32,ctx=16,d=24,heads=3,layers=1,ffn=32,norm=post,batch=2"},
	{"llama", "vocab=32,ctx=16,d=32,heads=4,kv_heads=2,layers=2,ffn=24,batch=2"},
}

// kvMatchesFull: Prefill on the first p positions and then DecodeStep one
// position at a time give, at every position, the logits of the full
// forward pass, in dt to tol, in the interpreter and in generated code.
func kvMatchesFull(t *testing.T, model, config string, dt graph.DType, tol float64) {
	e, err := models.Lookup(model)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.Config(config)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compile.Zoo(model, config, compile.Options{Float: dt, Decode: "on"})
	if err != nil {
		t.Fatal(err)
	}
	prog := res.Program
	inputs := compile.ExampleInputs(prog, e.Example(cfg), 3)
	full, err := compile.RunInterpreted(prog, compile.RunRequest{Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	srv := startRunner(t, prog)
	ids := prog.Predict.Find(prog.Decode.Inputs()[0].Name).Type.Shape // the decoder's
	ctx := ids[len(ids)-1]
	for _, p := range slices.Compact([]int{1, ctx / 2, ctx}) {
		req := compile.RunRequest{Cmd: "predict", Inputs: inputs, Phase: "decode", Prefill: p}
		interp, err := compile.RunInterpreted(prog, req)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := srv.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range full.Outputs {
			compare(t, fmt.Sprintf("interpreter, prefill %d: %s", p, name), interp.Outputs[name], want, tol)
			compare(t, fmt.Sprintf("generated, prefill %d: %s", p, name), gen.Outputs[name], want, tol)
		}
	}
}

// TestDecodePastContext: the interpreter refuses a position past the
// context and leaves the caches as they were (the generated package's own
// TestDecodePastContext checks its DecodeStep).
func TestDecodePastContext(t *testing.T) {
	res, err := compile.Zoo("tinydecoder", "", compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := runtime.NewProgram(res.Program, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := runtime.NewTensor(graph.T(graph.I32, 3))
	if _, err := pr.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	if pr.Pos() != 3 {
		t.Fatalf("Pos after a 3-token prefill = %d", pr.Pos())
	}
	_, err = pr.DecodeStep(runtime.NewTensor(graph.T(graph.I32, 1)))
	if err == nil || !strings.Contains(err.Error(), "position 3 is past the context of 3") {
		t.Fatalf("err = %v", err)
	}
	if pr.Pos() != 3 {
		t.Fatalf("Pos after a refused step = %d", pr.Pos())
	}
	long := runtime.NewTensor(graph.T(graph.I32, 4))
	if _, err := pr.Prefill(long); err == nil || !strings.Contains(err.Error(), "last axis 1..3") {
		t.Fatalf("4-token prompt: err = %v", err)
	}
	pr.Reset()
	if pr.Pos() != 0 {
		t.Fatalf("Pos after Reset = %d", pr.Pos())
	}
}

// TestGenerateCacheMatchesNoCache: greedy generation with the KV cache and
// by recomputing the window give the same tokens (f64) up to the context,
// for gpt and for llama (RoPE, grouped-query attention).
func TestGenerateCacheMatchesNoCache(t *testing.T) {
	testutil.Long(t, "builds a generated decoder")
	res, err := compile.Zoo("gpt", "vocab=32,ctx=8,d=16,heads=2,layers=2,ffn=32,batch=1", compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	srv := startRunner(t, res.Program)
	run := func(noCache bool) []int32 { return greedy(t, srv, noCache) }
	cached, recomputed := run(false), run(true)
	if len(cached) != 6 || !slices.Equal(cached, recomputed) {
		t.Fatalf("with the cache %v, recomputing %v", cached, recomputed)
	}
	llamaRes, err := compile.Zoo("llama", "vocab=32,ctx=8,d=16,heads=4,kv_heads=2,layers=2,ffn=24,batch=1", compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	llamaSrv := startRunner(t, llamaRes.Program)
	if c, r := greedy(t, llamaSrv, false), greedy(t, llamaSrv, true); len(c) != 6 || !slices.Equal(c, r) {
		t.Fatalf("llama: with the cache %v, recomputing %v", c, r)
	}

	// A token id outside the vocabulary is an error that names the DSL line
	// and the id, in generation (both ways) and in Predict; the model stays
	// usable afterwards.
	const wantErr = "Gather: id 32 at position 1 is outside [0, 32)"
	for _, noCache := range []bool{false, true} {
		err := srv.Stream(compile.RunRequest{Cmd: "generate", Prompt: []int32{3, 32}, N: 2, NoCache: noCache}, func(*compile.ServerResult) error { return nil })
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), "models/gpt/gpt.go:") {
			t.Errorf("generate (no-cache %v) with id 32: %v", noCache, err)
		}
	}
	ids := runtime.JSONTensor{Shape: []int{1, 8}, Data: []runtime.JSONFloat{3, 32, 0, 0, 0, 0, 0, 0}}
	if _, err := srv.Do(compile.RunRequest{Cmd: "predict", Inputs: map[string]runtime.JSONTensor{"ids": ids}}); err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("predict with id 32: %v", err)
	}
	if again := run(false); !slices.Equal(again, cached) {
		t.Errorf("after the errors, generation gives %v, want %v", again, cached)
	}
}

// greedy samples 6 tokens greedily after the prompt 3, 1.
func greedy(t *testing.T, srv *compile.Server, noCache bool) []int32 {
	t.Helper()
	var toks []int32
	err := srv.Stream(compile.RunRequest{Cmd: "generate", Prompt: []int32{3, 1}, N: 6, NoCache: noCache}, func(r *compile.ServerResult) error {
		toks = append(toks, *r.Token)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// startRunner builds the generated runner of prog and starts it; the test
// stops it at its end.
func startRunner(t *testing.T, prog *graph.Program) *compile.Server {
	t.Helper()
	bin, err := compile.BuildRunner(prog)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := compile.StartServer(bin, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestKVCacheHoldsKVHeads: under grouped-query and multi-query attention
// the caches hold the kv_heads key and value heads only, and the generated
// Model allocates 2 × layers × ctx × kv_heads × head_dim × batch values for
// them (plus the position counter, one per sequence).
func TestKVCacheHoldsKVHeads(t *testing.T) {
	for _, c := range []struct {
		config                               string
		layers, ctx, kvHeads, headDim, batch int
	}{
		{"vocab=32,ctx=8,d=16,heads=4,kv_heads=4,layers=1,ffn=8,batch=1", 1, 8, 4, 4, 1},
		{"vocab=32,ctx=12,d=16,heads=4,kv_heads=2,layers=2,ffn=8,batch=3", 2, 12, 2, 4, 3},
		{"vocab=32,ctx=8,d=24,heads=4,kv_heads=1,layers=3,ffn=8,batch=2", 3, 8, 1, 6, 2},
	} {
		t.Run(c.config, func(t *testing.T) {
			res, err := compile.Zoo("llama", c.config, compile.Options{Float: graph.F64, Decode: "on"})
			if err != nil {
				t.Fatal(err)
			}
			caches := 0
			for _, n := range res.Program.Decode.Nodes {
				if n.Op != graph.OpState || !strings.HasSuffix(n.Name, ".cache") {
					continue
				}
				caches++
				if got, want := n.Type.Shape.Size(), c.ctx*c.kvHeads*c.headDim*c.batch; got != want {
					t.Errorf("cache %s is %s: %d values, want %d", n.Name, n.Type, got, want)
				}
			}
			if caches != 2*c.layers {
				t.Errorf("%d caches, want %d", caches, 2*c.layers)
			}
			values, err := codegen.CacheValues(res.Program)
			if err != nil {
				t.Fatal(err)
			}
			if want := 2*c.layers*c.ctx*c.kvHeads*c.headDim*c.batch + c.batch; values != want {
				t.Errorf("CacheValues = %d, want %d", values, want)
			}
		})
	}
}

// TestTranslateCacheMatchesNoCache: an encoder-decoder's output for a
// padded source, decoded greedily with the KV cache (Generate: the source
// encoded once) and without it (GenerateNoCache), is the same, and is the
// interpreter's greedy decoding by full forward passes (f64); sampling
// from a seed gives the same tokens both ways; StopToken ends the output after
// that token; bad requests are one-line errors.
func TestTranslateCacheMatchesNoCache(t *testing.T) {
	testutil.Long(t, "builds a generated encoder-decoder")
	const srcLen, ctx = 6, 7
	res, err := compile.Zoo("seq2seq", "vocab=32,src_ctx=6,ctx=7,d=16,heads=4,kv_heads=2,enc_layers=2,dec_layers=2,ffn=24,batch=1", compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	prog := res.Program
	if ok, c, v, src := codegen.EncoderDecoderShape(prog); !ok || c != ctx || v != 32 || src.Name != "src" {
		t.Fatalf("EncoderDecoderShape = %v, %d, %d, %v", ok, c, v, src)
	}
	srv := startRunner(t, prog)
	src := []int32{5, 9, 3, 0, 0, 0} // three real tokens, then padding
	const never = -1
	translate := func(noCache bool, n int, stop int32, sm compile.Sampling) []int32 {
		t.Helper()
		out, err := srv.Translate(src, []int32{1}, n, stop, sm, noCache)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cached, recomputed := translate(false, ctx, never, compile.Sampling{}), translate(true, ctx, never, compile.Sampling{})
	if len(cached) != ctx || !slices.Equal(cached, recomputed) {
		t.Fatalf("greedy: with the cache %v, recomputing %v", cached, recomputed)
	}
	// The interpreter's greedy decoding, one full forward pass per token.
	tokens := []int32{1}
	srcT := runtime.JSONTensor{Shape: []int{1, srcLen}}
	for _, v := range src {
		srcT.Data = append(srcT.Data, runtime.JSONFloat(v))
	}
	for range ctx {
		ids := runtime.JSONTensor{Shape: []int{1, ctx}, Data: make([]runtime.JSONFloat, ctx)}
		for i, v := range tokens[:min(len(tokens), ctx)] {
			ids.Data[i] = runtime.JSONFloat(v)
		}
		r, err := compile.RunInterpreted(prog, compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"src": srcT, "ids": ids}})
		if err != nil {
			t.Fatal(err)
		}
		lg := r.Outputs["logits"].Data[(len(tokens)-1)*32 : len(tokens)*32]
		best := 0
		for v := range lg {
			if lg[v] > lg[best] {
				best = v
			}
		}
		tokens = append(tokens, int32(best))
	}
	if !slices.Equal(tokens[1:], cached) {
		t.Errorf("generated %v, the interpreter's full forward passes %v", cached, tokens[1:])
	}
	sm := compile.Sampling{Temperature: 1, TopK: 8, Seed: 3}
	if c, r := translate(false, ctx, never, sm), translate(true, ctx, never, sm); !slices.Equal(c, r) {
		t.Errorf("sampling: with the cache %v, recomputing %v", c, r)
	}
	if got := translate(false, ctx, cached[2], compile.Sampling{}); !slices.Equal(got, cached[:slices.Index(cached, cached[2])+1]) {
		t.Errorf("stop %d: %v, want %v", cached[2], got, cached[:slices.Index(cached, cached[2])+1])
	}
	for _, c := range []struct {
		src  []int32
		n    int
		want string
	}{
		{src[:5], 3, "seq2seq: Generate: 5 source ids, want 6"},
		{src, ctx + 1, "seq2seq: Generate: 1 prompt tokens and 8 more do not fit the decoder's context of 7 (at most 8 in all)"},
	} {
		if _, err := srv.Translate(c.src, []int32{1}, c.n, never, compile.Sampling{}, false); err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%v, n %d: %v, want %q", c.src, c.n, err, c.want)
		}
	}
}
