// Package testutil holds comparison helpers shared by the project's tests.
package testutil

import (
	"fmt"
	"math"
	"os"
	"testing"
)

// Close reports whether got and want agree to tol, relative to the larger
// magnitude (absolute near zero); NaNs agree with NaNs, infinities with
// infinities of the same sign.
func Close(got, want, tol float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	if math.IsInf(got, 0) || math.IsInf(want, 0) {
		return got == want
	}
	scale := math.Max(1, math.Max(math.Abs(got), math.Abs(want)))
	return math.Abs(got-want) <= tol*scale
}

// CompareSlices returns a description of the first element where got and
// want differ by more than tol (see Close), or "" when they agree.
func CompareSlices(got, want []float64, tol float64) string {
	if len(got) != len(want) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	worst, wi := 0.0, -1
	for i := range got {
		if !Close(got[i], want[i], tol) {
			d := math.Abs(got[i] - want[i])
			if wi < 0 || d > worst {
				worst, wi = d, i
			}
		}
	}
	if wi >= 0 {
		return fmt.Sprintf("element %d: got %.17g, want %.17g (diff %.3g, tol %.1g)", wi, got[wi], want[wi], worst, tol)
	}
	return ""
}

// MaxRelErr is the largest |got−want| / max(1, |want|) over the slices.
func MaxRelErr(got, want []float64) float64 {
	m := 0.0
	for i := range got {
		m = math.Max(m, math.Abs(got[i]-want[i])/math.Max(1, math.Abs(want[i])))
	}
	return m
}

// LongEnv is the environment variable that turns on the long end-to-end
// tests (building and running generated code, training runs, fault
// injection): MLC_LONG=1 go test ./... runs everything, as CI does; plain
// go test ./... runs the rest in a few minutes.
const LongEnv = "MLC_LONG"

// LongTests reports whether the long tests are on.
func LongTests() bool { return os.Getenv(LongEnv) == "1" }

// Long skips a long test unless they are on; why says what makes it long.
func Long(t testing.TB, why string) {
	t.Helper()
	if !LongTests() {
		t.Skipf("%s; set %s=1 to run the long tests", why, LongEnv)
	}
}
