package dist

import (
	"fmt"
	"unsafe"
)

// Reducer all-reduces a fixed list of slices (a model's gradients) in
// buckets: runs of consecutive elements of about a bucket size each, one
// collective per bucket. Buckets amortise the per-call latency of many
// small tensors (a gpt has 68) while keeping each message short enough to
// pipeline inside MPI; see docs/distributed.md for the measured trade-off.
//
// A bucket that is one run of memory is reduced in place. Slices that are
// consecutive parts of one array, as far as their capacities show it, are
// one run; other buckets are copied into a staging buffer the Reducer owns
// and back. To avoid the copies, pass one slice that covers all gradients
// (a generated model's gradients are one array).
//
// The bucket boundaries depend only on the slices' lengths, so ranks that
// pass the same shapes exchange the same messages. A Reducer allocates
// nothing after NewReducer; it is not safe for concurrent use.
type Reducer[T Float] struct {
	c       *Comm
	buckets []bucket[T]
	elems   int
}

type bucket[T Float] struct {
	pieces [][]T // the runs of memory the bucket covers, in order
	stage  []T   // with several pieces: where they are reduced
}

// NewReducer plans buckets of at most bucketBytes bytes over grads, in
// order; a slice larger than a bucket is split. bucketBytes ≤ 0 means one
// bucket for everything.
func NewReducer[T Float](c *Comm, grads [][]T, bucketBytes int) (*Reducer[T], error) {
	var z T
	size := int(unsafe.Sizeof(z))
	total := 0
	for _, g := range grads {
		total += len(g)
	}
	per := total
	if bucketBytes > 0 {
		if bucketBytes < size {
			return nil, fmt.Errorf("dist: bucket size %d bytes is smaller than one %d-byte element", bucketBytes, size)
		}
		per = bucketBytes / size
	}
	r := &Reducer[T]{c: c, elems: total}
	var cur bucket[T]
	room := per
	flush := func() {
		if len(cur.pieces) == 0 {
			return
		}
		if len(cur.pieces) > 1 {
			cur.stage = make([]T, per-room)
		}
		r.buckets = append(r.buckets, cur)
		cur, room = bucket[T]{}, per
	}
	for _, g := range grads {
		for len(g) > 0 {
			n := min(len(g), room)
			cur.add(g[:n])
			g, room = g[n:], room-n
			if room == 0 {
				flush()
			}
		}
	}
	flush()
	return r, nil
}

// add appends piece to the bucket, extending the last piece when piece
// continues it within the same array.
func (b *bucket[T]) add(piece []T) {
	if k := len(b.pieces) - 1; k >= 0 {
		last := b.pieces[k]
		n := len(last)
		if cap(last)-n >= len(piece) && &last[:n+1][n] == &piece[0] {
			b.pieces[k] = last[:n+len(piece)]
			return
		}
	}
	b.pieces = append(b.pieces, piece)
}

// Buckets is the number of collectives one Sum or Mean makes.
func (r *Reducer[T]) Buckets() int { return len(r.buckets) }

// Staged is the number of buckets copied through a staging buffer.
func (r *Reducer[T]) Staged() int {
	n := 0
	for _, b := range r.buckets {
		if b.stage != nil {
			n++
		}
	}
	return n
}

// Sum replaces every slice by its elementwise sum over the ranks.
func (r *Reducer[T]) Sum() error { return r.reduce(false) }

// Mean replaces every slice by its elementwise mean over the ranks.
func (r *Reducer[T]) Mean() error { return r.reduce(true) }

func (r *Reducer[T]) reduce(mean bool) error {
	if r.c.size == 1 {
		return r.c.ready()
	}
	for _, b := range r.buckets {
		x := b.stage
		if x == nil {
			x = b.pieces[0]
		} else {
			at := 0
			for _, p := range b.pieces {
				at += copy(x[at:], p)
			}
		}
		var err error
		if mean {
			err = AllreduceMean(r.c, x)
		} else {
			err = AllreduceSum(r.c, x)
		}
		if err != nil {
			return err
		}
		if b.stage == nil {
			continue
		}
		at := 0
		for _, p := range b.pieces {
			at += copy(p, b.stage[at:])
		}
	}
	return nil
}
