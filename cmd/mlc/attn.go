package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/mechinterp"
)

func init() {
	register(verb{
		name:  "attn",
		usage: "mlc attn -ckpt DIR -text S [-model M] [-layer L] [-head H] [-o FILE.png] [-engine gen|interp] [-json]",
		doc:   "attention weights of a trained language model on a text: a heatmap per head, or JSON",
		run:   cmdAttn,
	})
}

// attnReport is what -json prints: the weights of the chosen heads of one
// layer, weights[i][q][k] for head heads[i], query position q and key
// position k (zero for k > q: the mask is causal).
type attnReport struct {
	Model   string            `json:"model"`
	Tap     string            `json:"tap"`
	Layer   int               `json:"layer"`
	Layers  int               `json:"layers"`
	Heads   []int             `json:"heads"`
	IDs     []int             `json:"ids"`
	Tokens  []string          `json:"tokens"`
	Weights [][][]json.Number `json:"weights"`
}

func cmdAttn(c *cli, args []string) error {
	fs := c.flags("attn")
	model := fs.String("model", "", "model name (default: the checkpoint's)")
	ckpt := fs.String("ckpt", "", "directory of a checkpoint written by mlc train (required)")
	text := fs.String("text", "", "the text to run the model on (required)")
	layer := fs.Int("layer", 0, "the attention layer, from 0")
	head := fs.Int("head", -1, "one head, from 0 (default: every head of the layer)")
	out := fs.String("o", "", "write the heatmap to this PNG file")
	asJSON := fs.Bool("json", false, "print the tokens and weights as JSON")
	engineOf := engineFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	engine, err := engineOf()
	if err != nil {
		return err
	}
	if *out == "" && !*asJSON {
		return fmt.Errorf("nothing to do: give -o FILE.png or -json (or both)")
	}
	if *text == "" {
		return fmt.Errorf("-text is required")
	}
	if *out != "" && !strings.EqualFold(filepath.Ext(*out), ".png") {
		return fmt.Errorf("-o %s: the heatmap is a PNG, give a .png file", *out)
	}
	a, err := mechinterp.CheckpointAttention(*ckpt, *text, mechinterp.AttentionOptions{Model: *model, Layer: *layer, Head: *head, Engine: engine, Log: c.logf})
	if err != nil {
		return err
	}
	if *out != "" {
		if err := a.WritePNG(*out); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "wrote %s\n", *out)
	}
	if *asJSON {
		rep := attnReport{Model: a.Model, Tap: a.Tap, Layer: a.Layer, Layers: a.Layers, Heads: a.Heads, IDs: a.IDs, Tokens: a.Tokens}
		for _, m := range a.Maps {
			rep.Weights = append(rep.Weights, jsonMatrix(m, a.Float))
		}
		return c.printJSON(rep)
	}
	return nil
}

// jsonMatrix writes each weight in the shortest form that reads back as the
// model's float type: an f32 model's weights print as float32 values.
func jsonMatrix(m [][]float64, dt graph.DType) [][]json.Number {
	bits := 64
	if dt == graph.F32 {
		bits = 32
	}
	out := make([][]json.Number, len(m))
	for q, row := range m {
		out[q] = make([]json.Number, len(row))
		for k, v := range row {
			out[q][k] = json.Number(strconv.FormatFloat(v, 'g', -1, bits))
		}
	}
	return out
}
