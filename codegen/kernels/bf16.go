package kernels

import (
	"math"
	"sync"
)

// GemmBF16 is Gemm for float32 operands taken rounded to bf16: C (+)=
// bf16(op(A))·bf16(op(B)), every element of A and B rounded to the nearest
// bf16 (roundBF16: ties to even, NaN quieted) and the products summed in
// float32. It is the matrix product of bf16 mixed-precision training, whose
// operands are rounded anyway: the rounding happens while packing (a copy in
// any case) into bf16 pairs, two consecutive k in a uint32, so the rounded
// float32 copies need not exist. The products of bf16 values are exact in
// float32; the sums are float32, in pairs on the AVX512_BF16 path
// (VDPBF16PS), which reads bf16 subnormals as zero. Without AVX512_BF16
// the pairs are widened to float32 in registers and multiply-added (AVX2)
// or in Go: the same rounding points, the sums in another order.
//
// The arguments are Gemm's; p's threads split C into bands. It allocates
// only while p's buffers grow to a new largest shape.
func GemmBF16(p *Pool, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	checkGemm("GemmBF16", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		zeroUnlessAccumulate(m, n, c, ldc, accumulate)
		return
	}
	if p == nil {
		p = sharedPool
	}
	job := bf16Job{transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate}
	bp := bf16State(p)
	set := bf16Kernels(n)
	threads := 1
	if p.Threads() > 1 && UseParallel[float32](transA, transB, m, n, k) {
		threads = p.Threads()
	}
	if threads == 1 {
		bp.mu.Lock()
		job.region(set, &bp.ws[0], 0, m, 0, n)
		bp.mu.Unlock()
		return
	}
	bp.mu.Lock()
	defer bp.mu.Unlock()
	job.byCols = n > m
	unit, extent := set.mr, m
	if job.byCols {
		unit, extent = set.nr, n
	}
	job.set, job.ws, job.unit, job.extent = set, bp.ws, unit, extent
	job.tiles = (extent + unit - 1) / unit
	// Bands of at least minChunk rows or columns (as Gemm's packed path):
	// a narrow band packs its operand in short, slow rows.
	job.chunks = min(job.tiles, max(min(chunksPerThread*threads, extent/minChunk), threads))
	// The operand every band reads whole is packed once, here: B for bands
	// of rows, A for bands of columns.
	size := job.sharedSize(set)
	if len(bp.shared) < size {
		bp.shared = make([]uint32, size)
	}
	if job.byCols {
		job.sharedA = bp.shared[:size]
	} else {
		job.sharedB = bp.shared[:size]
	}
	bp.task = job
	bp.task.prepacking = true // first the threads pack the shared operand
	p.ParallelFor(job.prepackBlocks(set)*prepackParts, &bp.task)
	bp.task.prepacking = false
	p.ParallelFor(job.chunks, &bp.task)
	bp.task = bf16Job{} // drop the references to the caller's slices
}

// GemmBF16OnThread is GemmBF16 computed by the calling goroutine alone with
// the packing buffers of thread t of p, for a range of a ParallelFor on p
// (like GemmOnThread).
func GemmBF16OnThread(p *Pool, thread int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	checkGemm("GemmBF16OnThread", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		zeroUnlessAccumulate(m, n, c, ldc, accumulate)
		return
	}
	if p == nil {
		p = sharedPool
	}
	bp, _ := p.bf16.(*bf16Pool) // made before the ParallelFor that calls this
	if bp == nil {
		panic("kernels: GemmBF16OnThread on a Pool without ReserveBF16")
	}
	job := bf16Job{transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate}
	job.region(bf16Kernels(n), &bp.ws[thread], 0, m, 0, n)
}

