#include "core/engine/ops/winograd_conv.h"

#include <algorithm>
#include <cstdint>

namespace bnserve {
namespace {

using conv_internal::kMaxTileCols;

constexpr int kPoints = 16;  // of the 4x4 transform
// A block's V and M together stay within this many bytes (half of a 2 MiB
// L2, leaving room for the transformed filters streaming past).
constexpr int64_t kBlockBytes = 1 << 20;
// Block widths are multiples of the widest vector, so only a block's last
// vector of tiles is partial.
constexpr int64_t kTileAlign = 16;

int64_t RoundUp(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

// Buffers start on a cache line (multiples of 16 floats from an aligned
// base): the transforms and the GEMM load and store whole vectors at tile
// positions that are multiples of 16, and a 64-byte access that straddles
// two lines costs two.
constexpr int64_t kLineFloats = 16;

float* AlignToLine(float* p) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<float*>((address + 63) & ~uintptr_t{63});
}

// U = G g G^T for one 3x3 filter g, in float64, with
// G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
void TransformFilter(const float* g, double u[4][4]) {
  double gg[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    const double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
    gg[0][j] = g0;
    gg[1][j] = 0.5 * (g0 + g1 + g2);
    gg[2][j] = 0.5 * (g0 - g1 + g2);
    gg[3][j] = g2;
  }
  for (int i = 0; i < 4; ++i) {  // (G g) G^T
    const double a = gg[i][0], b = gg[i][1], c = gg[i][2];
    u[i][0] = a;
    u[i][1] = 0.5 * (a + b + c);
    u[i][2] = 0.5 * (a - b + c);
    u[i][3] = c;
  }
}

}  // namespace

WinogradConv::WinogradConv(const float* weights, const float* bias, int64_t out_channels, int64_t in_channels,
                           FusedActivation activation, const conv_internal::ConvKernels& kernels)
    : kernels_(kernels), out_channels_(out_channels), in_channels_(in_channels), activation_(activation) {
  std::vector<float> u(static_cast<size_t>(kPoints * out_channels * in_channels));  // [point][m][c]
  for (int64_t m = 0; m < out_channels; ++m) {
    for (int64_t c = 0; c < in_channels; ++c) {
      double point[4][4];
      TransformFilter(weights + (m * in_channels + c) * 9, point);
      for (int p = 0; p < kPoints; ++p) {
        u[(p * out_channels + m) * in_channels + c] = static_cast<float>(point[p / 4][p % 4]);
      }
    }
  }
  packed_u_size_ = conv_internal::PackedGemmASize(out_channels, in_channels, kernels.mr);
  packed_u_.resize(static_cast<size_t>(kPoints * packed_u_size_));
  for (int p = 0; p < kPoints; ++p) {
    conv_internal::PackGemmA(u.data() + p * out_channels * in_channels, out_channels, in_channels, in_channels,
                             kernels.mr, packed_u_.data() + p * packed_u_size_);
  }
  if (bias != nullptr) bias_.assign(bias, bias + out_channels);
}

WinogradConv::Plan WinogradConv::MakePlan(const WindowGeometry& g, int slots) const {
  Plan p;
  p.tiles_h = (g.out[0] + 1) / 2;
  p.tiles_w = (g.out[1] + 1) / 2;
  p.tiles = p.tiles_h * p.tiles_w;
  // As many blocks as the cache bound asks for, and with threads about four
  // per thread so a slow one holds up little (core/util/thread_pool.h); but never
  // blocks of one vector of tiles when the image has more: their GEMM tiles
  // load one B vector per kMr broadcasts and run at about half speed (a
  // 16x16 output on 2 threads: 4 such blocks). Blocks are whole vectors of
  // tiles, their widths differing by at most one vector: equal widths
  // rounded up to vectors would leave 784 tiles (a 56x56 output) in 7 blocks
  // instead of 8, one thread doing 4 and the other 3.
  const int64_t bytes_per_tile = kPoints * (in_channels_ + out_channels_) * static_cast<int64_t>(sizeof(float));
  const int64_t cache_tiles = std::max(kTileAlign, kBlockBytes / bytes_per_tile / kTileAlign * kTileAlign);
  const int64_t vectors = (p.tiles + kTileAlign - 1) / kTileAlign;
  const int64_t max_blocks = std::max<int64_t>(1, vectors / 2);
  const int64_t min_blocks = slots > 1 ? 4 * slots : 1;
  const int64_t blocks = std::min(max_blocks, std::max(min_blocks, (p.tiles + cache_tiles - 1) / cache_tiles));
  p.blocks = blocks;
  p.vectors = vectors;
  p.block_tiles = (vectors + blocks - 1) / blocks * kTileAlign;  // the widest

  p.input.in_h = g.in[0];
  p.input.in_w = g.in[1];
  p.input.pad_top = g.pad_begin[0];
  p.input.pad_left = g.pad_begin[1];
  const int64_t tile_stride = p.block_tiles + kTileAlign;
  p.v_floats = RoundUp(kPoints * in_channels_ * tile_stride + kMaxTileCols, kLineFloats);
  p.m_floats = RoundUp(kPoints * out_channels_ * tile_stride + kMaxTileCols, kLineFloats);
  return p;
}

int64_t WinogradConv::ScratchFloats(const WindowGeometry& g, int slots) const {
  const Plan p = MakePlan(g, slots);
  return kLineFloats + std::min<int64_t>(slots, p.blocks) * (p.v_floats + p.m_floats);
}

void WinogradConv::Run(const float* x, const WindowGeometry& g, float* y, float* scratch, ThreadPool* pool) const {
  const Plan p = MakePlan(g, NumSlots(pool));
  scratch = AlignToLine(scratch);

  static const int64_t kNoOffset[1] = {0};
  const bool relu = activation_.kind == FusedActivation::Kind::kRelu;
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  ParallelForWithSlot(pool, p.blocks, 1, [&](int slot, int64_t begin, int64_t end) {
    float* v = scratch + slot * (p.v_floats + p.m_floats);
    float* m = v + p.v_floats;
    for (int64_t b = begin; b < end; ++b) {
      conv_internal::WinogradBlock block;
      block.first_tile = b * p.vectors / p.blocks * kTileAlign;
      block.num_tiles = std::min((b + 1) * p.vectors / p.blocks * kTileAlign, p.tiles) - block.first_tile;
      block.tiles_w = p.tiles_w;
      block.tile_stride = p.block_tiles + kTileAlign;
      kernels_.winograd_input(x, p.input, in_channels_, block, v);
      for (int point = 0; point < kPoints; ++point) {
        conv_internal::WindowGemm gemm;
        gemm.a = packed_u_.data() + point * packed_u_size_;
        gemm.b = v + point * block.tile_stride;
        gemm.channels = in_channels_;
        gemm.channel_stride = kPoints * block.tile_stride;
        gemm.tap_offsets = kNoOffset;
        gemm.num_taps = 1;
        gemm.rows = out_channels_;
        gemm.cols = block.num_tiles;
        gemm.c = m + point * block.tile_stride;
        gemm.ldc = kPoints * block.tile_stride;
        kernels_.window_gemm(gemm, 0, conv_internal::NumTiles(kernels_, gemm));
      }
      kernels_.winograd_output(m, out_channels_, block, bias, relu, 0, out_channels_, y, g.out[0], g.out[1]);
    }
  });
  if (activation_.kind != FusedActivation::Kind::kNone && !relu) {
    activation_.Apply(y, out_channels_ * g.out_size());
  }
}

}  // namespace bnserve
