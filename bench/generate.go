// Package bench is the peer comparison of mlc: the same workloads run by
// mlc's generated packages, a hand-written Go program, Gorgonia, NumPy and
// PyTorch. It is a separate module so that the main module does not depend
// on the peers. See README.md; run.sh runs everything.
package bench

// The XOR benchmark needs the reference text's learning rate, 0.5, in the
// compiled TrainStep (generated/xor is compiled with the optimizer's default,
// 0.1). This regenerates bench/internal/xorlr05 with the main module's
// compiler; run it from bench/ with `go generate .`.
//go:generate go -C .. run ./cmd/mlc compile -model xor -lr 0.5 -o bench/internal/xorlr05 -pkg xorlr05

// TODO(gpt): when models/gpt trains with AdamW and has its KV-cache entry
// points, compile the benchmark's GPT here, which turns on the mlc rows of
// workloads (c) and (d) (the runner builds cmd/gptwork with -tags mlcgpt
// once bench/internal/gpt exists):
//
//	go -C .. run ./cmd/mlc compile -model gpt -config vocab=65,ctx=64,d=128,heads=4,layers=2,ffn=512,batch=16 -o bench/internal/gpt -pkg gpt
