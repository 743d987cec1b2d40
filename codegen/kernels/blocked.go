package kernels

// The blocked path follows the Goto/BLIS loop nest. For each block of nc
// columns of C and each block of kc steps of the inner dimension, the kc×nc
// block of op(B) is packed into panels nr columns wide; for each block of mc
// rows, the mc×kc block of op(A) is packed into panels mr rows tall; then the
// micro-kernel multiplies one A panel by one B panel into an mr×nr tile of C
// held in registers. A B panel (kc×nr) stays in L1 while the A block (mc×kc)
// streams from L2.

// packedKernel computes the mr×nr tile C = A·B (or C += A·B when accum) from
// an A panel of k columns of mr elements and a B panel of k rows of nr
// elements. c holds the tile's first row; rows are ldc apart. k ≥ 0.
type packedKernel[T Float] func(k int, a, b, c []T, ldc int, accum bool)

// kernelSet is one implementation of the micro-kernels and its blocking.
type kernelSet[T Float] struct {
	name       string
	mr, nr     int // tile of the packed kernel
	kc, mc, nc int // cache blocking: kc and mc bound the packed A block, kc and nc the B block
	packed     packedKernel[T]
	// direct[r] computes an r×nr tile for 1 ≤ r ≤ 6, masked[0][r] an
	// r×nr/2 tile and masked[1][r] an r×nr one, each with its last vector
	// masked (see direct.go). nil when the set has no direct kernels: the
	// direct path then runs as plain loops.
	direct *[7]directKernel[T]
	masked *[2][7]maskedKernel[T]
	dnr    int // width of a direct tile (two vectors), which may differ from nr
	// dot[r] computes an r×4 tile of C = A·Bᵀ for 1 ≤ r < len(dot) (see
	// gemmDot); nil when the set has none: the products it would serve
	// are packed.
	dot []dotKernel[T]
	// kmask is set when the masked kernels take one int32 of the mask per
	// column (AVX-512, which turns it into a K register) rather than one
	// per 32-bit lane of a YMM register (AVX2's VMASKMOV).
	kmask bool
}

// The kernel sets in use, chosen once by the build (select_*.go) and the CPU.
var (
	f32Kernels = selectF32()
	f64Kernels = selectF64()
)

// tile returns the tile of the kernels that run a job: the dot kernels'
// (direct and transB), the direct kernels' (direct) or the packed one's.
// Bands of C split between threads are whole tiles.
func (ks *kernelSet[T]) tile(direct, transB bool) (mr, nr int) {
	switch {
	case direct && transB && ks.dot != nil:
		return len(ks.dot) - 1, 4
	case direct && ks.direct != nil:
		return len(ks.direct) - 1, ks.dnr
	}
	return ks.mr, ks.nr
}

// kernelsFor returns the kernel set for T.
func kernelsFor[T Float]() *kernelSet[T] {
	if ks, ok := any(&f32Kernels).(*kernelSet[T]); ok {
		return ks
	}
	return any(&f64Kernels).(*kernelSet[T])
}

// gemmJob is one product, or the part of it that computes rows [i0,i1) and
// columns [j0,j1) of C.
type gemmJob[T Float] struct {
	transA, transB bool
	m, n, k        int
	a              []T
	lda            int
	b              []T
	ldb            int
	c              []T
	ldc            int
	accumulate     bool
	i0, i1, j0, j1 int
	direct         bool // run on the direct path rather than packed

	// A product split between threads is cut into chunks bands of C, each
	// of whole tiles: columns when byCols, rows otherwise; tiles is the
	// number of tiles across that extent. Threads take bands by
	// claiming them from sched as thread number thread. chunks ≤ 1 means
	// the region above is one piece.
	chunks, tiles int
	byCols        bool
	sched         *schedule
	thread        int
	then          RangeTask // GemmThen: run over the columns of each finished piece
	// transposeB asks for pathTransposeB: before the product is split,
	// op(B) is copied into a buffer of the Pool (useTransposedB) and the
	// job becomes a direct NN one.
	transposeB bool
}