// ReserveBF16 grows every thread's GemmBF16 buffers of p for a product of
// this shape, so that no call of it allocates (the bf16 counterpart of
// Reserve). A pool whose threads call GemmBF16OnThread needs it first.
func ReserveBF16(p *Pool, transA, transB bool, m, n, k int) {
	if p == nil {
		p = sharedPool
	}
	bp := bf16State(p)
	set := bf16Kernels(n)
	na, nb, nt := bf16Sizes(set, k, m, n)
	bp.mu.Lock()
	defer bp.mu.Unlock()
	for i := range bp.ws {
		bp.ws[i].grow(na, nb, nt)
	}
	if p.Threads() > 1 && UseParallel[float32](transA, transB, m, n, k) {
		job := bf16Job{transA: transA, transB: transB, m: m, n: n, k: k, byCols: n > m}
		if size := job.sharedSize(set); len(bp.shared) < size {
			bp.shared = make([]uint32, size)
		}
	}
}

// bf16Pool is a Pool's state for GemmBF16: one workspace per thread, and
// the operand a split product packs once for all threads.
type bf16Pool struct {
	mu     sync.Mutex // held by a GemmBF16 on the pool
	ws     []bf16Workspace
	shared []uint32
	task   bf16Job
}

// bf16State returns p's GemmBF16 state, made on first use. It takes p's
// lock, so it is not for a thread of p's ParallelFor.
func bf16State(p *Pool) *bf16Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bf16 == nil {
		p.bf16 = &bf16Pool{ws: make([]bf16Workspace, len(p.workers))}
	}
	return p.bf16.(*bf16Pool)
}

// bf16Sizes are the lengths of the A, B (with packB's scratch after it)
// and tile buffers for a region of rows×cols of C with inner dimension k.
func bf16Sizes(set bf16Set, k, rows, cols int) (na, nb, nt int) {
	kcBlocks := (k + bf16KC - 1) / bf16KC
	kpMax := roundUp((k+kcBlocks-1)/kcBlocks, 2) / 2
	return min(bf16MC, roundUp(rows, set.mr)) * kpMax, (min(bf16NC, roundUp(cols, set.nr)) + 16) * kpMax, set.mr * set.nr
}

// bf16Workspace is one thread's packing buffers: A's and B's pairs and an
// edge tile.
type bf16Workspace struct {
	a, b []uint32
	tile []float32
}

func (w *bf16Workspace) grow(na, nb, nt int) {
	if len(w.a) < na {
		w.a = make([]uint32, na)
	}
	if len(w.b) < nb {
		w.b = make([]uint32, nb)
	}
	if len(w.tile) < nt {
		w.tile = make([]float32, nt)
	}
}

// bf16Tile computes the mr×nr tile C (+)= A·B of kp pairs: A's pair q of row
// r at a[r·rs + q·qs], B's pairs of columns j … at b[q·bs + j].
type bf16Tile func(kp int, a []uint32, rs, qs int, b []uint32, bs int, c []float32, ldc int, accum bool)

// bf16Pack packs rows of src, lds apart, into rows of dst, ldd apart: for
// packRows, row r of dst holds the pairs of consecutive elements of row r
// of src (its n elements, the last pair's high half zero when n is odd);
// for packPairs, row q of dst holds the n pairs of the elements of rows 2q
// and 2q+1 of src.
type bf16Pack func(dst []uint32, ldd int, src []float32, lds, rows, n int)

// bf16Set is one path's tile kernel and packing loops.
type bf16Set struct {
	name      string
	mr, nr    int
	tile      bf16Tile
	packRows  bf16Pack // rows of n floats (n may be odd) to (n+1)/2 pairs each
	packPairs bf16Pack // row pairs of n floats to n pairs each
}

// The blocking of GemmBF16: kc elements of k (even), mc rows of A and nc
// columns of B per packed block.
const (
	bf16KC = 256
	bf16MC = 144
	bf16NC = 1024
)

// bf16Job is one product, or, split between threads, its bands.
type bf16Job struct {
	transA, transB bool
	m, n, k        int
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	accumulate     bool

	// For a split product: the path, the threads' workspaces and the
	// bands, of whole tiles (unit) across extent rows or (byCols) columns.
	set          bf16Set
	ws           []bf16Workspace
	byCols       bool
	sharedA      []uint32 // for bands of columns: all of A's blocks, packed (prepack)
	sharedB      []uint32 // for bands of rows: all of B's blocks
	prepacking   bool     // Range packs parts of the shared operand's blocks
	unit, extent int
	tiles        int // tiles across extent
	chunks       int // bands: ParallelFor's n
}

