package mechinterp

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/models"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime/text"
	"github.com/mlc-dev/mlc/train"
)

// trainTiny trains a zoo text model (config on top of its defaults) on the
// corpus for steps steps on the interpreter, through the train and data
// packages as mlc train does, and returns the checkpoint's directory.
func trainTiny(t testing.TB, model, config, corpus string, steps int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), model)
	m, err := LoadModel(model, config, "")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := passes.OptimizerConfig{Kind: "adamw", LR: 0.01}.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Compile(compile.Options{Optimizer: opt})
	if err != nil {
		t.Fatal(err)
	}
	prog := res.Program
	inputs, shapes := []string{}, map[string][]int{}
	for _, n := range prog.Train.Inputs() {
		inputs = append(inputs, n.Name)
		shapes[n.Name] = n.Type.Shape
	}
	ds, err := data.New(data.Options{Kind: models.TrainDefaultsFor(model).Data, Path: corpus, Dir: dir, Config: m.ConfigInt, Inputs: inputs, Shapes: shapes})
	if err != nil {
		t.Fatal(err)
	}
	d, err := train.Open(dir, false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tm, err := train.Interpreted(prog, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := train.Settings{Model: model, Config: m.Config, DType: m.Float.String(), Optimizer: opt, Steps: steps, Data: corpus}
	if _, err := train.Run(context.Background(), tm, train.Options{Settings: st, Program: prog, Data: ds, Dir: d, Log: steps, Out: io.Discard, Err: io.Discard}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// byteTokenizer is a BPE without merges: one token per byte.
func byteTokenizer(t testing.TB) (text.Tokenizer, [][]byte) {
	t.Helper()
	tok, err := text.NewBPE(text.SplitCode, nil)
	if err != nil {
		t.Fatal(err)
	}
	pieces, err := TokenBytes(tok)
	if err != nil {
		t.Fatal(err)
	}
	return tok, pieces
}