// newJob returns the job for all of C.
func newJob[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate, direct bool) gemmJob[T] {
	return gemmJob[T]{
		transA: transA, transB: transB, m: m, n: n, k: k,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		accumulate: accumulate, i0: 0, i1: m, j0: 0, j1: n, direct: direct,
	}
}

// run computes job's region of C on the calling goroutine, or, for a split
// product, the chunks it claims.
func (job *gemmJob[T]) run(ks *kernelSet[T], ws *workspace[T]) {
	if job.chunks <= 1 {
		job.runRegion(ks, ws)
		job.finish(job.j0, job.j1)
		return
	}
	mr, nr := ks.tile(job.direct, job.transB)
	unit, extent := mr, job.m
	if job.byCols {
		unit, extent = nr, job.n
	}
	part := *job
	for {
		c, ok := job.sched.claim(job.thread)
		if !ok {
			return
		}
		lo := job.tiles * c / job.chunks * unit
		hi := min(extent, job.tiles*(c+1)/job.chunks*unit)
		if job.byCols {
			part.j0, part.j1 = lo, hi
		} else {
			part.i0, part.i1 = lo, hi
		}
		part.runRegion(ks, ws)
		job.finish(lo, hi)
	}
}

func (job *gemmJob[T]) runRegion(ks *kernelSet[T], ws *workspace[T]) {
	switch {
	case job.direct && job.transB:
		gemmDot(ks, job)
	case job.direct:
		gemmDirect(ks, job)
	default:
		gemmRegion(ks, ws, job)
	}
}

// workspace is one thread's packing buffers; bt holds the transposed B of
// pathTransposeB.
type workspace[T Float] struct {
	a, b, tile, bt []T
}

// useTransposedB turns job, a product C = A·Bᵀ on pathTransposeB, into the
// direct product C = A·B' where B' is op(B) copied into ws.bt (grown if
// needed, which Reserve avoids), k rows of n.
func (job *gemmJob[T]) useTransposedB(ws *workspace[T]) {
	n, k := job.n, job.k
	if len(ws.bt) < k*n {
		ws.bt = make([]T, k*n)
	}
	bt := ws.bt[:k*n]
	transposeInto(bt, job.b, job.ldb, n, k)
	job.b, job.ldb, job.transB, job.direct, job.transposeB = bt, n, false, true, false
}

// transposeInto writes the transpose of the n×k matrix b (rows ldb apart)
// into dst, k rows of n, eight rows of b at a time.
func transposeInto[T Float](dst, b []T, ldb, n, k int) {
	j := 0
	for ; j+8 <= n; j += 8 {
		packCols8(dst[j:], n, b[j*ldb:], ldb, k)
	}
	for ; j+4 <= n; j += 4 {
		packCols4(dst[j:], n, b[j*ldb:], ldb, k)
	}
	for ; j < n; j++ {
		for p, v := range b[j*ldb:][:k] {
			dst[p*n+j] = v
		}
	}
}

// grow makes the buffers hold at least na, nb and nt elements. It allocates
// only when a larger shape than any before comes along.
func (w *workspace[T]) grow(na, nb, nt int) {
	if len(w.a) < na {
		w.a = make([]T, na)
	}
	if len(w.b) < nb {
		w.b = make([]T, nb)
	}
	if len(w.tile) < nt {
		w.tile = make([]T, nt)
	}
}

