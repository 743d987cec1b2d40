// Command circles trains the classifier of package model, compiled by mlc
// into package compiled, on points from two circles, with a warmup and a
// cosine schedule, gradient clipping and checkpoints that resume; then it
// classifies points it has not seen with Predict.
//
//	go generate ./...     # compile model/ into model/compiled with mlc
//	go run . -ckpt runs/a # train (Ctrl-C saves; running it again resumes)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/train"

	"example.com/circles/model/compiled"
)

func main() {
	dir := flag.String("ckpt", "ckpt", "checkpoint directory: a run there is resumed")
	stop := flag.Int("until", 0, "stop after this step, as an interruption would (0: the end)")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	acc, err := trainAndTest(ctx, *dir, *stop, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "circles:", err)
		os.Exit(1)
	}
	fmt.Printf("accuracy on 512 new points: %.1f%%\n", 100*acc)
}

// trainAndTest trains the compiled model (resuming the run in dir if there
// is one) and returns its accuracy on points it has not seen.
func trainAndTest(ctx context.Context, dir string, stop int, out io.Writer) (float64, error) {
	m := compiled.New()
	defer m.Close()
	model := train.Local[float64](m)
	x, label := points(2048, 1)
	vx, vlabel := points(256, 2)
	ds, err := data.Tensors(map[string]runtime.JSONTensor{"x": x, "label": label}, map[string]runtime.JSONTensor{"x": vx, "label": vlabel}, 32, 1)
	if err != nil {
		return 0, err
	}
	// The settings record the run; the optimizer and its schedule are the
	// ones compiled into the package (see model/model.go's go:generate).
	st := train.Settings{Model: "circles", DType: "f64", Steps: 600}
	start := 0
	if _, err := os.Stat(filepath.Join(dir, train.CheckpointFile)); err == nil {
		if start, st, err = train.Resume(dir, model, ds); err != nil {
			return 0, err
		}
	}
	ckpt, err := train.Open(dir, start > 0, false, start)
	if err != nil {
		return 0, err
	}
	defer ckpt.Close()
	if _, err := train.Run(ctx, model, train.Options{Settings: st, Data: ds, Dir: ckpt, Start: start, Stop: stop,
		Log: 100, Eval: 100, SaveEvery: 100, Out: out, Err: out}); err != nil {
		return 0, err
	}
	return accuracy(m)
}

// accuracy classifies 512 new points, a batch of 32 at a time.
func accuracy(m *compiled.Model) (float64, error) {
	x, label := points(512, 3)
	right := 0
	for b := 0; b < 512; b += 32 {
		in := make([]float64, 64)
		for i := range in {
			in[i] = float64(x.Data[2*b+i])
		}
		probs, err := m.Predict(in)
		if err != nil {
			return 0, err
		}
		for i := range 32 {
			guess := 0
			if probs[2*i+1] > probs[2*i] {
				guess = 1
			}
			if guess == int(label.Data[b+i]) {
				right++
			}
		}
	}
	return float64(right) / 512, nil
}

// points draws n points, each on the circle of radius 1 (label 0) or 2
// (label 1) with a little noise, from a seeded generator.
func points(n int, seed uint64) (x, label runtime.JSONTensor) {
	r := rand.New(rand.NewPCG(seed, 7))
	x = runtime.JSONTensor{Shape: []int{n, 2}}
	label = runtime.JSONTensor{Shape: []int{n}}
	for range n {
		c := r.IntN(2)
		rad := float64(1+c) + 0.15*r.NormFloat64()
		a := 2 * math.Pi * r.Float64()
		x.Data = append(x.Data, runtime.JSONFloat(rad*math.Cos(a)), runtime.JSONFloat(rad*math.Sin(a)))
		label.Data = append(label.Data, runtime.JSONFloat(c))
	}
	return x, label
}
