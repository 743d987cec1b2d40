package kernels

// gemvWidth is a one-row kernel (asmgen/gemv.go) and its width in vectors.
type gemvWidth[T Float] struct {
	vecs int
	fn   func(k int, a []T, csa int, b []T, ldb int, c []T, accum bool)
}

// gemvRow computes the leading columns of the row c = a·B (c += a·B with
// accum) that whole vectors of the kernel set ks cover, on the one-row
// kernels, and returns how many columns that is (0 when ks has none): a's
// element p is a[p·csa], B's (p, j) is b[p·ldb + j], B has k ≥ 1 rows and
// n columns. Each kernel walks B's rows once for up to 24 vectors of
// columns, so a row of B is read as one contiguous run rather than two
// vectors at a time (the direct 1-row tile): batch-1 decoding streams
// each weight matrix from memory once, front to back.
func gemvRow[T Float](ks *kernelSet[T], k int, a []T, csa int, b []T, ldb int, c []T, n int, accum bool) int {
	tab, lanes := gemvKernels[T](ks.name)
	if len(tab) == 0 || k < 1 {
		return 0
	}
	a = a[:(k-1)*csa+1]
	j := 0
	for _, w := range tab {
		cols := w.vecs * lanes
		for ; n-j >= cols; j += cols {
			w.fn(k, a, csa, b[j:j+(k-1)*ldb+cols], ldb, c[j:j+cols], accum)
		}
	}
	return j
}
