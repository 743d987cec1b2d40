// Package stream measures read bandwidth, the roofline of memory-bound
// work such as decoding one token (which reads every weight and the KV
// cache once): a sum over a buffer of float32 with vectorised loads and
// eight independent accumulators (AVX2 assembly on amd64, else plain Go),
// on 1 or more threads, each summing its own part of the buffer.
package stream

import (
	"sync"
	"time"
)

// sink keeps the sums alive, so nothing is optimised away.
var sink float32

// Buffer is a working set: size bytes of float32 (a multiple of 256 bytes),
// split into one part per thread.
type Buffer struct {
	data  []float32
	parts [][]float32
}

// New allocates and fills a working set of about size bytes for threads
// threads.
func New(size, threads int) *Buffer {
	n := size / 4
	chunk := n / threads / 64 * 64 // whole 256-byte blocks per thread
	b := &Buffer{data: make([]float32, chunk*threads)}
	for i := range b.data {
		b.data[i] = float32(i&7) * 0.125 // touch every page
	}
	for t := range threads {
		b.parts = append(b.parts, b.data[t*chunk:(t+1)*chunk])
	}
	return b
}

// Bytes is the size of the working set.
func (b *Buffer) Bytes() int { return 4 * len(b.data) }

// Read reads the whole working set passes times, every thread its part at
// once, and returns the time of one pass.
func (b *Buffer) Read(passes int) time.Duration {
	var wg sync.WaitGroup
	start := make(chan struct{})
	sums := make([]float32, len(b.parts))
	for t, p := range b.parts {
		wg.Go(func() {
			<-start
			s := float32(0)
			for range passes {
				s += Sum(p)
			}
			sums[t] = s
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	d := time.Since(t0)
	for _, s := range sums {
		sink += s
	}
	return d / time.Duration(passes)
}

// Sum is the sum of x, whose length is a multiple of 64.
func Sum(x []float32) float32 {
	if len(x)%64 != 0 {
		panic("stream: length not a multiple of 64")
	}
	if len(x) == 0 {
		return 0
	}
	return sum(x)
}

// sumGo is the portable sum, with the assembly's eight accumulators.
func sumGo(x []float32) float32 {
	var a [8]float32
	for i := 0; i < len(x); i += 8 {
		a[0] += x[i]
		a[1] += x[i+1]
		a[2] += x[i+2]
		a[3] += x[i+3]
		a[4] += x[i+4]
		a[5] += x[i+5]
		a[6] += x[i+6]
		a[7] += x[i+7]
	}
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}
