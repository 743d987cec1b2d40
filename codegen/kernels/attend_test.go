package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var dotPathNames = [...]string{dotPortable: "go", dotAVX2: "avx2", dotAVX512: "avx512"}

// forEachDotPath runs f under every attention kernel set the CPU runs.
func forEachDotPath(t *testing.T, f func(t *testing.T)) {
	for p := dotPortable; p <= dotBest(); p++ {
		t.Run(dotPathNames[p], func(t *testing.T) {
			defer setDotPath(setDotPath(p))
			if dotPath != p {
				t.Fatalf("dotPath %d, forced %d", dotPath, p)
			}
			f(t)
		})
	}
}

func randSlice[T Float](r *rand.Rand, n int) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = T(r.Float64()*2 - 1)
	}
	return x
}

// tolerance is the relative error allowed against float64 sums.
func tolerance[T Float]() float64 {
	var z T
	if any(z) == any(float32(0)) {
		return 2e-5
	}
	return 1e-12
}

func testDotRows[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, d := range []int{1, 3, 4, 5, 8, 12, 13, 16, 24, 32, 40, 64, 72, 128} {
		for _, n := range []int{0, 1, 7, 8, 9, 17, 64, 100} {
			ld := d + 3
			q := randSlice[T](r, d)
			k := randSlice[T](r, max(n*ld-3, 0))
			w := make([]T, n+1)
			w[n] = 42 // past the end: untouched
			dotRows(q, k, ld, w[:n])
			for j := range n {
				want, mag := 0.0, 0.0
				for c := range d {
					want += float64(q[c]) * float64(k[j*ld+c])
					mag += math.Abs(float64(q[c]) * float64(k[j*ld+c]))
				}
				if math.Abs(float64(w[j])-want) > tolerance[T]()*mag+1e-300 {
					t.Fatalf("d %d, n %d: w[%d] = %v, want %v", d, n, j, w[j], want)
				}
			}
			if w[n] != 42 {
				t.Fatalf("d %d, n %d: wrote past the end", d, n)
			}
		}
	}
}

func testAxpyRows[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, d := range []int{1, 3, 4, 5, 8, 12, 13, 16, 24, 32, 40, 48, 64, 72, 96, 128, 136} {
		for _, n := range []int{0, 1, 2, 3, 5, 8, 9, 17, 64, 100} {
			ld := d + 5
			w := randSlice[T](r, n)
			v := randSlice[T](r, max(n*ld-5, 0))
			o := make([]T, d+1)
			for i := range o {
				o[i] = 42 // overwritten, except past the end
			}
			axpyRows(w, v, ld, o[:d])
			for c := range d {
				want, mag := 0.0, 0.0
				for j := range n {
					want += float64(w[j]) * float64(v[j*ld+c])
					mag += math.Abs(float64(w[j]) * float64(v[j*ld+c]))
				}
				if math.Abs(float64(o[c])-want) > tolerance[T]()*mag+1e-300 {
					t.Fatalf("d %d, n %d: o[%d] = %v, want %v", d, n, c, o[c], want)
				}
			}
			if o[d] != 42 {
				t.Fatalf("d %d, n %d: wrote past the end", d, n)
			}
		}
	}
}

// attendRef is attendRow in float64, as the interpreter computes it.
func attendRef[T Float](q, k, v, kNew, vNew []T, t, ld int, scale float64) []float64 {
	d := len(q)
	key := func(j int) []T {
		if j == t {
			return kNew
		}
		return k[j*ld:]
	}
	val := func(j int) []T {
		if j == t {
			return vNew
		}
		return v[j*ld:]
	}
	w := make([]float64, t+1)
	m := math.Inf(-1)
	for j := range w {
		for c := range d {
			w[j] += float64(q[c]) * float64(key(j)[c])
		}
		w[j] *= scale
		m = max(m, w[j])
	}
	sum := 0.0
	for j := range w {
		w[j] = math.Exp(w[j] - m)
		sum += w[j]
	}
	o := make([]float64, d)
	for c := range o {
		for j := range w {
			o[c] += w[j] / sum * float64(val(j)[c])
		}
	}
	return o
}

func testAttendRow[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, d := range []int{5, 8, 16, 32, 64} {
		for _, n := range []int{0, 1, 9, 33, 200} {
			ld := d * 2 // two heads' rows interleaved, as a [s, 2d] layout would
			q, kNew, vNew := randSlice[T](r, d), randSlice[T](r, d), randSlice[T](r, d)
			for i := range q {
				q[i] *= 4 // peaked weights
			}
			k, v := randSlice[T](r, max(n*ld, 1)), randSlice[T](r, max(n*ld, 1))
			o, w := make([]T, d), make([]T, n+1)
			scale := 1 / math.Sqrt(float64(d))
			attendRow(q, k, v, kNew, vNew, o, w, n, ld, scale)
			want := attendRef(q, k, v, kNew, vNew, n, ld, scale)
			for c := range d {
				if math.Abs(float64(o[c])-want[c]) > 10*tolerance[T]() {
					t.Fatalf("d %d, t %d: o[%d] = %v, want %v", d, n, c, o[c], want[c])
				}
			}
		}
	}
}

