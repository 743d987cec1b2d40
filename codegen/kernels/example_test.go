package kernels_test

import (
	"fmt"

	"github.com/mlc-dev/mlc/codegen/kernels"
)

// A dense layer's forward and backward products on a batch, with a Pool
// created once, as a generated model does.
func ExampleSgemm() {
	const batch, in, out = 2, 3, 2
	x := []float32{1, 2, 3, 4, 5, 6} // [batch, in]
	w := []float32{1, 0, 0, 1, 1, 1} // [in, out]
	y := make([]float32, batch*out)  // [batch, out]
	dy := []float32{1, 0, 0, 1}      // [batch, out]
	dw := make([]float32, in*out)    // [in, out]
	dx := make([]float32, batch*in)  // [batch, in]

	pool := kernels.NewPool(1)
	defer pool.Close()
	kernels.Sgemm(pool, false, false, batch, out, in, x, in, w, out, y, out, false)  // y = x·W
	kernels.Sgemm(pool, true, false, in, out, batch, x, in, dy, out, dw, out, false) // dW = xᵀ·dy
	kernels.Sgemm(pool, false, true, batch, in, out, dy, out, w, out, dx, in, false) // dx = dy·Wᵀ
	kernels.Sgemm(pool, true, false, in, out, batch, x, in, dy, out, dw, out, true)  // dW += xᵀ·dy
	fmt.Println(y, dw, dx)
	// Output: [4 5 10 11] [2 8 4 10 6 12] [1 0 1 0 1 1]
}

// A batched product over a contiguous batch is a loop over offset slices.
func ExampleDgemm_batched() {
	const batch, m, n, k = 2, 1, 2, 2
	a := []float64{1, 2, 3, 4}             // [batch, m, k]
	b := []float64{1, 0, 0, 1, 2, 0, 0, 2} // [batch, k, n]
	c := make([]float64, batch*m*n)        // [batch, m, n]
	for i := range batch {
		kernels.Dgemm(nil, false, false, m, n, k, a[i*m*k:], k, b[i*k*n:], n, c[i*m*n:], n, false)
	}
	fmt.Println(c)
	// Output: [1 2 6 8]
}