// Range runs the bands [lo, hi) of a split product (out of its
// ParallelFor's chunks, which cut extent into whole tiles), or, while
// prepacking, the parts [lo, hi) of the shared operand's packing.
func (job *bf16Job) Range(lo, hi, thread int) {
	if job.prepacking {
		for u := lo; u < hi; u++ {
			job.prepackUnit(job.set, u, &job.ws[thread])
		}
		return
	}
	from := job.tiles * lo / job.chunks * job.unit
	to := min(job.extent, job.tiles*hi/job.chunks*job.unit)
	if from >= to {
		return
	}
	if job.byCols {
		job.region(job.set, &job.ws[thread], 0, job.m, from, to)
		return
	}
	job.region(job.set, &job.ws[thread], from, to, 0, job.n)
}

// blocking returns the block sizes of a region of rows×cols of C: kcMax
// (even) steps of k, mcMax rows of A and ncMax columns of B.
func (job *bf16Job) blocking(set bf16Set, rows, cols int) (kcMax, mcMax, ncMax int) {
	kcBlocks := (job.k + bf16KC - 1) / bf16KC
	kcMax = roundUp((job.k+kcBlocks-1)/kcBlocks, 2)
	return kcMax, min(bf16MC, roundUp(rows, set.mr)), min(bf16NC, roundUp(cols, set.nr))
}

// sharedSize is the length of the operand a split product packs once: all
// of B's blocks for bands of rows, all of A's for bands of columns.
func (job *bf16Job) sharedSize(set bf16Set) int {
	kcMax, mcMax, ncMax := job.blocking(set, job.m, job.n)
	size := 0
	for pc := 0; pc < job.k; pc += kcMax {
		kp := (min(kcMax, job.k-pc) + 1) / 2
		if job.byCols {
			for ic := 0; ic < job.m; ic += mcMax {
				size += roundUp(min(mcMax, job.m-ic), set.mr) * kp
			}
			continue
		}
		for jc := 0; jc < job.n; jc += ncMax {
			size += roundUp(min(ncMax, job.n-jc), set.nr) * kp
		}
	}
	return size
}

// prepackParts is how many parts prepack cuts each block into: enough for
// the threads to share the packing.
const prepackParts = 4

// prepackUnit packs part u%prepackParts of block u/prepackParts of the
// shared operand into job's shared buffer (sharedA or sharedB, sharedSize
// long), in the order region reads the blocks, with ws's scratch.
func (job *bf16Job) prepackUnit(set bf16Set, u int, ws *bf16Workspace) {
	kcMax, mcMax, ncMax := job.blocking(set, job.m, job.n)
	ws.grow(bf16Sizes(set, job.k, job.m, job.n))
	block, part := u/prepackParts, u%prepackParts
	span := func(extent, unit int) (lo, hi int) {
		units := extent / unit
		return unit * (units * part / prepackParts), unit * (units * (part + 1) / prepackParts)
	}
	off, i := 0, 0
	if job.byCols {
		for pc := 0; pc < job.k; pc += kcMax {
			kc := min(kcMax, job.k-pc)
			kp := (kc + 1) / 2
			for ic := 0; ic < job.m; ic += mcMax {
				mc := min(mcMax, job.m-ic)
				mp := roundUp(mc, set.mr)
				if i == block {
					extent := mp
					if job.transA {
						extent = kp
					}
					lo, hi := span(extent, 1)
					job.packAPart(set, job.sharedA[off:off+mp*kp], mp, ic, mc, pc, kc, lo, hi)
					return
				}
				off += mp * kp
				i++
			}
		}
		return
	}
	for jc := 0; jc < job.n; jc += ncMax {
		nc := min(ncMax, job.n-jc)
		bs := roundUp(nc, set.nr)
		for pc := 0; pc < job.k; pc += kcMax {
			kc := min(kcMax, job.k-pc)
			kp := (kc + 1) / 2
			if i == block {
				lo, hi := span(kp, 1)
				if job.transB {
					lo, hi = span(bs, 16)
				}
				job.packBPart(set, job.sharedB[off:off+kp*bs], ws.b, bs, pc, kc, jc, nc, lo, hi)
				return
			}
			off += kp * bs
			i++
		}
	}
}

