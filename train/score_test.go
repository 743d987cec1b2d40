package train

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlc-dev/mlc/data"
	"github.com/mlc-dev/mlc/runtime"
)

// predictOnly is a Model whose Predict echoes a batch's "y" as "logits".
type predictOnly struct{ fail bool }

func (predictOnly) Train(data.Batch, int) (Steps, error) { return Steps{}, nil }
func (predictOnly) Loss(data.Batch) (float64, error)     { return 0, nil }
func (m predictOnly) Predict(b data.Batch) (map[string]runtime.JSONTensor, error) {
	if m.fail {
		return nil, errors.New("runner died")
	}
	return map[string]runtime.JSONTensor{"logits": b["y"]}, nil
}
func (predictOnly) Snapshot() (*Snapshot, error) { return nil, nil }
func (predictOnly) Restore(*Snapshot) error      { return nil }

// rowsEqual scores a batch by the rows of "logits" equal to its "want".
type rowsEqual struct{}

func (rowsEqual) ScoreName() string { return "rows equal" }
func (rowsEqual) Score(b data.Batch, out map[string]runtime.JSONTensor) (int, int, error) {
	c := 0
	for i, v := range b["want"].Data {
		if out["logits"].Data[i] == v {
			c++
		}
	}
	return c, len(b["want"].Data), nil
}

// TestScore: a dataset's score is summed over the validation batches from
// the model's Predict outputs and printed as a percentage with its counts;
// a Predict failure is a validation error.
func TestScore(t *testing.T) {
	batches := []data.Batch{
		{"y": data.IDs([]int32{1, 2, 3}, 3), "want": data.IDs([]int32{1, 0, 3}, 3)},
		{"y": data.IDs([]int32{4}, 1), "want": data.IDs([]int32{4}, 1)},
	}
	var out bytes.Buffer
	if err := score(&out, predictOnly{}, rowsEqual{}, batches, 40); err != nil {
		t.Fatal(err)
	}
	if want := "step     40  validation rows equal 75.00% (3/4)\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
	if err := score(&out, predictOnly{fail: true}, rowsEqual{}, batches, 40); err == nil || err.Error() != "validation: runner died" {
		t.Errorf("failing Predict: %v", err)
	}
}