// gemmRegion computes job's region of C on the calling goroutine.
func gemmRegion[T Float](ks *kernelSet[T], ws *workspace[T], job *gemmJob[T]) {
	mr, nr := ks.mr, ks.nr
	k := job.k
	// Split k into equal blocks of at most ks.kc, so that no block is tiny.
	kcBlocks := (k + ks.kc - 1) / ks.kc
	kcMax := (k + kcBlocks - 1) / kcBlocks
	mcMax := min(ks.mc, roundUp(job.i1-job.i0, mr))
	ncMax := min(ks.nc, roundUp(job.j1-job.j0, nr))
	ws.grow(roundUp(mcMax, mr)*kcMax, ncMax*kcMax, mr*nr)
	c, ldc := job.c, job.ldc

	for jc := job.j0; jc < job.j1; jc += ncMax {
		nc := min(ncMax, job.j1-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			packB(ws.b[:roundUp(nc, nr)*kc], job.b, job.ldb, job.transB, pc, jc, kc, nc, nr)
			accum := job.accumulate || pc > 0
			for ic := job.i0; ic < job.i1; ic += mcMax {
				mc := min(mcMax, job.i1-ic)
				packA(ws.a[:roundUp(mc, mr)*kc], job.a, job.lda, job.transA, ic, pc, mc, kc, mr)
				for jr := 0; jr < nc; jr += nr {
					bp := ws.b[jr*kc : (jr+nr)*kc]
					cols := min(nr, nc-jr)
					for ir := 0; ir < mc; ir += mr {
						ap := ws.a[ir*kc : (ir+mr)*kc]
						rows := min(mr, mc-ir)
						ct := c[(ic+ir)*ldc+jc+jr:]
						if rows == mr && cols == nr {
							ks.packed(kc, ap, bp, ct, ldc, accum)
							continue
						}
						// Edge tile: compute it whole into scratch, then
						// copy or add the part that lies inside C.
						t := ws.tile[:mr*nr]
						ks.packed(kc, ap, bp, t, nr, false)
						addTile(ct, ldc, t, nr, rows, cols, accum)
					}
				}
			}
		}
	}
}

// addTile stores (or adds, when accum) the rows×cols top-left corner of the
// tile t, whose rows are ldt apart, into c.
func addTile[T Float](c []T, ldc int, t []T, ldt, rows, cols int, accum bool) {
	for r := range rows {
		cr := c[r*ldc : r*ldc+cols]
		tr := t[r*ldt : r*ldt+cols]
		if accum {
			for j, v := range tr {
				cr[j] += v
			}
		} else {
			copy(cr, tr)
		}
	}
}