// prepackBlocks is the number of blocks of the shared operand.
func (job *bf16Job) prepackBlocks(set bf16Set) int {
	kcMax, mcMax, ncMax := job.blocking(set, job.m, job.n)
	kcb := (job.k + kcMax - 1) / kcMax
	if job.byCols {
		return kcb * ((job.m + mcMax - 1) / mcMax)
	}
	return kcb * ((job.n + ncMax - 1) / ncMax)
}

// region computes rows [i0,i1) and columns [j0,j1) of C: the whole of
// them, or of C's rows (sharedB) or columns (sharedA).
func (job *bf16Job) region(set bf16Set, ws *bf16Workspace, i0, i1, j0, j1 int) {
	mr, nr := set.mr, set.nr
	k := job.k
	rows, cols := i1-i0, j1-j0
	if job.sharedA != nil {
		rows = job.m
	}
	if job.sharedB != nil {
		cols = job.n
	}
	kcMax, mcMax, ncMax := job.blocking(set, rows, cols)
	ws.grow(bf16Sizes(set, k, rows, cols))
	c, ldc := job.c, job.ldc
	boff := 0
	for jc := j0; jc < j1; jc += ncMax {
		nc := min(ncMax, j1-jc)
		bs := roundUp(nc, nr)
		aoff := 0
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			kp := (kc + 1) / 2
			bp := ws.b[:kp*bs]
			if job.sharedB != nil {
				bp = job.sharedB[boff : boff+kp*bs]
				boff += kp * bs
			} else {
				job.packB(set, bp, ws.b[kp*bs:], bs, pc, kc, jc, nc)
			}
			accum := job.accumulate || pc > 0
			for ic := i0; ic < i1; ic += mcMax {
				mc := min(mcMax, i1-ic)
				mp := roundUp(mc, mr)
				ap := ws.a[:mp*kp]
				var rs, qs int
				if job.sharedA != nil {
					ap = job.sharedA[aoff : aoff+mp*kp]
					aoff += mp * kp
					rs, qs = kp, 1
					if job.transA {
						rs, qs = 1, mp
					}
				} else {
					rs, qs = job.packA(set, ap, mp, ic, mc, pc, kc)
				}
				for jr := 0; jr < nc; jr += nr {
					cols := min(nr, nc-jr)
					bt := bp[jr : (kp-1)*bs+jr+nr]
					for ir := 0; ir < mc; ir += mr {
						rows := min(mr, mc-ir)
						at := ap[ir*rs : ir*rs+(mr-1)*rs+(kp-1)*qs+1]
						ct := c[(ic+ir)*ldc+jc+jr:]
						if rows == mr && cols == nr {
							set.tile(kp, at, rs, qs, bt, bs, ct[:(mr-1)*ldc+nr], ldc, accum)
							continue
						}
						t := ws.tile[:mr*nr]
						set.tile(kp, at, rs, qs, bt, bs, t, nr, false)
						addTile(ct, ldc, t, nr, rows, cols, accum)
					}
				}
			}
		}
	}
}

