package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mlc-dev/mlc/mechinterp"
)

// wordHit and sentenceHit are how -json prints a word's and a sentence's
// hit.
type wordHit struct {
	Word   string  `json:"word"`
	Cosine float64 `json:"cosine"`
}

type sentenceHit struct {
	Sentence string  `json:"sentence"`
	Cosine   float64 `json:"cosine"`
}

func cmdEmbed(c *cli, args []string) error {
	fs := c.flags("embed")
	ckpt := fs.String("ckpt", "", "directory of a word2vec checkpoint written by mlc train (required)")
	near := fs.String("near", "", "print the words closest to this one")
	analogy := fs.String("analogy", "", "a,b,c: print the words closest to a − b + c")
	sentence := fs.String("sentence", "", "with a bert checkpoint: print the lines of -sentences closest to this sentence (masked mean pooling of the final hidden states)")
	sentences := fs.String("sentences", "", "with -sentence: a file of sentences to search, one per line")
	k := fs.Int("k", 10, "how many words or sentences to print")
	asJSON := fs.Bool("json", false, "print JSON")
	engineOf := engineFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	engine, err := engineOf()
	if err != nil {
		return err
	}
	if *ckpt == "" {
		return fmt.Errorf("-ckpt DIR is required")
	}
	if *k < 1 {
		return fmt.Errorf("-k must be at least 1, got %d", *k)
	}
	given := 0
	for _, f := range []string{*near, *analogy, *sentence} {
		if f != "" {
			given++
		}
	}
	if given != 1 {
		return fmt.Errorf("give one of -near WORD, -analogy a,b,c (word2vec) or -sentence TEXT -sentences FILE (bert)")
	}
	if *sentence != "" {
		if *sentences == "" {
			return fmt.Errorf("-sentence needs -sentences FILE, the sentences to search")
		}
		lines, err := mechinterp.ReadLines(*sentences)
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			return fmt.Errorf("%s: no sentences (one per line)", *sentences)
		}
		hits, err := mechinterp.NearestSentences(*ckpt, *sentence, lines, *k, engine)
		if err != nil {
			return err
		}
		return printHits(c, *asJSON, hits, func(h mechinterp.Hit) sentenceHit { return sentenceHit{h.Text, h.Cosine} },
			func(h mechinterp.Hit) string { return fmt.Sprintf("%.3f  %s", h.Cosine, h.Text) })
	}
	wv, err := mechinterp.OpenWordVectors(*ckpt)
	if err != nil {
		return err
	}
	var hits []mechinterp.Hit
	if *near != "" {
		hits, err = wv.Near(*near, *k)
	} else {
		parts := strings.Split(*analogy, ",")
		if len(parts) != 3 {
			return fmt.Errorf("-analogy wants three words a,b,c, got %q", *analogy)
		}
		hits, err = wv.Analogy(parts[0], parts[1], parts[2], *k)
	}
	if err != nil {
		return err
	}
	return printHits(c, *asJSON, hits, func(h mechinterp.Hit) wordHit { return wordHit{h.Text, h.Cosine} },
		func(h mechinterp.Hit) string { return fmt.Sprintf("%-24s %.4f", h.Text, h.Cosine) })
}

// printHits prints the hits as JSON (each as toJSON makes it) or one per
// line (as line makes it): one print path for words and sentences.
func printHits[J any](c *cli, asJSON bool, hits []mechinterp.Hit, toJSON func(mechinterp.Hit) J, line func(mechinterp.Hit) string) error {
	if asJSON {
		var js []J
		for _, h := range hits {
			js = append(js, toJSON(h))
		}
		b, err := json.MarshalIndent(js, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, string(b))
		return nil
	}
	for _, h := range hits {
		fmt.Fprintln(c.stdout, line(h))
	}
	return nil
}
