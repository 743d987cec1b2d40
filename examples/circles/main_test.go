package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/mlc-dev/mlc/train"
)

// TestTrainResumeAndClassify: a run stopped at step 300 and resumed to its
// end classifies new points almost perfectly, and its checkpoint is at
// the end of the run.
func TestTrainResumeAndClassify(t *testing.T) {
	dir := t.TempDir()
	if _, err := trainAndTest(context.Background(), dir, 300, io.Discard); err != nil {
		t.Fatal(err)
	}
	acc, err := trainAndTest(context.Background(), dir, 0, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if acc < 0.95 {
		t.Errorf("accuracy %.3f on new points, want at least 0.95", acc)
	}
	ck, _, err := train.LoadCheckpoint(filepath.Join(dir, train.CheckpointFile))
	if err != nil || ck.Step != 600 {
		t.Fatalf("checkpoint: %v", err)
	}
}
