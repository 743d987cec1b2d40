package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/graph"
)

// maxGenerate bounds -n: ten million tokens, days of sampling on this
// kind of machine.
const maxGenerate = 10_000_000

func cmdGenerate(c *cli, args []string) error {
	fs := c.flags("generate")
	model := fs.String("model", "", "model name (default: the checkpoint's)")
	ckpt := fs.String("ckpt", "", "directory of a checkpoint written by mlc train (required)")
	prompt := fs.String("prompt", "\n", "text to continue")
	n := fs.Int("n", 200, "tokens to generate")
	temp := fs.Float64("temperature", 1, "sampling temperature; 0 is greedy (the default with -input)")
	topK := fs.Int("top-k", 0, "keep only the k most probable tokens (0: all)")
	topP := fs.Float64("top-p", 0, "keep the smallest set of tokens whose probability reaches p (0: all)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	noCache := fs.Bool("no-cache", false, "recompute the whole window for every token instead of using the KV cache")
	input := fs.String("input", "", "for an encoder-decoder (seq2seq): the source to map to an output, e.g. a Go identifier to write in snake_case")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	switch {
	case *n < 0 || *n > maxGenerate:
		return fmt.Errorf("-n must be between 0 and %d tokens, got %d", maxGenerate, *n)
	case math.IsNaN(*temp) || math.IsInf(*temp, 0) || *temp < 0:
		return fmt.Errorf("-temperature must be a number ≥ 0 (0 is greedy), got %v", *temp)
	case *topK < 0:
		return fmt.Errorf("-top-k must not be negative (0: all tokens), got %d", *topK)
	case math.IsNaN(*topP) || *topP < 0 || *topP > 1:
		return fmt.Errorf("-top-p must be in [0, 1] (0: all tokens), got %v", *topP)
	}
	t, err := loadTrained(*ckpt, trainedOptions{model: *model, override: "batch=1"}) // one sequence at a time
	if err != nil {
		return err
	}
	defer t.Close()
	if ok, ctx, _, src := codegen.EncoderDecoderShape(t.prog); ok {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "temperature" })
		if !set {
			*temp = 0 // an output is mapped greedily unless sampling is asked for
		}
		return translate(c, t.srv, *input, src.Type.Shape[1], ctx, compile.Sampling{Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed}, *noCache)
	}
	if *input != "" {
		return fmt.Errorf("-input is for encoder-decoder models (seq2seq); %s continues a -prompt", t.m.Name)
	}
	if t.tok == nil || !generatable(t.prog) {
		return fmt.Errorf("%s is not a causal language model that mlc can generate text with", t.m.Name)
	}
	tok, ctxLen, srv := t.tok, t.ctx, t.srv
	ids := tok.Encode([]byte(*prompt))
	if len(ids) > ctxLen {
		fmt.Fprintf(c.stderr, "warning: the prompt has %d tokens, more than the context of %d; keeping the last %d\n", len(ids), ctxLen, ctxLen)
		ids = ids[len(ids)-ctxLen:]
	}
	p := make([]int32, len(ids))
	for i, id := range ids {
		p[i] = int32(id)
	}
	fmt.Fprint(c.stdout, *prompt)
	all := append([]int(nil), ids...)
	printed, _ := tok.Decode(all)
	start := time.Now()
	count := 0
	err = srv.Stream(compile.RunRequest{Cmd: "generate", Prompt: p, N: *n, Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed, NoCache: *noCache}, func(r *compile.ServerResult) error {
		all = append(all, int(*r.Token))
		text, err := tok.Decode(all)
		if err != nil {
			return err
		}
		// Print what the new token adds (tokens are bytes, not always whole runes).
		if len(text) >= len(printed) {
			c.stdout.Write(text[len(printed):])
			printed = text
		}
		count++
		return nil
	})
	fmt.Fprintln(c.stdout)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(c.stderr, "%d tokens in %s (%s tokens/s)\n", count, el.Round(time.Millisecond), strconv.FormatFloat(float64(count)/el.Seconds(), 'f', 1, 64))
	return nil
}

// generatable reports whether the program is a causal decoder (with
// KV-cache entry points) whose Predict takes one i32 sequence [1, T] and
// returns logits [1, T, V].
func generatable(p *graph.Program) bool {
	if p.Decode == nil {
		return false
	}
	ins := p.Predict.Inputs()
	if len(ins) != 1 || ins[0].Type.DType != graph.I32 || ins[0].Type.Shape.Rank() != 2 || ins[0].Type.Shape[0] != 1 {
		return false
	}
	lg := p.Predict.Output("logits")
	return lg != nil && lg.Type.Shape.Rank() == 3 && lg.Type.Shape[1] == ins[0].Type.Shape[1]
}

// translate prints an encoder-decoder's output for the source text: the
// case task's bytes (data.CaseSource) decoded with the KV cache from the
// start token until the end token or the decoder's context.
func translate(c *cli, srv *compile.Server, input string, srcLen, ctx int, sm compile.Sampling, noCache bool) error {
	src, err := data.CaseSource(input, srcLen)
	if err != nil {
		return fmt.Errorf("-input: %v", err)
	}
	start := time.Now()
	out, err := srv.Translate(src, []int32{data.CaseStart}, ctx, data.CaseEnd, sm, noCache)
	if err != nil {
		return err
	}
	text, ended := data.CaseOutput(out)
	fmt.Fprintln(c.stdout, text)
	if !ended {
		fmt.Fprintf(c.stderr, "warning: the output reached the decoder's context of %d tokens without an end token\n", ctx)
	}
	fmt.Fprintf(c.stderr, "%d tokens in %s\n", len(out), time.Since(start).Round(time.Microsecond))
	return nil
}
