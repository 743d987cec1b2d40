package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/train"
)

// TestTrainPrecisionBF16: mlc train -precision bf16 records the precision
// in the checkpoint, -resume keeps it (and refuses to change it), and a bad
// value is a one-line error before any work.
func TestTrainPrecisionBF16(t *testing.T) {
	testutil.Long(t, "trains a language model")
	config := "vocab=300,ctx=16,d=32,heads=2,layers=1,ffn=64,batch=2"
	_, ckpt := trainOnGoCorpus(t, "gpt", config, "-steps", "4", "-until", "2", "-precision", "bf16")
	_, st, err := train.LoadCheckpoint(filepath.Join(ckpt, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Precision != "bf16" {
		t.Fatalf("the checkpoint's settings have precision %q, want bf16", st.Precision)
	}
	if code, _, errs := runCLI("train", "-ckpt", ckpt, "-resume", "-precision", "f32"); code == 0 || !strings.Contains(errs, "-precision cannot change on -resume") {
		t.Errorf("changing the precision on resume: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI("train", "-ckpt", ckpt, "-resume"); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI("train", "-model", "gpt", "-precision", "fp8", "-steps", "1"); code == 0 || strings.TrimSpace(errs) != `mlc train: -precision must be bf16 or f32, got "fp8"` {
		t.Errorf("bad precision: exit %d, %q", code, errs)
	}
}