// packA packs rows [i0,i0+mc) and columns [p0,p0+kc) of op(A) into dst as
// panels of mr rows: panel q holds, for each p, the mr elements of column p
// in rows i0+q·mr … i0+q·mr+mr-1, so its element (r, p) is at
// dst[q·mr·kc + p·mr + r]. Rows past mc are zero.
func packA[T Float](dst, a []T, lda int, trans bool, i0, p0, mc, kc, mr int) {
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		switch {
		case trans:
			// op(A)(i, p) = a[p*lda + i]: each column of the panel is
			// contiguous in a.
			if rows == 6 && mr == 6 {
				// Element by element: an array copy through pointers is a
				// call to memmove, which costs more than six moves.
				for p := range kc {
					d, s := panel[p*6:][:6:6], a[(p0+p)*lda+i0+ir:][:6:6]
					d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
				}
				continue
			}
			for p := range kc {
				src := a[(p0+p)*lda+i0+ir:][:rows]
				d := panel[p*mr : p*mr+mr]
				copy(d, src)
				clear(d[rows:])
			}
		case rows == 6 && mr == 6:
			packRows6(panel, a[(i0+ir)*lda+p0:], lda, kc)
		default:
			for r := range rows {
				src := a[(i0+ir+r)*lda+p0:][:kc]
				for p, v := range src {
					panel[p*mr+r] = v
				}
			}
			for p := range kc {
				clear(panel[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// packRows6 interleaves six rows of a, each kc long and lda apart, into dst.
func packRows6[T Float](dst, a []T, lda, kc int) {
	r0 := a[:kc]
	r1 := a[lda:][:len(r0)]
	r2 := a[2*lda:][:len(r0)]
	r3 := a[3*lda:][:len(r0)]
	r4 := a[4*lda:][:len(r0)]
	r5 := a[5*lda:][:len(r0)]
	dst = dst[:6*len(r0)]
	for p := range r0 {
		d := dst[6*p : 6*p+6]
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// packB packs rows [p0,p0+kc) and columns [j0,j0+nc) of op(B) into dst as
// panels of nr columns: panel q's element (p, j) is at
// dst[q·nr·kc + p·nr + j]. Columns past nc are zero.
func packB[T Float](dst, b []T, ldb int, trans bool, p0, j0, kc, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : (jr+nr)*kc]
		cols := min(nr, nc-jr)
		if trans {
			// op(B)(p, j) = b[j*ldb + p]: each column of the panel is
			// contiguous in b. Four columns at a time make the writes
			// contiguous too.
			j := 0
			for ; j+8 <= cols; j += 8 {
				packCols8(panel[j:], nr, b[(j0+jr+j)*ldb+p0:], ldb, kc)
			}
			for ; j+4 <= cols; j += 4 {
				packCols4(panel[j:], nr, b[(j0+jr+j)*ldb+p0:], ldb, kc)
			}
			for ; j < cols; j++ {
				src := b[(j0+jr+j)*ldb+p0:][:kc]
				for p, v := range src {
					panel[p*nr+j] = v
				}
			}
			if cols < nr {
				for p := range kc {
					clear(panel[p*nr+cols : p*nr+nr])
				}
			}
			continue
		}
		src := b[p0*ldb+j0+jr:]
		if cols == nr {
			copyRows(panel, src, ldb, kc, nr)
			continue
		}
		for p := range kc {
			d := panel[p*nr : p*nr+nr]
			copy(d, src[p*ldb:p*ldb+cols])
			clear(d[cols:])
		}
	}
}

// packCols4 writes four rows of src, each kc long and ldb apart, as four
// adjacent columns of dst, whose rows are nr apart.
func packCols4[T Float](dst []T, nr int, src []T, ldb, kc int) {
	r0 := src[:kc]
	r1 := src[ldb:][:len(r0)]
	r2 := src[2*ldb:][:len(r0)]
	r3 := src[3*ldb:][:len(r0)]
	for p := range r0 {
		d := dst[p*nr : p*nr+4]
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
	}
}

// packCols8 is packCols4 for eight rows.
func packCols8[T Float](dst []T, nr int, src []T, ldb, kc int) {
	r0 := src[:kc]
	r1 := src[ldb:][:len(r0)]
	r2 := src[2*ldb:][:len(r0)]
	r3 := src[3*ldb:][:len(r0)]
	r4 := src[4*ldb:][:len(r0)]
	r5 := src[5*ldb:][:len(r0)]
	r6 := src[6*ldb:][:len(r0)]
	r7 := src[7*ldb:][:len(r0)]
	for p := range r0 {
		d := dst[p*nr : p*nr+8]
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		d[4], d[5], d[6], d[7] = r4[p], r5[p], r6[p], r7[p]
	}
}

// copyRows copies kc rows of nr elements, ldb apart in src, to dst
// contiguously. A 64-byte row (16 float32 or 8 float64, the SIMD kernels'
// nr) is copied element by element: copy, or an array assignment through
// pointers, is a call to memmove, which costs more for so short a row.
func copyRows[T Float](dst, src []T, ldb, kc, nr int) {
	switch {
	case nr == 16:
		for p := range kc {
			d, s := dst[p*16:][:16:16], src[p*ldb:][:16:16]
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
			d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15] = s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]
		}
	case nr == 8:
		for p := range kc {
			d, s := dst[p*8:][:8:8], src[p*ldb:][:8:8]
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		}
	default:
		for p := range kc {
			copy(dst[p*nr:p*nr+nr], src[p*ldb:p*ldb+nr])
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }
