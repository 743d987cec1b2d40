package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models"
)

// trainOnGoCorpus writes the Go-source corpus into a temporary directory
// and trains model there with mlc train's args added; it returns the
// corpus and the checkpoint directory.
func trainOnGoCorpus(t *testing.T, model, config string, args ...string) (corpus, ckpt string) {
	t.Helper()
	root := t.TempDir()
	corpus, ckpt = filepath.Join(root, "corpus"), filepath.Join(root, "lm")
	if err := testutil.WriteGoCorpus(corpus); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"train", "-model", model, "-config", config, "-data", corpus, "-ckpt", ckpt}, args...)
	if code, _, errs := runCLI(args...); code != 0 {
		t.Fatalf("training %s: exit %d: %s", model, code, errs)
	}
	return corpus, ckpt
}

// runCLI runs the CLI in-process and returns exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIBadInput(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `mlc: unknown verb "frobnicate"`},
		{[]string{"graph", "-model", "nope"}, 1, `mlc graph: unknown model "nope" (models: ` + strings.Join(models.Names(), ", ") + ")"},
		{[]string{"graph"}, 1, "mlc graph: -model is required"},
		{[]string{"graph", "-model", "mlp", "-config", "sizes"}, 1, `mlc graph: malformed -config item "sizes": want key=value`},
		{[]string{"graph", "-model", "mlp", "-config", "depth=3"}, 1, `mlc graph: unknown config key "depth" for mlp (keys: sizes, act, batch, dropout)`},
		{[]string{"graph", "-model", "mlp", "-config", "batch=x"}, 1, `mlc graph: config key "batch": "x" is not an integer`},
		{[]string{"graph", "-model", "xor", "-format", "svg"}, 1, `mlc graph: -format must be text, dot or json, got "svg"`},
		{[]string{"graph", "-model", "xor", "-stage", "backward"}, 1, `mlc graph: -stage must be forward, train, prefill or decode, got "backward"`},
		{[]string{"graph", "-model", "xor", "-dtype", "f16"}, 1, `mlc graph: -dtype must be f32 or f64, got "f16"`},
		{[]string{"graph", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"graph", "-model", "xor", "extra"}, 1, `mlc graph: unexpected argument "extra"`},
		{[]string{"graph", "-model", "mlp", "-config", "sizes=0-3"}, 1, `mlc graph: models/mlp/mlp.go:`},
		{[]string{"graph", "-model", "nope"}, 1, `or give a Go package path such as ./nope`},
		// The hostile and careless inputs of the reliability issue: each a
		// clear one-line error before anything is built or written.
		{[]string{"stats", "-model", "mlp", "-config", "sizes=4000000000-4000000000-10"}, 1, `mlc stats: models/mlp/mlp.go:51: "W1": Param: shape [4000000000,4000000000] has more than 2^40 elements`},
		{[]string{"compile", "-model", "mlp", "-config", "sizes=4000000000-4000000000-10", "-o", "/nonexistent/x"}, 1, "has more than 2^40 elements"},
		{[]string{"train", "-model", "xor", "-steps", "-5"}, 1, "mlc train: -steps must be at least 1, got -5"},
		{[]string{"train", "-model", "mlp", "-batch", "-3"}, 1, "mlc train: -batch must be at least 1, got -3"},
		{[]string{"train", "-model", "xor", "-steps", "10", "-until", "20"}, 1, "mlc train: -until 20 is past the run's end at step 10"},
		{[]string{"train", "-model", "xor", "-until", "-1"}, 1, "mlc train: -until must not be negative"},
		{[]string{"train", "-model", "xor", "-lr", "NaN"}, 1, "mlc train: -lr must be a finite number, got NaN"},
		{[]string{"train", "-model", "xor", "-lr", "0"}, 1, "mlc train: learning rate must be positive, got 0"},
		{[]string{"train", "-model", "xor", "-save-every", "soon"}, 1, `mlc train: -save-every takes a number of steps or a duration like 10m, got "soon"`},
		{[]string{"train", "-model", "xor", "-force"}, 1, "mlc train: -force needs -ckpt DIR"},
		{[]string{"compile", "-model", "xor", "-lr", "Inf", "-o", "/nonexistent/x"}, 1, "mlc compile: -lr must be a finite number, got +Inf"},
		{[]string{"compile", "-model", "xor", "-lr", "NaN", "-o", "/nonexistent/x"}, 1, "mlc compile: -lr must be a finite number, got NaN"},
		{[]string{"compile", "-model", "xor", "-pkg", "main", "-o", "/nonexistent/x"}, 1, `mlc compile: -pkg "main" is reserved in Go`},
		{[]string{"compile", "-model", "xor", "-pkg", "my-model", "-o", "/nonexistent/x"}, 1, `mlc compile: -pkg "my-model" is not a Go identifier`},
		{[]string{"generate", "-ckpt", "/nonexistent", "-n", "100000000000000"}, 1, "mlc generate: -n must be between 0 and 10000000 tokens, got 100000000000000"},
		{[]string{"generate", "-ckpt", "/nonexistent", "-temperature", "NaN"}, 1, "mlc generate: -temperature must be a number ≥ 0 (0 is greedy), got NaN"},
		{[]string{"generate", "-ckpt", "/nonexistent", "-top-p", "NaN"}, 1, "mlc generate: -top-p must be in [0, 1] (0: all tokens), got NaN"},
		{[]string{"generate", "-ckpt", "/nonexistent", "-top-k", "-2"}, 1, "mlc generate: -top-k must not be negative"},
		{[]string{"run", "-model", "gpt", "-config", "d=20000"}, 1, "mlc run: gpt needs"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
			if !strings.Contains(errs, c.want) {
				t.Errorf("stderr %q lacks %q", errs, c.want)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") > 0 && c.code == 1 {
				t.Errorf("error is not one line: %q", errs)
			}
		})
	}
}

