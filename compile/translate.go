package compile

import "fmt"

// Sampling says how generation draws tokens: temperature (0 is greedy),
// top-k and top-p (0: all tokens) and the seed of the draws.
type Sampling struct {
	Temperature float64
	TopK        int
	TopP        float64
	Seed        uint64
}

// Translate runs a one-sequence encoder-decoder's Generate on the runner
// (see codegen.EncoderDecoderShape): the tokens it writes for the source
// ids src after the decoder's prompt (its start token), at most n, ending
// after the token stop. Without the cache (noCache) every token reruns the
// whole model (GenerateNoCache); both give the same tokens.
func (s *Server) Translate(src, prompt []int32, n int, stop int32, sm Sampling, noCache bool) ([]int32, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("translate: the decoder's prompt is empty (give it the start token)")
	}
	var out []int32
	err := s.Stream(RunRequest{Cmd: "generate", Source: src, Prompt: prompt, N: n, StopToken: &stop,
		Temperature: sm.Temperature, TopK: sm.TopK, TopP: sm.TopP, Seed: sm.Seed, NoCache: noCache}, func(r *ServerResult) error {
		if r.Token == nil {
			return fmt.Errorf("translate: the runner sent no token")
		}
		out = append(out, *r.Token)
		return nil
	})
	return out, err
}