// packA packs rows [ic, ic+mc) and k [pc, pc+kc) of op(A) into dst (mp ≥ mc
// rows, the rest zero) and returns where row r's pair q is: r·rs + q·qs.
// A stored [m,k] packs row by row (rs = kp, qs = 1); A stored [k,m] (transA)
// pairs two rows of storage (rs = 1, qs = mp).
func (job *bf16Job) packA(set bf16Set, dst []uint32, mp, ic, mc, pc, kc int) (rs, qs int) {
	kp := (kc + 1) / 2
	if !job.transA {
		job.packAPart(set, dst, mp, ic, mc, pc, kc, 0, mp)
		return kp, 1
	}
	job.packAPart(set, dst, mp, ic, mc, pc, kc, 0, kp)
	return 1, mp
}

// packAPart is the part [lo, hi) of packA's work: rows of the packed block
// (of mp) for A stored [m,k], pairs of k (of kp) for A stored [k,m].
func (job *bf16Job) packAPart(set bf16Set, dst []uint32, mp, ic, mc, pc, kc, lo, hi int) {
	kp := (kc + 1) / 2
	a, lda := job.a, job.lda
	if !job.transA {
		if r1 := min(hi, mc); r1 > lo {
			set.packRows(dst[lo*kp:], kp, a[(ic+lo)*lda+pc:], lda, r1-lo, kc)
		}
		if r0 := max(lo, mc); r0 < hi {
			clear(dst[r0*kp : hi*kp])
		}
		return
	}
	packPairsPart(set, dst, mp, a[pc*lda+ic:], lda, kc, mc, lo, hi)
}

// packPairsPart packs pairs of rows q ∈ [lo, hi) (of (kc+1)/2) of the kc
// rows of n elements at src, lds apart, into rows of dst, ldd apart: the
// last, odd row with a zero partner, and each row's elements n … ldd-1
// zero.
func packPairsPart(set bf16Set, dst []uint32, ldd int, src []float32, lds, kc, n, lo, hi int) {
	full := kc / 2
	if q1 := min(hi, full); q1 > lo {
		set.packPairs(dst[lo*ldd:], ldd, src[2*lo*lds:], lds, q1-lo, n)
	}
	if kc%2 == 1 && full >= lo && full < hi {
		packPairRow(dst[full*ldd:][:n], src[(kc-1)*lds:][:n], nil)
	}
	if n < ldd {
		for q := lo; q < hi; q++ {
			clear(dst[q*ldd+n : (q+1)*ldd])
		}
	}
}

// packB packs k [pc, pc+kc) and columns [jc, jc+nc) of op(B) into dst,
// pair q of column j at dst[q·bs + j] (columns nc … bs-1 zero); a
// transposed B uses tmpBuf (16·kp) as scratch.
func (job *bf16Job) packB(set bf16Set, dst, tmpBuf []uint32, bs, pc, kc, jc, nc int) {
	if !job.transB {
		job.packBPart(set, dst, tmpBuf, bs, pc, kc, jc, nc, 0, (kc+1)/2)
		return
	}
	job.packBPart(set, dst, tmpBuf, bs, pc, kc, jc, nc, 0, bs)
}

// packBPart is the part [lo, hi) of packB's work: pairs of k (of kp) for B
// stored [k,n], columns of the packed block (of bs; lo a multiple of 16)
// for B stored [n,k].
func (job *bf16Job) packBPart(set bf16Set, dst, tmpBuf []uint32, bs, pc, kc, jc, nc, lo, hi int) {
	kp := (kc + 1) / 2
	b, ldb := job.b, job.ldb
	if !job.transB {
		packPairsPart(set, dst, bs, b[pc*ldb+jc:], ldb, kc, nc, lo, hi)
		return
	}
	// B stored [n,k]: a row of storage is a column of pairs. Rows are
	// packed 16 at a time into tmp, then transposed into place.
	tmp := tmpBuf[:16*kp]
	for j0 := lo; j0 < min(hi, nc); j0 += 16 {
		cols := min(16, nc-j0, hi-j0)
		set.packRows(tmp, kp, b[(jc+j0)*ldb+pc:], ldb, cols, kc)
		if cols == 16 {
			for q := range kp {
				d := dst[q*bs+j0:][:16:16]
				d[0], d[1], d[2], d[3] = tmp[q], tmp[kp+q], tmp[2*kp+q], tmp[3*kp+q]
				d[4], d[5], d[6], d[7] = tmp[4*kp+q], tmp[5*kp+q], tmp[6*kp+q], tmp[7*kp+q]
				d[8], d[9], d[10], d[11] = tmp[8*kp+q], tmp[9*kp+q], tmp[10*kp+q], tmp[11*kp+q]
				d[12], d[13], d[14], d[15] = tmp[12*kp+q], tmp[13*kp+q], tmp[14*kp+q], tmp[15*kp+q]
			}
			continue
		}
		for q := range kp {
			for jj := range cols {
				dst[q*bs+j0+jj] = tmp[jj*kp+q]
			}
		}
	}
	if c0 := max(lo, nc); c0 < hi {
		for q := range kp {
			clear(dst[q*bs+c0 : q*bs+hi])
		}
	}
}

