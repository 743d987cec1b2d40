//go:build amd64 && !purego && goexperiment.simd

package kernels

import "simd/archsimd"

// The simd/archsimd versions of the packed micro-kernels, compiled with
// GOEXPERIMENT=simd for comparison with the assembly (see the kernel
// variants in the benchmarks). The assembly stays the default: it measured
// 1.3–2.5× faster. What the Go 1.26 compiler makes of these loops (checked
// with go build -gcflags=-S):
//
//   - MulAdd compiles to VFMADD213PS, which overwrites its first operand,
//     so every FMA whose broadcast is used again is preceded by a register
//     copy, and the accumulators are shuffled back into place by 8–12
//     VMOVDQU at the end of each iteration;
//   - broadcasts are a scalar load plus a register VBROADCASTSS (two
//     instructions instead of one broadcast from memory), and re-slicing a
//     and b costs a few integer instructions per step;
//   - a 6×16 tile (12 accumulators, as in the assembly) runs out of the 16
//     YMM registers and spills accumulators to the stack inside the loop,
//     so these kernels use 4×16 (float32) and 4×8 (float64) tiles, which
//     do not spill and measured about 1.3× faster than 6×16 here.

// simdKernels32 is the float32 archsimd kernel set. Only the packed kernel
// differs from asmKernels32.
func simdKernels32() kernelSet[float32] {
	ks := asmKernels32()
	ks.name, ks.mr, ks.packed = "simd", 4, sgemmPackedSIMD4x16
	return ks
}

// simdKernels64 is the float64 archsimd kernel set.
func simdKernels64() kernelSet[float64] {
	ks := asmKernels64()
	ks.name, ks.mr, ks.mc, ks.packed = "simd", 4, 72, dgemmPackedSIMD4x8
	return ks
}

func haveSIMD() bool { return archsimd.X86.AVX2() && archsimd.X86.FMA() }

// sgemmPackedSIMD4x16 is the archsimd packedKernel with mr = 4, nr = 16.
func sgemmPackedSIMD4x16(k int, a, b, c []float32, ldc int, accum bool) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x8
	a, b = a[:4*k], b[:16*k]
	for len(a) >= 4 && len(b) >= 16 {
		b0 := archsimd.LoadFloat32x8((*[8]float32)(b[0:8]))
		b1 := archsimd.LoadFloat32x8((*[8]float32)(b[8:16]))
		x := archsimd.BroadcastFloat32x8(a[0])
		c00 = x.MulAdd(b0, c00)
		c01 = x.MulAdd(b1, c01)
		x = archsimd.BroadcastFloat32x8(a[1])
		c10 = x.MulAdd(b0, c10)
		c11 = x.MulAdd(b1, c11)
		x = archsimd.BroadcastFloat32x8(a[2])
		c20 = x.MulAdd(b0, c20)
		c21 = x.MulAdd(b1, c21)
		x = archsimd.BroadcastFloat32x8(a[3])
		c30 = x.MulAdd(b0, c30)
		c31 = x.MulAdd(b1, c31)
		a, b = a[4:], b[16:]
	}
	storeRow32(c[0*ldc:], c00, c01, accum)
	storeRow32(c[1*ldc:], c10, c11, accum)
	storeRow32(c[2*ldc:], c20, c21, accum)
	storeRow32(c[3*ldc:], c30, c31, accum)
}

func storeRow32(c []float32, v0, v1 archsimd.Float32x8, accum bool) {
	p0, p1 := (*[8]float32)(c[0:8]), (*[8]float32)(c[8:16])
	if accum {
		v0 = v0.Add(archsimd.LoadFloat32x8(p0))
		v1 = v1.Add(archsimd.LoadFloat32x8(p1))
	}
	v0.Store(p0)
	v1.Store(p1)
}

// dgemmPackedSIMD4x8 is the archsimd packedKernel with mr = 4, nr = 8.
func dgemmPackedSIMD4x8(k int, a, b, c []float64, ldc int, accum bool) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float64x4
	a, b = a[:4*k], b[:8*k]
	for len(a) >= 4 && len(b) >= 8 {
		b0 := archsimd.LoadFloat64x4((*[4]float64)(b[0:4]))
		b1 := archsimd.LoadFloat64x4((*[4]float64)(b[4:8]))
		x := archsimd.BroadcastFloat64x4(a[0])
		c00 = x.MulAdd(b0, c00)
		c01 = x.MulAdd(b1, c01)
		x = archsimd.BroadcastFloat64x4(a[1])
		c10 = x.MulAdd(b0, c10)
		c11 = x.MulAdd(b1, c11)
		x = archsimd.BroadcastFloat64x4(a[2])
		c20 = x.MulAdd(b0, c20)
		c21 = x.MulAdd(b1, c21)
		x = archsimd.BroadcastFloat64x4(a[3])
		c30 = x.MulAdd(b0, c30)
		c31 = x.MulAdd(b1, c31)
		a, b = a[4:], b[8:]
	}
	storeRow64(c[0*ldc:], c00, c01, accum)
	storeRow64(c[1*ldc:], c10, c11, accum)
	storeRow64(c[2*ldc:], c20, c21, accum)
	storeRow64(c[3*ldc:], c30, c31, accum)
}

func storeRow64(c []float64, v0, v1 archsimd.Float64x4, accum bool) {
	p0, p1 := (*[4]float64)(c[0:4]), (*[4]float64)(c[4:8])
	if accum {
		v0 = v0.Add(archsimd.LoadFloat64x4(p0))
		v1 = v1.Add(archsimd.LoadFloat64x4(p1))
	}
	v0.Store(p0)
	v1.Store(p1)
}
