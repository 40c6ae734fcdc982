// Registration entry points, one per op family file. core/engine/ops/registry.cc
// calls each of them to build OpRegistry::Builtin(); the table of which op
// lives where and what it supports is docs/operators.md.
#pragma once

#include "core/engine/op.h"

namespace bnserve {

void RegisterConvOps(OpRegistry* registry);         // conv.cc: Conv (1-D, 2-D, 3-D)
void RegisterGemmOps(OpRegistry* registry);         // gemm.cc: Gemm, MatMul
void RegisterPoolOps(OpRegistry* registry);         // pool.cc: MaxPool, AveragePool, GlobalAveragePool
void RegisterElementwiseOps(OpRegistry* registry);  // elementwise.cc: Add, Sub, Mul, Div
void RegisterActivationOps(OpRegistry* registry);   // activations.cc: Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid,
                                                    // HardSwish, Tanh, Softmax
void RegisterShapeOps(OpRegistry* registry);   // shape_ops.cc: Flatten, Reshape, Transpose, Concat, Identity, Dropout
void RegisterPadOps(OpRegistry* registry);     // pad.cc: Pad
void RegisterReduceOps(OpRegistry* registry);  // reduce.cc: ReduceMean, ReduceSum, ReduceMax
void RegisterSliceSplitOps(OpRegistry* registry);  // slice_split.cc: Slice, Split (float data)
void RegisterBatchNormOps(OpRegistry* registry);   // batch_norm.cc: BatchNormalization, bnserve::ChannelAffine
void RegisterResizeOps(OpRegistry* registry);      // resize.cc: Resize, Upsample

}  // namespace bnserve