func TestEveryVerbHasHelp(t *testing.T) {
	for _, v := range verbs {
		code, _, errs := runCLI(v.name, "-h")
		if code != 0 || !strings.Contains(errs, "usage: mlc "+v.name) {
			t.Errorf("%s -h: exit %d, %q", v.name, code, errs)
		}
	}
	code, out, _ := runCLI("help")
	if code != 0 || !strings.Contains(out, "graph") {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestGraphVerb(t *testing.T) {
	code, out, errs := runCLI("graph", "-model", "xor")
	if code != 0 || !strings.HasPrefix(out, "mlc-ir 1\ngraph \"xor\"") || errs != "" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = runCLI("graph", "-model", "seedmlp", "-stage", "train")
	if code != 0 || !strings.Contains(out, `name="dW1"`) {
		t.Fatalf("train stage: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("graph", "-model", "seedmlp", "-stage", "train", "-format", "dot")
	if code != 0 || !strings.HasPrefix(out, "digraph") || !strings.Contains(out, "#f4b183") {
		t.Fatalf("dot: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("graph", "-model", "mlp", "-config", "sizes=8-4-3,batch=2", "-format", "json")
	if code != 0 || !strings.Contains(out, `"format": 1`) || !strings.Contains(out, `"f32[2,8]"`) {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("list")
	if code != 0 || !strings.Contains(out, "tinydecoder") || !strings.Contains(out, "sizes") {
		t.Fatalf("list: %s", out)
	}
}

// TestStatsKVCache: mlc stats reports the KV cache a generated gpt
// allocates, and it is the text's 2 × layers × ctx × d × bytes (× batch).
func TestStatsKVCache(t *testing.T) {
	code, out, errOut := runCLI("stats", "-model", "gpt", "-config", "ctx=64,layers=3,batch=2", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s modelStats
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if want := 2 * 3 * 64 * 128 * 4 * 2; s.KVCacheBytes != want || s.KVCacheFormula != want {
		t.Fatalf("KV cache %d bytes allocated, %d by the formula, want %d", s.KVCacheBytes, s.KVCacheFormula, want)
	}
	// seq2seq: the decoder's caches (2 × dec_layers × ctx), the
	// cross-attention keys and values Prefill keeps (2 × dec_layers ×
	// src_ctx) of kv_heads × head_dim = 2 × 24 each, and the source mask
	// they share.
	code, out, errOut = runCLI("stats", "-model", "seq2seq", "-config", "src_ctx=10,ctx=6,d=96,heads=4,kv_heads=2,dec_layers=2,batch=3", "-json")
	if code != 0 {
		t.Fatalf("seq2seq: exit %d: %s", code, errOut)
	}
	s = modelStats{}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if want := (2*2*(6+10)*2*24 + 10) * 4 * 3; s.KVCacheBytes != want || s.KVCacheFormula != want {
		t.Fatalf("seq2seq: KV cache %d bytes allocated, %d by the formula, want %d", s.KVCacheBytes, s.KVCacheFormula, want)
	}
	code, out, _ = runCLI("stats", "-model", "mlp", "-json")
	if code != 0 || strings.Contains(out, "kv_cache") {
		t.Fatalf("mlp: exit %d, %s", code, out)
	}
}

// TestRunPhaseDecode: mlc run -phase decode prints, in the same JSON, the
// outputs the full forward prints; a model that is not a decoder says why.
func TestRunPhaseDecode(t *testing.T) {
	var runs [2]map[string]any
	for i, phase := range []string{"full", "decode"} {
		code, out, errOut := runCLI("run", "-model", "tinydecoder", "-phase", phase, "-prefill", "2", "-json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", phase, code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &runs[i]); err != nil {
			t.Fatal(err)
		}
	}
	full, dec := runs[0]["outputs"].(map[string]any), runs[1]["outputs"].(map[string]any)
	if len(full) != 2 {
		t.Fatalf("outputs %v", full)
	}
	for name, f := range full {
		fd := f.(map[string]any)["data"].([]any)
		dd := dec[name].(map[string]any)["data"].([]any)
		if len(fd) != len(dd) {
			t.Fatalf("%s: %d values decoded, %d in full", name, len(dd), len(fd))
		}
		for i := range fd {
			if d := fd[i].(float64) - dd[i].(float64); d > 1e-12 || d < -1e-12 {
				t.Fatalf("%s[%d]: decoded %v, full %v", name, i, dd[i], fd[i])
			}
		}
	}
	code, _, errOut := runCLI("run", "-model", "bert", "-phase", "decode")
	if code == 0 || !strings.Contains(errOut, "is not causal") {
		t.Fatalf("bert: exit %d: %s", code, errOut)
	}
}

// TestBenchJSON: mlc bench times every entry point of a model in both
// engines and prints stable JSON; generated code does not allocate.
func TestBenchJSON(t *testing.T) {
	testutil.Long(t, "builds a generated package")
	// Runs of 20 ms hold thousands of calls, so that one allocation by the
	// runtime itself during a run (seen under load) stays far below the
	// 0.01 per call that a real per-call allocation would exceed 100-fold.
	code, out, errOut := runCLI("bench", "-model", "tinydecoder", "-runs", "3", "-time", "20ms", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Model   string `json:"model"`
		Entries []struct {
			Entry     string `json:"entry"`
			Generated struct {
				Runs     int     `json:"runs"`
				NsMedian float64 `json:"ns_per_call_median"`
				NsMin    float64 `json:"ns_per_call_min"`
				NsMax    float64 `json:"ns_per_call_max"`
				Allocs   float64 `json:"allocs_per_call"`
			} `json:"generated"`
			Interpreter *struct {
				NsMedian float64 `json:"ns_per_call_median"`
			} `json:"interpreter"`
			Speedup float64 `json:"speedup"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range rep.Entries {
		names = append(names, e.Entry)
		g := e.Generated
		if g.Runs != 3 || !(g.NsMin > 0 && g.NsMin <= g.NsMedian && g.NsMedian <= g.NsMax) {
			t.Errorf("%s: generated runs %d, ns min %v median %v max %v", e.Entry, g.Runs, g.NsMin, g.NsMedian, g.NsMax)
		}
		if g.Allocs > 0.01 {
			t.Errorf("%s: generated code allocates %v times per call", e.Entry, g.Allocs)
		}
		if e.Interpreter == nil || e.Speedup != e.Interpreter.NsMedian/g.NsMedian {
			t.Errorf("%s: interpreter %v, speedup %v", e.Entry, e.Interpreter, e.Speedup)
		}
	}
	if strings.Join(names, ",") != "TrainStep,Predict,DecodeStep" {
		t.Errorf("entries %v", names)
	}
}

// TestBenchVsO0: mlc bench -vs-O0 times both builds and reports the ratio of
// their medians.
func TestBenchVsO0(t *testing.T) {
	testutil.Long(t, "builds generated packages")
	code, out, errOut := runCLI("bench", "-model", "xor", "-vs-O0", "-runs", "3", "-time", "2ms", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Entries []compile.PairEntry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 2 {
		t.Fatalf("entries %+v", rep.Entries)
	}
	for _, e := range rep.Entries {
		if e.A == nil || e.B == nil || e.A.Runs != 3 || e.B.Runs != 3 || e.Ratio != e.B.NsMedian/e.A.NsMedian {
			t.Errorf("%s: %+v", e.Entry, e)
		}
	}
}