// bf16Bits is x rounded to the nearest bf16 (roundBF16), as its bits.
func bf16Bits(x float32) uint32 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 {
		return (b | 0x400000) >> 16
	}
	return (b + 0x7fff + (b>>16)&1) >> 16
}

// bf16Pair is the pair of lo and hi rounded to bf16, lo in the low half.
func bf16Pair(lo, hi float32) uint32 { return bf16Bits(lo) | bf16Bits(hi)<<16 }

// packRow packs one row: dst[i] = pair(src[2i], src[2i+1]).
func packRow(dst []uint32, src []float32) {
	n := len(src) / 2
	dst = dst[:(len(src)+1)/2]
	for i := range n {
		dst[i] = bf16Pair(src[2*i], src[2*i+1])
	}
	if len(src)%2 == 1 {
		dst[n] = bf16Bits(src[2*n])
	}
}

// packPairRow packs two rows: dst[i] = pair(r0[i], r1[i]), r1 nil: zero.
func packPairRow(dst []uint32, r0, r1 []float32) {
	dst = dst[:len(r0)]
	if r1 == nil {
		for i, x := range r0 {
			dst[i] = bf16Bits(x)
		}
		return
	}
	r1 = r1[:len(r0)]
	for i, x := range r0 {
		dst[i] = bf16Pair(x, r1[i])
	}
}

// packRowsGo is the portable packRows.
func packRowsGo(dst []uint32, ldd int, src []float32, lds, rows, n int) {
	for r := range rows {
		packRow(dst[r*ldd:], src[r*lds:][:n])
	}
}

// packPairsGo is the portable packPairs.
func packPairsGo(dst []uint32, ldd int, src []float32, lds, rows, n int) {
	for q := range rows {
		packPairRow(dst[q*ldd:][:n], src[2*q*lds:][:n], src[(2*q+1)*lds:][:n])
	}
}

// bf16TileGo is the portable tile kernel, mr×nr = 4×16: the pairs widened
// to float32, the low product multiply-added before the high one.
func bf16TileGo(kp int, a []uint32, rs, qs int, b []uint32, bs int, c []float32, ldc int, accum bool) {
	const mr, nr = 4, 16
	var acc [mr][nr]float32
	for q := range kp {
		brow := b[q*bs : q*bs+nr]
		for r := range mr {
			pa := a[r*rs+q*qs]
			alo, ahi := math.Float32frombits(pa<<16), math.Float32frombits(pa&0xffff0000)
			row := &acc[r]
			for j, pb := range brow {
				row[j] += alo * math.Float32frombits(pb<<16)
				row[j] += ahi * math.Float32frombits(pb&0xffff0000)
			}
		}
	}
	for r := range mr {
		cr := c[r*ldc : r*ldc+nr]
		for j := range cr {
			if accum {
				cr[j] += acc[r][j]
			} else {
				cr[j] = acc[r][j]
			}
		}
	}
}

// bf16GoSet is the portable path.
func bf16GoSet() bf16Set {
	return bf16Set{name: "go", mr: 4, nr: 16, tile: bf16TileGo, packRows: packRowsGo, packPairs: packPairsGo}
}
