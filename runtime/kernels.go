package runtime

import "github.com/mlc-dev/mlc/graph"

// kernels is the interpreter's half of the op table: one kernel per non-leaf
// op. A test walks graph.AllOps and fails when one is missing.
var kernels = map[graph.Op]kernel{
	graph.OpNeg:     unaryKernel(func(x float64) float64 { return -x }),
	graph.OpExp:     unaryKernel(expF),
	graph.OpLog:     unaryKernel(logF),
	graph.OpSqrt:    unaryKernel(sqrtF),
	graph.OpRsqrt:   unaryKernel(func(x float64) float64 { return 1 / sqrtF(x) }),
	graph.OpTanh:    unaryKernel(tanhF),
	graph.OpSigmoid: unaryKernel(Sigmoid),
	graph.OpReLU:    unaryKernel(func(x float64) float64 { return max(x, 0) }),
	graph.OpGELU:    unaryKernel(GELU),
	graph.OpGELUErf: unaryKernel(GELUErf),
	graph.OpAbs:     unaryKernel(absF),
	graph.OpErf:     unaryKernel(erfF),
	graph.OpPow:     kernPow,
	graph.OpCast:    kernCast,

	graph.OpAdd:     binaryKernel(func(a, b float64) float64 { return a + b }),
	graph.OpSub:     binaryKernel(func(a, b float64) float64 { return a - b }),
	graph.OpMul:     binaryKernel(func(a, b float64) float64 { return a * b }),
	graph.OpDiv:     binaryKernel(func(a, b float64) float64 { return a / b }),
	graph.OpMaximum: binaryKernel(func(a, b float64) float64 { return maxF(a, b) }),
	graph.OpMinimum: binaryKernel(func(a, b float64) float64 { return minF(a, b) }),

	graph.OpLess:         compareKernel(func(a, b float64) bool { return a < b }),
	graph.OpLessEqual:    compareKernel(func(a, b float64) bool { return a <= b }),
	graph.OpGreater:      compareKernel(func(a, b float64) bool { return a > b }),
	graph.OpGreaterEqual: compareKernel(func(a, b float64) bool { return a >= b }),
	graph.OpEqual:        compareKernel(func(a, b float64) bool { return a == b }),
	graph.OpNotEqual:     compareKernel(func(a, b float64) bool { return a != b }),
	graph.OpAnd:          compareKernel(func(a, b float64) bool { return a != 0 && b != 0 }),
	graph.OpOr:           compareKernel(func(a, b float64) bool { return a != 0 || b != 0 }),
	graph.OpNot:          kernNot,
	graph.OpWhere:        kernWhere,

	graph.OpMatMul:      kernMatMul,
	graph.OpQMatMul:     kernQMatMul,
	graph.OpRoundBF16:   unaryKernel(roundBF16),
	graph.OpTranspose:   kernIndexMap,
	graph.OpReshape:     kernReshape,
	graph.OpBroadcastTo: kernIndexMap,
	graph.OpSlice:       kernIndexMap,
	graph.OpPad:         kernPad,
	graph.OpConcat:      kernConcat,
	graph.OpGather:      kernGather,
	graph.OpScatterAdd:  kernScatterAdd,
	graph.OpOneHot:      kernOneHot,

	graph.OpSum:    kernReduce,
	graph.OpMean:   kernReduce,
	graph.OpMax:    kernReduce,
	graph.OpArgMax: kernArgMax,

	graph.OpSoftmax:        kernSoftmax,
	graph.OpLogSoftmax:     kernSoftmax,
	graph.OpSoftmaxGrad:    kernSoftmaxGrad,
	graph.OpLogSoftmaxGrad: kernSoftmaxGrad,
	graph.OpLayerNorm:      kernLayerNorm,
	graph.OpLayerNormGrad:  kernLayerNormGrad,
	graph.OpGELUGrad:       binaryKernel(GELUGrad),
	graph.OpGELUErfGrad:    binaryKernel(GELUErfGrad),

	graph.OpDropoutMask: kernDropoutMask,

	graph.OpCrossEntropy:  kernCrossEntropy,
	graph.OpBCEWithLogits: kernBCE,
	graph.OpMSE:           kernMSE,

	graph.OpApplySGD:         kernApplySGD,
	graph.OpApplyMomentum:    kernApplyMomentum,
	graph.OpApplyEMAMomentum: kernApplyMomentum,
	graph.OpApplyRMSProp:     kernApplyRMSProp,
	graph.OpApplyAdam:        kernApplyAdam,
	graph.OpAssign:           kernAssign,
	graph.OpLRSchedule:       kernLRSchedule,
	graph.OpGlobalNorm:       kernGlobalNorm,
	graph.OpAttendCache:      kernAttendCache,
	graph.OpCacheWrite:       kernCacheWrite,

	graph.OpRMSNorm:     kernRMSNorm,
	graph.OpRMSNormGrad: kernRMSNormGrad,
	graph.OpRoPE:        kernRoPE,
}
