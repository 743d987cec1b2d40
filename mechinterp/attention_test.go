package mechinterp

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// TestWriteAttentionPNG: the returned size is the file's; more panels make a
// bigger grid; malformed input is an error, not a panic.
func TestWriteAttentionPNG(t *testing.T) {
	dir := t.TempDir()
	var labels []string
	for i := range 20 {
		labels = append(labels, fmt.Sprint("t", i))
	}
	panel := func(title string) Panel {
		w := make([][]float64, len(labels))
		for q := range w {
			w[q] = make([]float64, len(labels))
			for k := 0; k <= q; k++ {
				w[q][k] = float64(k+1) / float64((q+1)*(q+2)/2)
			}
		}
		return Panel{Title: title, W: w}
	}
	size := map[int][2]int{}
	for _, n := range []int{1, 2, 4} {
		var ps []Panel
		for i := range n {
			ps = append(ps, panel(fmt.Sprintf("head %d", i)))
		}
		path := filepath.Join(dir, fmt.Sprintf("p%d.png", n))
		w, h, err := WriteAttentionPNG(path, "test", labels, ps)
		if err != nil {
			t.Fatal(err)
		}
		b := testutil.DecodePNG(t, path).Bounds()
		if b.Dx() != w || b.Dy() != h {
			t.Errorf("%d panels: the file is %dx%d, WriteAttentionPNG said %dx%d", n, b.Dx(), b.Dy(), w, h)
		}
		size[n] = [2]int{w, h}
	}
	if !(size[2][0] > size[1][0]*3/2 && size[2][1] == size[1][1]) {
		t.Errorf("2 panels %v should sit side by side (1 panel %v)", size[2], size[1])
	}
	if !(size[4][0] == size[2][0] && size[4][1] > size[2][1]*5/4) {
		t.Errorf("4 panels %v should be a 2x2 grid (2 panels %v)", size[4], size[2])
	}
	ragged := panel("ragged")
	ragged.W[2] = ragged.W[2][:2]
	for _, tc := range []struct {
		labels []string
		panels []Panel
		want   string
	}{
		{nil, []Panel{panel("x")}, "nothing to draw"},
		{labels, nil, "nothing to draw"},
		{labels[:3], []Panel{panel("x")}, `panel "x" has 20 rows for 3 tokens`},
		{labels, []Panel{ragged}, `panel "ragged" has a row of 2 for 20 tokens`},
	} {
		if _, _, err := WriteAttentionPNG(filepath.Join(dir, "bad.png"), "t", tc.labels, tc.panels); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestTokenLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"func", "func"},
		{" int", "·int"},
		{"\n\t", `\n\t`},
		{`"`, `"`},
		{`\n`, `\\n`},
		{"\xff", `\xff`},
		{"é", "é"},
		{"abcdefghijklmnop", "abcdefghijk…"},
	} {
		if got := TokenLabel(tc.in); got != tc.want {
			t.Errorf("TokenLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAttentionMaps cuts heads out of each layout of attention weights, and
// refuses a tensor that is not one.
func TestAttentionMaps(t *testing.T) {
	// [B=2, H=2, T=3, T=3]: value = 1000b + 100h + 10q + k.
	w := runtime.JSONTensor{Shape: []int{2, 2, 3, 3}}
	for b := range 2 {
		for h := range 2 {
			for q := range 3 {
				for k := range 3 {
					w.Data = append(w.Data, runtime.JSONFloat(1000*b+100*h+10*q+k))
				}
			}
		}
	}
	got, err := AttentionMaps(w, []int{1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][][]float64{{{100, 101}, {110, 111}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("head 1 of the first sequence, 2 tokens: %v, want %v", got, want)
	}
	one := runtime.JSONTensor{Shape: []int{2, 2}, Data: []runtime.JSONFloat{1, 0, 0.25, 0.75}}
	if got, err := AttentionMaps(one, []int{0}, 2); err != nil || !reflect.DeepEqual(got, [][][]float64{{{1, 0}, {0.25, 0.75}}}) {
		t.Errorf("one head [T, T]: %v %v", got, err)
	}
	for _, c := range []struct {
		w     runtime.JSONTensor
		heads []int
		n     int
		want  string
	}{
		{w, []int{2}, 2, "head 2 of 2"},
		{w, []int{0}, 4, "want [B, H, T, T] with T ≥ 4"},
		{runtime.JSONTensor{Shape: []int{2, 3}, Data: make([]runtime.JSONFloat, 6)}, []int{0}, 1, "attention weights of shape [2 3]"},
		{runtime.JSONTensor{Shape: []int{3, 3}, Data: make([]runtime.JSONFloat, 8)}, []int{0}, 1, "attention weights of shape [3 3]"},
		{runtime.JSONTensor{Shape: []int{3}, Data: make([]runtime.JSONFloat, 3)}, []int{0}, 1, "attention weights of shape [3]"},
	} {
		if _, err := AttentionMaps(c.w, c.heads, c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v heads %v n %d: %v, want %q", c.w.Shape, c.heads, c.n, err, c.want)
		}
	}
}
