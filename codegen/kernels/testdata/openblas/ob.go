// Package ob calls OpenBLAS through cgo for the comparison in
// docs/kernels.md; setup.sh copies it out of testdata.
package ob

/*
#cgo LDFLAGS: -L/usr/lib/x86_64-linux-gnu/openblas-pthread -l:libopenblas.so.0 -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-pthread
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda, const double *b, int ldb, double beta, double *c, int ldc);
void openblas_set_num_threads(int);
char* openblas_get_corename(void);
*/
import "C"

func tr(t bool) C.int {
	if t {
		return 112
	}
	return 111
}

func Core() string { return C.GoString(C.openblas_get_corename()) }

func Sgemm(threads int, ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	C.openblas_set_num_threads(C.int(threads))
	C.cblas_sgemm(101, tr(ta), tr(tb), C.int(m), C.int(n), C.int(k), 1, (*C.float)(&a[0]), C.int(lda), (*C.float)(&b[0]), C.int(ldb), 0, (*C.float)(&c[0]), C.int(ldc))
}

func Dgemm(threads int, ta, tb bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	C.openblas_set_num_threads(C.int(threads))
	C.cblas_dgemm(101, tr(ta), tr(tb), C.int(m), C.int(n), C.int(k), 1, (*C.double)(&a[0]), C.int(lda), (*C.double)(&b[0]), C.int(ldb), 0, (*C.double)(&c[0]), C.int(ldc))
}
