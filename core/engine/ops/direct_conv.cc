#include "core/engine/ops/direct_conv.h"

#include <algorithm>
#include <cstring>

namespace bnserve {
namespace {

using conv_internal::WindowGemm;

// Distinct values of (k * dilation) % stride over the taps k < kernel, ascending.
std::vector<int64_t> TapPhases(int64_t kernel, int64_t stride, int64_t dilation) {
  std::vector<int64_t> phases;
  for (int64_t k = 0; k < kernel; ++k) phases.push_back(k * dilation % stride);
  std::sort(phases.begin(), phases.end());
  phases.erase(std::unique(phases.begin(), phases.end()), phases.end());
  return phases;
}

int64_t IndexOf(const std::vector<int64_t>& values, int64_t v) {
  return std::lower_bound(values.begin(), values.end(), v) - values.begin();
}

}  // namespace

DirectConv::DirectConv(const float* weights, const float* bias, int64_t out_channels, int64_t in_channels,
                       int64_t group, const int64_t kernel[2], const int64_t stride[2], const int64_t dilation[2],
                       const AxisWindow& depth, FusedActivation activation, const conv_internal::ConvKernels& kernels)
    : kernels_(kernels),
      out_channels_(out_channels),
      in_channels_(in_channels),
      group_(group),
      stride_{stride[0], stride[1]},
      depth_stride_(depth.stride),
      activation_(activation) {
  depth_phases_ = TapPhases(depth.kernel, depth.stride, depth.dilation);
  row_phases_ = TapPhases(kernel[0], stride[0], dilation[0]);
  col_phases_ = TapPhases(kernel[1], stride[1], dilation[1]);
  const int64_t row_phase_count = static_cast<int64_t>(row_phases_.size());
  const int64_t col_phase_count = static_cast<int64_t>(col_phases_.size());
  for (int64_t kd = 0; kd < depth.kernel; ++kd) {
    for (int64_t kh = 0; kh < kernel[0]; ++kh) {
      for (int64_t kw = 0; kw < kernel[1]; ++kw) {
        const int64_t e = kd * depth.dilation, r = kh * dilation[0], q = kw * dilation[1];
        Tap tap;
        tap.phase = (IndexOf(depth_phases_, e % depth.stride) * row_phase_count + IndexOf(row_phases_, r % stride[0])) *
                        col_phase_count +
                    IndexOf(col_phases_, q % stride[1]);
        tap.depth = e / depth.stride;
        tap.row = r / stride[0];
        tap.col = q / stride[1];
        max_tap_depth_ = std::max(max_tap_depth_, tap.depth);
        max_tap_row_ = std::max(max_tap_row_, tap.row);
        max_tap_col_ = std::max(max_tap_col_, tap.col);
        taps_.push_back(tap);
      }
    }
  }
  const int64_t m = out_channels / group;
  const int64_t depth_k = in_channels / group * static_cast<int64_t>(taps_.size());
  packed_group_size_ = conv_internal::PackedGemmASize(m, depth_k, kernels.mr);
  packed_weights_.resize(static_cast<size_t>(packed_group_size_ * group));
  for (int64_t gr = 0; gr < group; ++gr) {
    conv_internal::PackGemmA(weights + gr * m * depth_k, m, depth_k, depth_k, kernels.mr,
                             packed_weights_.data() + gr * packed_group_size_);
  }
  if (bias != nullptr) bias_.assign(bias, bias + out_channels);
}

DirectConv::Layout DirectConv::ComputeLayout(const WindowGeometry& g) const {
  Layout l;
  l.phase_d = g.depth_out + max_tap_depth_;
  l.phase_h = g.out[0] + max_tap_row_;
  l.phase_w = g.out[1] + max_tap_col_;
  l.phase_plane = l.phase_h * l.phase_w;
  l.phase_stride = l.phase_d * l.phase_plane;
  l.channel_stride =
      static_cast<int64_t>(depth_phases_.size() * row_phases_.size() * col_phases_.size()) * l.phase_stride;
  // The GEMM reads up to a tile past the last window of the last channel,
  // whose last row reaches max_tap_col_ floats past the channel's planes.
  l.input_floats = in_channels_ * l.channel_stride + max_tap_col_ + conv_internal::kMaxTileCols;
  l.flat_cols = g.out[0] * l.phase_w;
  const int64_t lanes = kernels_.lanes;
  // Rows of a single vector (out_w <= lanes, e.g. 7 or 8 with AVX2) would
  // run the GEMM on 1-vector tiles, at about half speed; the flat rows give
  // it wide tiles for a few garbage columns and a compaction.
  const bool single_vector_rows = g.out[1] <= lanes && l.flat_cols > lanes;
  if (l.phase_w == g.out[1]) {
    l.output = Layout::Output::kFlatIsY;
  } else if ((g.out[1] + lanes - 1) / lanes * lanes <= l.phase_w && !single_vector_rows) {
    l.output = Layout::Output::kRows;
  } else {
    l.output = Layout::Output::kFlatCompacted;
  }
  return l;
}

int64_t DirectConv::ScratchFloats(const WindowGeometry& g) const {
  const Layout l = ComputeLayout(g);
  return l.input_floats + (l.output == Layout::Output::kFlatCompacted ? out_channels_ * g.depth_out * l.flat_cols : 0);
}

void DirectConv::PrepareChannel(const float* x, const WindowGeometry& g, const Layout& l, float* dst) const {
  const int64_t in_h = g.in[0], in_w = g.in[1];
  for (int64_t e : depth_phases_) {
    for (int64_t a : row_phases_) {
      for (int64_t b : col_phases_) {
        for (int64_t k = 0; k < l.phase_d; ++k) {
          const int64_t plane = k * depth_stride_ + e - g.depth.pad_begin;
          if (plane < 0 || plane >= g.depth_in) {
            std::fill_n(dst, l.phase_plane, 0.0f);
            dst += l.phase_plane;
            continue;
          }
          const float* x_plane = x + plane * g.in_plane();
          for (int64_t i = 0; i < l.phase_h; ++i, dst += l.phase_w) {
            const int64_t row = i * stride_[0] + a - g.pad_begin[0];
            if (row < 0 || row >= in_h) {
              std::fill_n(dst, l.phase_w, 0.0f);
              continue;
            }
            const float* src = x_plane + row * in_w;
            // Columns j whose input column j * sw + b - pad lies in [0, in_w).
            int64_t lo, hi;
            TapRange(b - g.pad_begin[1], stride_[1], l.phase_w, 0, in_w, &lo, &hi);
            std::fill_n(dst, lo, 0.0f);
            if (stride_[1] == 1) {
              std::memcpy(dst + lo, src + lo + b - g.pad_begin[1], static_cast<size_t>(hi - lo) * sizeof(float));
            } else {
              for (int64_t j = lo; j < hi; ++j) dst[j] = src[j * stride_[1] + b - g.pad_begin[1]];
            }
            std::fill(dst + hi, dst + l.phase_w, 0.0f);
          }
        }
      }
    }
  }
}

void DirectConv::Run(const float* x, const WindowGeometry& g, float* y, float* scratch, ThreadPool* pool) const {
  const Layout l = ComputeLayout(g);
  float* input = scratch;
  const int64_t in_volume = g.in_size();
  ParallelFor(pool, in_channels_, GrainFor(pool, in_channels_, 1), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) PrepareChannel(x + c * in_volume, g, l, input + c * l.channel_stride);
  });
  // The slack is read as garbage lanes only; zero it so they stay finite.
  std::fill(input + in_channels_ * l.channel_stride, input + l.input_floats, 0.0f);

  // Tap offsets for this geometry: on the stack for every kernel up to 8x8,
  // else in a per-thread buffer that only grows (no steady-state allocation).
  constexpr size_t kStackTaps = 64;
  int64_t stack_offsets[kStackTaps];
  thread_local std::vector<int64_t> heap_offsets;
  int64_t* offsets = stack_offsets;
  if (taps_.size() > kStackTaps) {
    if (heap_offsets.size() < taps_.size()) heap_offsets.resize(taps_.size());
    offsets = heap_offsets.data();
  }
  for (size_t t = 0; t < taps_.size(); ++t) {
    offsets[t] =
        taps_[t].phase * l.phase_stride + taps_[t].depth * l.phase_plane + taps_[t].row * l.phase_w + taps_[t].col;
  }

  const int64_t out_plane = g.out_plane();
  const int64_t out_volume = g.out_size();
  const bool compact = l.output == Layout::Output::kFlatCompacted;
  float* out = compact ? scratch + l.input_floats : y;
  // One output channel's rows in `out`, and one depth slice of them.
  const int64_t ldc = compact ? g.depth_out * l.flat_cols : out_volume;
  const int64_t slice = compact ? l.flat_cols : out_plane;
  const int64_t m = out_channels_ / group_, c_per_group = in_channels_ / group_;
  for (int64_t gr = 0; gr < group_; ++gr) {
    for (int64_t od = 0; od < g.depth_out; ++od) {
      WindowGemm gemm;
      gemm.a = packed_weights_.data() + gr * packed_group_size_;
      gemm.b = input + gr * c_per_group * l.channel_stride + od * l.phase_plane;
      gemm.channels = c_per_group;
      gemm.channel_stride = l.channel_stride;
      gemm.tap_offsets = offsets;
      gemm.num_taps = static_cast<int64_t>(taps_.size());
      gemm.bias = bias_.empty() ? nullptr : bias_.data() + gr * m;
      gemm.relu = activation_.kind == FusedActivation::Kind::kRelu;
      gemm.rows = m;
      if (l.output == Layout::Output::kRows) {
        gemm.cols = g.out[1];
        gemm.out_rows = g.out[0];
        gemm.b_row_stride = l.phase_w;
        gemm.c_row_stride = g.out[1];
      } else {
        gemm.cols = l.flat_cols;
      }
      gemm.c = out + gr * m * ldc + od * slice;
      gemm.ldc = ldc;
      // Weights larger than the input: keep each block of them in cache while
      // the input streams past, so they are read from memory once.
      gemm.a_block_major = m * c_per_group * gemm.num_taps > c_per_group * l.channel_stride;
      const int64_t tiles = conv_internal::NumTiles(kernels_, gemm);
      ParallelFor(pool, tiles, GrainFor(pool, tiles, 1),
                  [&](int64_t begin, int64_t end) { kernels_.window_gemm(gemm, begin, end); });
    }
  }
  const bool other_activation =
      activation_.kind != FusedActivation::Kind::kNone && activation_.kind != FusedActivation::Kind::kRelu;
  if (!compact) {
    if (other_activation) activation_.Apply(y, out_channels_ * out_volume);
    return;
  }
  // Compact the flat rows (out_w valid columns of phase_w) into Y; the rows
  // of consecutive depth slices follow each other in both.
  const int64_t rows = g.depth_out * g.out[0], out_w = g.out[1];
  ParallelFor(pool, out_channels_, GrainFor(pool, out_channels_, 1), [&](int64_t begin, int64_t end) {
    for (int64_t mm = begin; mm < end; ++mm) {
      const float* src = out + mm * ldc;
      float* dst = y + mm * out_volume;
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(dst + r * out_w, src + r * l.phase_w, static_cast<size_t>(out_w) * sizeof(float));
      }
      if (other_activation) activation_.Apply(dst, out_volume);
    }
  });
}

}  // namespace bnserve