// testAttendRowTiled: attention over a tiled key cache, filled by tileKeys
// for its first positions and cacheWriteTiled for the rest, matches the
// float64 reference over the same keys in rows; the cache's positions from t
// on hold NaN, which must not reach the result.
func testAttendRowTiled[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, d := range []int{1, 5, 8, 16, 32, 64} {
		for _, n := range []int{0, 1, 9, 15, 16, 17, 33, 200} {
			const heads = 2
			s := (n/keyTile + 1) * keyTile // room for position n, whole tiles
			rows := randSlice[T](r, heads*s*d)
			tiled := make([]T, heads*s*d)
			for i := range tiled {
				tiled[i] = T(math.NaN())
			}
			pre := n / 2 // positions below pre by tileKeys, the rest one by one
			tileKeys(tiled, rows, s, d)
			for i := range tiled { // then forget positions pre… again
				if j := i % (s * d); j/(keyTile*d)*keyTile+j%keyTile >= pre {
					tiled[i] = T(math.NaN())
				}
			}
			x := make([]T, heads*d)
			for p := pre; p < n; p++ {
				for h := range heads {
					copy(x[h*d:], rows[(h*s+p)*d:(h*s+p+1)*d])
				}
				cacheWriteTiled(tiled, x, p, s, d)
			}
			for h := range heads {
				q, kNew, vNew := randSlice[T](r, d), randSlice[T](r, d), randSlice[T](r, d)
				for i := range q {
					q[i] *= 4
				}
				v := randSlice[T](r, max(n*d, 1))
				o, w := make([]T, d), make([]T, s)
				scale := 1 / math.Sqrt(float64(d))
				attendRowTiled(q, tiled[h*s*d:], v, kNew, vNew, o, w, n, d, scale)
				want := attendRef(q, rows[h*s*d:], v, kNew, vNew, n, d, scale)
				for c := range d {
					if !(math.Abs(float64(o[c])-want[c]) <= 10*tolerance[T]()) {
						t.Fatalf("d %d, t %d, head %d: o[%d] = %v, want %v", d, n, h, c, o[c], want[c])
					}
				}
			}
		}
	}
}

func TestAttendRowTiled(t *testing.T) {
	forEachDotPath(t, func(t *testing.T) {
		t.Run("f32", testAttendRowTiled[float32])
		t.Run("f64", testAttendRowTiled[float64])
	})
}

func TestDotRows(t *testing.T) {
	forEachDotPath(t, func(t *testing.T) {
		t.Run("f32", testDotRows[float32])
		t.Run("f64", testDotRows[float64])
	})
}

func TestAxpyRows(t *testing.T) {
	forEachDotPath(t, func(t *testing.T) {
		t.Run("f32", testAxpyRows[float32])
		t.Run("f64", testAxpyRows[float64])
	})
}

func TestAttendRow(t *testing.T) {
	forEachDotPath(t, func(t *testing.T) {
		t.Run("f32", testAttendRow[float32])
		t.Run("f64", testAttendRow[float64])
	})
}

func TestAttendRowAllocs(t *testing.T) {
	const d, n = 32, 300
	r := rand.New(rand.NewPCG(7, 8))
	q, k, v := randSlice[float32](r, d), randSlice[float32](r, n*d), randSlice[float32](r, n*d)
	o, w := make([]float32, d), make([]float32, n+1)
	forEachDotPath(t, func(t *testing.T) {
		if a := testing.AllocsPerRun(10, func() { attendRow(q, k, v, q, q, o, w, n, d, 0.1) }); a != 0 {
			t.Fatalf("%v allocations per call", a)
		}
		if a := testing.AllocsPerRun(10, func() { attendRowTiled(q, k, v, q, q, o, w, n-19, d, 0.1) }); a != 0 {
			t.Fatalf("tiled: %v allocations per call", a)
		}
	})
}

// TestDotBest reports the kernel set this machine runs, so a run on a CPU
// without AVX-512 shows which paths the tests covered.
func TestDotBest(t *testing.T) {
	t.Log("attention kernels:", dotPathNames[dotBest()])
	if setDotPath(99); dotPath != dotBest() {
		t.Fatalf("setDotPath(99) chose %d, not the best %d", dotPath, dotBest())
	}
	setDotPath(dotBest())
}

// BenchmarkAttendRow times one head's attention with its keys in rows
// (attendRow) and in tiles (attendRowTiled), under every kernel set.
func BenchmarkAttendRow(b *testing.B) {
	const d = 32
	for _, n := range []int{64, 1024} {
		r := rand.New(rand.NewPCG(9, 10))
		q, k, v := randSlice[float32](r, d), randSlice[float32](r, n*d), randSlice[float32](r, n*d)
		kt := make([]float32, n*d)
		tileKeys(kt, k, n, d)
		o, w := make([]float32, d), make([]float32, n+1)
		for p := dotPortable; p <= dotBest(); p++ {
			b.Run(fmt.Sprintf("t=%d/%s/rows", n-1, dotPathNames[p]), func(b *testing.B) {
				defer setDotPath(setDotPath(p))
				for b.Loop() {
					attendRow(q, k, v, q, q, o, w, n-1, d, 0.17)
				}
			})
			b.Run(fmt.Sprintf("t=%d/%s/tiled", n-1, dotPathNames[p]), func(b *testing.B) {
				defer setDotPath(setDotPath(p))
				for b.Loop() {
					attendRowTiled(q, kt, v, q, q, o, w, n-1, d, 0.17)
				}
			})
		}
	}
}
