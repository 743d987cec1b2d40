package data

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/runtime"
	"github.com/mlc-dev/mlc/runtime/safetensors"
)

// Tensors is a dataset of examples held in memory, for any model: each
// input's tensor holds the examples along its first axis (N × the model's
// input shape without its batch axis). Batches of batch examples are drawn
// in a shuffled order, a new seeded permutation each epoch; an epoch's last
// examples that do not fill a batch wait for the next. Validation, when
// given, is cut into batches in order.
func Tensors(train, val map[string]runtime.JSONTensor, batch int, seed uint64) (Dataset, error) {
	n, err := examples(train, batch, "training")
	if err != nil {
		return nil, err
	}
	d := &tensorData{train: train, n: n, batch: batch, rng: runtime.RNG{State: runtime.SeedFor(seed, "data")}}
	if len(val) > 0 {
		vn, err := examples(val, batch, "validation")
		if err != nil {
			return nil, err
		}
		for k := range train {
			if _, ok := val[k]; !ok {
				return nil, fmt.Errorf("the validation data lacks input %q", k)
			}
		}
		for start := 0; start+batch <= vn; start += batch {
			d.val = append(d.val, slice(val, start, batch, nil))
		}
	}
	d.shuffle()
	return d, nil
}

// examples checks that every tensor has the same number of examples, at
// least one batch of them, and returns it.
func examples(ts map[string]runtime.JSONTensor, batch int, what string) (int, error) {
	if batch < 1 {
		return 0, fmt.Errorf("batch must be at least 1, got %d", batch)
	}
	if len(ts) == 0 {
		return 0, fmt.Errorf("no %s tensors", what)
	}
	n := -1
	for _, name := range sortedKeys(ts) {
		t := ts[name]
		if len(t.Shape) == 0 {
			return 0, fmt.Errorf("%s tensor %q is a scalar; want the examples along its first axis", what, name)
		}
		if n >= 0 && t.Shape[0] != n {
			return 0, fmt.Errorf("%s tensor %q has %d examples, others %d", what, name, t.Shape[0], n)
		}
		n = t.Shape[0]
	}
	if n < batch {
		return 0, fmt.Errorf("%d %s examples, fewer than one batch of %d", n, what, batch)
	}
	return n, nil
}

func sortedKeys(ts map[string]runtime.JSONTensor) []string {
	keys := make([]string, 0, len(ts))
	for k := range ts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type tensorData struct {
	train map[string]runtime.JSONTensor
	val   []Batch
	n     int
	batch int
	rng   runtime.RNG
	perm  []int
	pos   int // next example of perm
	epoch runtime.RNG
}

// shuffle draws the next epoch's order from rng; the state before it is
// kept, so that a checkpoint can redraw the same order.
func (d *tensorData) shuffle() {
	d.epoch = d.rng
	d.perm = make([]int, d.n)
	for i := range d.perm {
		d.perm[i] = i
	}
	for i := d.n - 1; i > 0; i-- {
		j := int(d.rng.Uint64() % uint64(i+1))
		d.perm[i], d.perm[j] = d.perm[j], d.perm[i]
	}
	d.pos = 0
}

func (d *tensorData) Fixed() bool              { return false }
func (d *tensorData) Validation() []Batch      { return d.val }
func (d *tensorData) Meta() map[string]string  { return nil }
func (d *tensorData) Files() map[string][]byte { return nil }

func (d *tensorData) Next() (Batch, error) {
	if d.pos+d.batch > d.n {
		d.shuffle()
	}
	b := slice(d.train, d.pos, d.batch, d.perm)
	d.pos += d.batch
	return b, nil
}

// State is the generator before this epoch's shuffle and the position in it.
func (d *tensorData) State() string {
	return strconv.FormatUint(d.epoch.State, 10) + ":" + strconv.Itoa(d.pos)
}

func (d *tensorData) Restore(s string) error {
	st, pos, ok := strings.Cut(s, ":")
	seed, err1 := strconv.ParseUint(st, 10, 64)
	p, err2 := strconv.Atoi(pos)
	if !ok || err1 != nil || err2 != nil || p < 0 || p > d.n {
		return fmt.Errorf("bad data position %q", s)
	}
	d.rng.State = seed
	d.shuffle()
	d.pos = p
	return nil
}

// slice takes examples start..start+count (through perm when set) of every
// tensor.
func slice(ts map[string]runtime.JSONTensor, start, count int, perm []int) Batch {
	b := Batch{}
	for name, t := range ts {
		per := len(t.Data) / t.Shape[0]
		out := runtime.JSONTensor{Shape: append([]int{count}, t.Shape[1:]...), Data: make([]runtime.JSONFloat, 0, count*per)}
		for i := range count {
			e := start + i
			if perm != nil {
				e = perm[e]
			}
			out.Data = append(out.Data, t.Data[e*per:(e+1)*per]...)
		}
		b[name] = out
	}
	return b
}

// ReadTensors reads the tensors of a .safetensors file by name (every
// dtype as numbers). Names under "val/" form the validation set (under
// their names without the prefix); the others, the training set.
func ReadTensors(path string) (train, val map[string]runtime.JSONTensor, err error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	train, val = map[string]runtime.JSONTensor{}, map[string]runtime.JSONTensor{}
	for _, t := range f.Tensors {
		j := runtime.JSONTensor{Shape: slices.Clone(t.Shape)}
		for _, v := range t.F32 {
			j.Data = append(j.Data, runtime.JSONFloat(v))
		}
		for _, v := range t.F64 {
			j.Data = append(j.Data, runtime.JSONFloat(v))
		}
		for _, v := range t.I32 {
			j.Data = append(j.Data, runtime.JSONFloat(v))
		}
		if name, ok := strings.CutPrefix(t.Name, "val/"); ok {
			val[name] = j
		} else {
			train[t.Name] = j
		}
	}
	return train, val, nil
}
