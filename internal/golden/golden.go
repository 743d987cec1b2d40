// Package golden gives tests the reference values computed with PyTorch and
// NumPy (copied from ../shared/golden so that tests run from a clean clone).
package golden

import (
	"embed"
	"encoding/json"
	"fmt"
)

//go:embed testdata/*.json
var files embed.FS

// Tensor is the golden files' {"shape": [...], "data": [...]} form.
type Tensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// Load decodes one golden file (e.g. "seed_mlp.json") into v.
func Load(name string, v any) error {
	b, err := files.ReadFile("testdata/" + name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("golden %s: %v", name, err)
	}
	return nil
}

// MustLoad is Load for tests, panicking on a broken embedded file.
func MustLoad(name string, v any) {
	if err := Load(name, v); err != nil {
		panic(err)
	}
}

// SeedMLP is seed_mlp.json.
type SeedMLP struct {
	X            Tensor            `json:"x"`
	Y            float64           `json:"y"`
	LR           float64           `json:"lr"`
	ParamsBefore map[string]Tensor `json:"params_before"`
	Z1, A1, Z2   Tensor
	Yhat         Tensor            `json:"yhat"`
	Loss         float64           `json:"loss"`
	Grads        map[string]Tensor `json:"grads"`
	ParamsAfter  map[string]Tensor `json:"params_after"`
}

// TinyDecoder is tiny_decoder.json.
type TinyDecoder struct {
	IDs           Tensor            `json:"ids"`
	Targets       Tensor            `json:"targets"`
	Params        map[string]Tensor `json:"params"`
	Intermediates map[string]Tensor `json:"intermediates"`
	Loss          float64           `json:"loss"`
	Grads         map[string]Tensor `json:"grads"`
}

// XORSeed is xor_seed.json.
type XORSeed struct {
	X              Tensor            `json:"X"`
	Y              Tensor            `json:"y"`
	LR             float64           `json:"lr"`
	Epochs         int               `json:"epochs"`
	Init           map[string]Tensor `json:"init"`
	LossEpochs     []int             `json:"loss_epochs"`
	LossesEvery100 []float64         `json:"losses_every_100"`
	Final          map[string]Tensor `json:"final"`
	FinalLoss      float64           `json:"final_loss"`
	FinalPreds     Tensor            `json:"final_predictions"`
}
