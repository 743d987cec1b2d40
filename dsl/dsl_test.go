package dsl_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
)

// TestSeveralErrorsReportedTogether: independent mistakes all show, each at
// its own line; a value built from a failed one reports nothing more.
func TestSeveralErrorsReportedTogether(t *testing.T) {
	_, err := dsl.Build("m", "m", dsl.Options{}, func(b *dsl.Builder) {
		x := b.Input("x", 64, 784)
		w := b.Param("w", dsl.He(), 256, 784)
		h := x.MatMul(w)                     // mistake 1
		h.ReLU().Add(b.Input("c", 3))        // follows from mistake 1: silent
		b.Input("y", 4).Sub(b.Input("z", 5)) // mistake 2
	})
	var be *dsl.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v", err)
	}
	if len(be.Errs) != 2 {
		t.Fatalf("want 2 errors, got %d:\n%v", len(be.Errs), err)
	}
	if !strings.HasPrefix(be.Errs[0].Error(), "dsl/dsl_test.go:18: MatMul: inner dimensions differ: [64,784] x [256,784]; did you mean Transpose(w)?") {
		t.Errorf("first error: %v", be.Errs[0])
	}
	if !strings.HasPrefix(be.Errs[1].Error(), "dsl/dsl_test.go:20: Sub: shapes [4] and [5] do not broadcast") {
		t.Errorf("second error: %v", be.Errs[1])
	}
}

// TestPanicBecomesError: a panic in model code is an error at its line.
func TestPanicBecomesError(t *testing.T) {
	_, err := dsl.Build("m", "m", dsl.Options{}, func(b *dsl.Builder) {
		var sizes []int
		b.Input("x", sizes[3]) // index out of range
	})
	if err == nil || !strings.Contains(err.Error(), "dsl/dsl_test.go:41: panic while building m: runtime error: index out of range") {
		t.Fatalf("err = %v", err)
	}
}

func TestNamesAndDuplicates(t *testing.T) {
	_, err := dsl.Build("m", "m", dsl.Options{}, func(b *dsl.Builder) {
		b.Param("w", dsl.Zeros(), 2)
		b.Param("w", dsl.Zeros(), 2)
		b.Input("2x", 1)
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`dsl/dsl_test.go:51: Param: name "w" already used at dsl/dsl_test.go:50`, `dsl/dsl_test.go:52: Input: bad name "2x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestConfig(t *testing.T) {
	type cfg struct {
		D     int     `mlc:"d" help:"width"`
		LR    float64 `mlc:"lr"`
		Tied  bool    `mlc:"tied"`
		Norm  string  `mlc:"norm"`
		Sizes []int   `mlc:"sizes"`
	}
	c := cfg{D: 4}
	if err := dsl.ApplyConfig("m", &c, "d=8, lr=0.5,tied=true,norm=pre,sizes=3-2-1"); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c) != "{8 0.5 true pre [3 2 1]}" {
		t.Fatalf("config = %v", c)
	}
	if got := dsl.FormatConfig(&c); got != "d=8,lr=0.5,tied=true,norm=pre,sizes=3-2-1" {
		t.Fatalf("FormatConfig = %q", got)
	}
	for spec, want := range map[string]string{
		"d":          `malformed -config item "d": want key=value`,
		"x=1":        `unknown config key "x" for m (keys: d, lr, tied, norm, sizes)`,
		"d=four":     `config key "d": "four" is not an integer`,
		"lr=fast":    `config key "lr": "fast" is not a number`,
		"tied=maybe": `config key "tied": "maybe" is not true or false`,
		"sizes=3,2":  `malformed -config item "2": want key=value`,
		"sizes=3-a":  `config key "sizes": "3-a" is not a list of integers like 784-256-10`,
	} {
		err := dsl.ApplyConfig("m", &c, spec)
		if err == nil || err.Error() != want {
			t.Errorf("%q: err = %v, want %s", spec, err, want)
		}
	}
}
