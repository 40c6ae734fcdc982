#include "core/ops/im2col_panels.h"

#include <algorithm>

namespace bnserve {

Im2colPanels::Im2colPanels(const float* x, const WindowGeometry& g) : x_(x), g_(g) {
  for (int64_t ki = 0; ki < g.kernel[0] && ki < kCachedTaps; ++ki) ComputeRowRange(ki, &oh_lo_[ki], &oh_hi_[ki]);
  for (int64_t kj = 0; kj < g.kernel[1] && kj < kCachedTaps; ++kj) ComputeColRange(kj, &ow_lo_[kj], &ow_hi_[kj]);
}

void Im2colPanels::ComputeRowRange(int64_t ki, int64_t* lo, int64_t* hi) const {
  TapRange(ki * g_.dilation[0] - g_.pad_begin[0], g_.stride[0], g_.out[0], 0, g_.in[0], lo, hi);
}

void Im2colPanels::ComputeColRange(int64_t kj, int64_t* lo, int64_t* hi) const {
  TapRange(kj * g_.dilation[1] - g_.pad_begin[1], g_.stride[1], g_.out[1], 0, g_.in[1], lo, hi);
}

void Im2colPanels::WritePanel(int64_t k0, int64_t depth, int64_t n0, int64_t width, float* dst) const {
  // Sgemm's panels are a few packets wide (<= 48 columns today); wider
  // requests are split so the segment table below stays on the stack.
  for (int64_t j0 = 0; j0 < width; j0 += kMaxPanelWidth) {
    WriteColumns(k0, depth, n0 + j0, std::min(kMaxPanelWidth, width - j0), dst + j0, width);
  }
}

void Im2colPanels::WriteColumns(int64_t k0, int64_t depth, int64_t n0, int64_t width, float* dst,
                                int64_t dst_stride) const {
  // The columns run through output rows in segments, the same for every
  // patch row k: compute them once. Segment s covers output columns
  // [ow, end) of output row oh, stored from dst + j.
  struct Segment {
    int64_t oh, ow, end, j;
  };
  Segment segments[kMaxPanelWidth];
  int num_segments = 0;
  const int64_t out_w = g_.out[1];
  for (int64_t j = 0, oh = n0 / out_w, ow = n0 % out_w; j < width; ++oh, ow = 0) {
    const int64_t end = std::min(out_w, ow + width - j);
    segments[num_segments++] = Segment{oh, ow, end, j};
    j += end - ow;
  }
  const int64_t kernel_w = g_.kernel[1], taps = g_.kernel[0] * kernel_w;
  const int64_t in_w = g_.in[1], stride_h = g_.stride[0], stride_w = g_.stride[1];
  int64_t c = k0 / taps, ki = k0 % taps / kernel_w, kj = k0 % kernel_w;
  for (int64_t kk = 0; kk < depth; ++kk, dst += dst_stride) {
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    if (ki < kCachedTaps) {
      oh_lo = oh_lo_[ki];
      oh_hi = oh_hi_[ki];
    } else {
      ComputeRowRange(ki, &oh_lo, &oh_hi);
    }
    if (kj < kCachedTaps) {
      ow_lo = ow_lo_[kj];
      ow_hi = ow_hi_[kj];
    } else {
      ComputeColRange(kj, &ow_lo, &ow_hi);
    }
    const float* x_c = x_ + c * g_.in_size() + (ki * g_.dilation[0] - g_.pad_begin[0]) * in_w +
                       (kj * g_.dilation[1] - g_.pad_begin[1]);
    for (int i = 0; i < num_segments; ++i) {
      const Segment& s = segments[i];
      float* d = dst + s.j - s.ow;  // d[o] for o in [s.ow, s.end)
      if (s.oh < oh_lo || s.oh >= oh_hi) {
        std::fill(d + s.ow, d + s.end, 0.0f);
        continue;
      }
      // x_c + row * in_w + o * stride_w: the input under this tap; only
      // formed for (row, o) inside the image.
      const int64_t row = s.oh * stride_h * in_w;
      const int64_t lo = std::clamp(ow_lo, s.ow, s.end), hi = std::clamp(ow_hi, lo, s.end);
      std::fill(d + s.ow, d + lo, 0.0f);
      if (stride_w == 1) {
        for (int64_t o = lo; o < hi; ++o) d[o] = x_c[row + o];
      } else {
        for (int64_t o = lo; o < hi; ++o) d[o] = x_c[row + o * stride_w];
      }
      std::fill(d + hi, d + s.end, 0.0f);
    }
    if (++kj == kernel_w) {
      kj = 0;
      if (++ki == g_.kernel[0]) {
        ki = 0;
        ++c;
      }
    }
  }
}

}  // namespace bnserve
