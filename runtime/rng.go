package runtime

import "math"

// RNG is the small generator shared by the interpreter and generated code
// (which carries a copy of the same few lines): SplitMix64, whose state is one
// uint64, so it is seeded, copied and checkpointed trivially and never allocates.
// Parameter initialisation and dropout masks use it, so both engines draw
// exactly the same numbers.
type RNG struct{ State uint64 }

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	r.State += 0x9e3779b97f4a7c15
	z := r.State
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float64 returns a uniform number in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 { return float64(r.Uint64()>>11) * 0x1p-53 }

// Normal returns a standard normal number (Box–Muller, one value per pair of uniforms).
func (r *RNG) Normal() float64 {
	u1 := 1 - r.Float64() // in (0, 1], so the log is finite
	u2 := r.Float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// SeedFor derives the seed of one named stream (a parameter's initialiser)
// from the model seed, with FNV-1a over the name.
func SeedFor(seed uint64, name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h ^ seed
}

// InitParam fills t by the parameter's initializer, as the op table's Param row describes.
func InitParam(t *Tensor, init string, std float64, data []float64, seed uint64, name string) {
	s := t.Shape
	fanIn, fanOut := 1, 1
	if len(s) > 0 {
		fanIn, fanOut = s[0], s[len(s)-1]
	}
	switch init {
	case "zeros":
		t.Zero()
		return
	case "ones":
		for i := range t.Len() {
			t.Set(i, 1)
		}
		return
	case "values":
		for i, v := range data {
			t.Set(i, v)
		}
		return
	case "he":
		std = math.Sqrt(2 / float64(fanIn))
	case "xavier":
		std = math.Sqrt(2 / float64(fanIn+fanOut))
	}
	r := RNG{State: SeedFor(seed, name)}
	for i := range t.Len() {
		t.Set(i, std*r.Normal())
	}
}
