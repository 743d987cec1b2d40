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

// The GPT workloads (c) and (d) need packages compiled with the benchmark's
// config, the one python/peers.py builds in PyTorch: vocab 65, d 128, 4
// heads, 2 layers, ffn 512 (4·d), learned positions, pre-LN with a final
// LayerNorm, GELU (tanh form, which peers.py asks PyTorch for), tied
// embedding, no dropout, f32; TrainStep is AdamW with PyTorch's defaults and
// peers.py's lr and weight decay (lr 1e-3, β 0.9/0.999, ε 1e-8, wd 0.01 on
// every parameter, no schedule, no clipping), chosen by mlc compile's -opt,
// -lr and -wd.
//
// gpttrain is the train step: ctx 64, batch 16.
//go:generate go -C .. run ./cmd/mlc compile -model gpt -config vocab=65,ctx=64,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=true,dropout=0,batch=16 -opt adamw -lr 1e-3 -wd 0.01 -o bench/internal/gpttrain -pkg gpttrain

// gptctx64, gptctx256 and gptctx1024 are the decode model, batch 1, with a
// window of 64, 256 and 1024 positions. Their shapes are static, so a
// forward pass over C tokens (the recompute rows) is Predict on the package
// whose window is C; cmd/gptwork copies gptctx1024's weights into the other
// two, so that all three are one model (PyTorch's has 1024 positions).
//go:generate go -C .. run ./cmd/mlc compile -model gpt -config vocab=65,ctx=64,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=true,dropout=0,batch=1 -opt adamw -lr 1e-3 -wd 0.01 -o bench/internal/gptctx64 -pkg gptctx64
//go:generate go -C .. run ./cmd/mlc compile -model gpt -config vocab=65,ctx=256,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=true,dropout=0,batch=1 -opt adamw -lr 1e-3 -wd 0.01 -o bench/internal/gptctx256 -pkg gptctx256
//go:generate go -C .. run ./cmd/mlc compile -model gpt -config vocab=65,ctx=1024,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=true,dropout=0,batch=1 -opt adamw -lr 1e-3 -wd 0.01 -o bench/internal/gptctx1024 -pkg gptctx1024
