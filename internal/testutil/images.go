package testutil

import (
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DecodePNG reads a PNG file, failing the test if it is not one.
func DecodePNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// DistinctColors counts the colours of an image: a blank picture has few.
func DistinctColors(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

// WriteGoCorpus writes 40 small Go files of functions with identifiers,
// string literals (interpreted and raw) and numbers, drawn from a seeded
// generator: a corpus for training and probing tiny language models.
func WriteGoCorpus(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha", "beta", "gamma", "delta", "value", "count", "name", "index", "buffer", "reader", "token", "state"}
	w := func() string { return words[r.IntN(len(words))] }
	for f := range 40 {
		var b strings.Builder
		fmt.Fprintf(&b, "package p%d\n\nimport \"fmt\"\n\n", f)
		for fn := range 8 {
			a, c := w(), w()
			fmt.Fprintf(&b, "// %s%d returns the %s of %s.\nfunc %s%d(%s int) string {\n", a, fn, w(), c, a, fn, c)
			fmt.Fprintf(&b, "\tif %s > %d {\n\t\treturn \"%s %s\"\n\t}\n", c, r.IntN(100), w(), w())
			if fn%3 == 0 {
				fmt.Fprintf(&b, "\tconst q = `%s\n%s`\n", w(), w())
			}
			fmt.Fprintf(&b, "\treturn fmt.Sprint(%s, \"%s=\", %d)\n}\n\n", c, w(), r.IntN(1000))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.go", f)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
