package kernels

import (
	"fmt"
	"math"
	"unsafe"
)

// biasRows is a product's epilogue: out[i·n+j] = c[i·n+j] + bias[j] over
// rows × n elements (n = len(bias)), then max(·, 0) when relu, as the
// generated loops compute it (Go's max: a NaN stays NaN, −0 becomes +0).
// out may be c. It replaces the scalar loop after a Linear layer's product
// (matmul, + bias, ReLU), which took 15% of an MLP's forward; see
// docs/kernels.md.
func biasRows[T Float](out, c, bias []T, rows int, relu bool) {
	n := len(bias)
	if rows < 0 || len(out) < rows*n || len(c) < rows*n {
		panic(fmt.Sprintf("kernels: biasRows: %d rows of %d need len(out)=%d, len(c)=%d", rows, n, len(out), len(c)))
	}
	if rows == 0 || n == 0 {
		return
	}
	// floor and fix make one formula of both: max(floor, x) + fix is x
	// (floor −∞, fix −0) or Go's max(x, 0) (floor and fix +0: the +0 turns
	// max's −0 into +0).
	floor, fix := T(math.Inf(-1)), T(math.Copysign(0, -1))
	if relu {
		floor, fix = 0, 0
	}
	done := biasRowsVec(out, c, bias, rows, floor, fix)
	if done == n {
		return
	}
	for i := range rows {
		o, x := out[i*n:(i+1)*n], c[i*n:(i+1)*n]
		for j := done; j < n; j++ {
			v := x[j] + bias[j]
			if relu {
				v = max(v, 0)
			}
			o[j] = v
		}
	}
}

// biasReLURows is biasRows for a layer whose value before the ReLU is kept
// too (for backward): pre[i·n+j] = c[i·n+j] + bias[j] and out = max(pre, 0),
// n = len(bias). Either result may be c itself (not both: they are
// different values); it runs as two passes of biasRows in the order that
// reads c before it is overwritten.
func biasReLURows[T Float](pre, out, c, bias []T, rows int) {
	n := rows * len(bias)
	if rows < 0 || len(pre) < n || len(out) < n || len(c) < n {
		panic(fmt.Sprintf("kernels: biasReLURows: %d rows of %d need len(pre)=%d, len(out)=%d, len(c)=%d", rows, len(bias), len(pre), len(out), len(c)))
	}
	if n == 0 {
		return
	}
	switch {
	case !overlaps(out[:n], c[:n]):
		biasRows(out, c, bias, rows, true)
		biasRows(pre, c, bias, rows, false)
	case !overlaps(pre[:n], c[:n]):
		biasRows(pre, c, bias, rows, false)
		biasRows(out, c, bias, rows, true)
	default:
		panic("kernels: biasReLURows: both results overlap c")
	}
}

// overlaps reports whether x and y share memory.
func overlaps[T Float](x, y []T) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	size := uintptr(unsafe.Sizeof(x[0]))
	x0, y0 := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&y[0]))
	return x0 < y0+uintptr(len(y))*size && y0 < x0+uintptr(len(x))*size
}
