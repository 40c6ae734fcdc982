// The one reduction engine behind ComputeChannelMoments (BatchNorm layout) and
// ComputeMoments (tf.nn.moments, any axes): per-output (count, mean, M2) of a
// dense float32 tensor, reduced over an arbitrary set of axes, in one read of
// the data. Stateless and thread-safe.
//
// Layouts: after dropping size-1 axes and merging neighbours, the data is
// either contiguous runs per output ([N,C,H,W] over {0,2,3}: runs of H*W) or
// rows whose columns are outputs ([N,H,W,C] over {0,1,2}: rows of C); short
// runs ([N,C,2,2]) are read as rows too and folded afterwards.
//
// Numerics: the data is cut into blocks of at most kMomentBlock elements per
// output; within a block every element is shifted by the block's first value
// K (an element of the same output, so sum((x-K)^2) <= (B+1) * M2_block and
// the shifted sums cannot cancel catastrophically), the shifted sums are
// accumulated in float64 (x-K and (x-K)^2 of float32 inputs are then exact or
// correctly rounded), and blocks are combined with Chan's merge, which keeps
// the relative error of M2 near 1e-14 on mean-1e4/std-1 data. Float32
// accumulation of the shifted sums is not enough: on
// tests/fixtures/bn-vectors/cancellation.json it misses the 1e-9 relative
// error the service promises (docs/bn-semantics.md, cancellation).
#pragma once

#include <cstdint>
#include <vector>

#include "core/graph/tensor.h"
#include "core/stats/channel_moments.h"
#include "core/stats/moment_kernels.h"

namespace bnserve {

// Elements (per output) combined with one shift before a Chan merge.
inline constexpr int64_t kMomentBlock = 1024;

// Reduces `x` over the axes whose bit is set in `reduced_axes` (bit i = axis
// i). `out` is resized to the product of the kept dimensions and holds their
// moments in row-major order of the kept axes (a single entry when every axis
// is reduced). An output whose reduction set is empty gets count 0.
// REQUIRES: x.data is valid for x.size() floats (or x.size() == 0) and no bit
// at or above x.shape.rank() is set.
// Uses the fastest inner loops this CPU runs; the overload taking `kernels`
// lets tests check every variant.
void ReduceMoments(const TensorView& x, uint32_t reduced_axes, std::vector<ChannelMoments>* out);
void ReduceMoments(const TensorView& x, uint32_t reduced_axes, const MomentKernels& kernels,
                   std::vector<ChannelMoments>* out);

// True when ComputeChannelMoments reads every (n, c) plane of `shape`
// ([N, C, inner...]) as one contiguous run: rank >= 3, C > 1, inner > 1
// and (N == 1 or inner >= the run kernel's minimum length). Then each
// channel's moments can be computed on their own (ChannelRunMoments), e.g.
// by several threads, or right before the channel is normalized.
bool ChannelPlanesAreRuns(const Shape& shape);
// REQUIRES: ChannelPlanesAreRuns(x.shape), 0 <= c_begin <= c_end <= C.
// out[c - c_begin] = channel c's moments, bit-identical to
// ComputeChannelMoments's entry c (the same run sums, merged in the same
// order), so splitting the channels over threads changes no result.
void ChannelRunMoments(const TensorView& x, int64_t c_begin, int64_t c_end, ChannelMoments* out);

}  // namespace bnserve
