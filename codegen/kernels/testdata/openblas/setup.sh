#!/bin/sh
# Builds the OpenBLAS comparison of docs/kernels.md: a throwaway copy of
# codegen/kernels in obpeertmp/ (inside the module, so that its imports
# resolve; delete it afterwards), with OpenBLAS registered as a peer of its
# benchmarks (peer_test.go, through the cgo package obpeertmp/ob) and the
# interleaved comparison (interleave_test.go). Needs Debian's
# libopenblas0-pthread and a C compiler. Run from the repository root:
#
#	sh codegen/kernels/testdata/openblas/setup.sh
#	INTERLEAVE=1 OPENBLAS_CORETYPE=SkylakeX go test -count=1 -run TestInterleave -v ./obpeertmp/kernels
#	go test -run '^$' -bench 'Gemm/f32/NN' ./obpeertmp/kernels   # adds an openblas row to each shape
#	rm -r obpeertmp
set -e
S=codegen/kernels/testdata/openblas
D=obpeertmp
rm -rf $D
mkdir -p $D/ob
cp -r codegen/kernels $D/kernels
rm -rf $D/kernels/asmgen $D/kernels/testdata
cp $S/peer_test.go $S/interleave_test.go $D/kernels/
cp $S/ob.go $D/ob/
