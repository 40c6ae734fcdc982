#include "core/stats/moment_reduction.h"

#include <algorithm>
#include <array>

namespace bnserve {
namespace {

// Below this many contiguous elements per output, runs are too short for the
// run kernel's per-run cost; such layouts go through the column kernel.
constexpr int64_t kMinRunLength = 64;

// Moments of a block of n values from their shifted sums.
ChannelMoments BlockMoments(int64_t n, double shift, double sum, double sum_sq) {
  const double count = static_cast<double>(n);
  ChannelMoments m;
  m.count = n;
  m.mean = shift + sum / count;
  m.m2 = sum_sq - sum * (sum / count);
  // sum_sq >= sum^2/n exactly (Cauchy-Schwarz); rounding can undershoot by an
  // ulp. Written as a comparison so that a NaN stays visible.
  if (m.m2 < 0.0) m.m2 = 0.0;
  return m;
}

// Moments of x[0, len) with len <= kMomentBlock.
ChannelMoments BlockRunMoments(const MomentKernels& kernels, const float* x, int64_t len) {
  const double shift = x[0];
  double sum = 0.0;
  double sum_sq = 0.0;
  kernels.run_sums(x, len, shift, &sum, &sum_sq);
  return BlockMoments(len, shift, sum, sum_sq);
}

// Moments of x[0, n), n >= 1.
ChannelMoments RunMoments(const MomentKernels& kernels, const float* x, int64_t n) {
  ChannelMoments total = BlockRunMoments(kernels, x, std::min(kMomentBlock, n));
  for (int64_t start = kMomentBlock; start < n; start += kMomentBlock) {
    total.Merge(BlockRunMoments(kernels, x + start, std::min(kMomentBlock, n - start)));
  }
  return total;
}

// A run of adjacent axes that are all reduced or all kept, merged into one.
struct Group {
  int64_t size;
  bool reduced;
};

struct Groups {
  std::array<Group, Shape::kMaxRank> items;
  int count = 0;
};

// Drops axes of size 1 (they change neither the data order nor any count)
// and merges neighbours of the same kind, so [128,32,32,64] reduced over
// {0,1,2} becomes [131072 reduced, 64 kept].
Groups Canonicalize(const Shape& shape, uint32_t reduced_axes) {
  Groups g;
  for (int i = 0; i < shape.rank(); ++i) {
    if (shape[i] == 1) continue;
    const bool reduced = (reduced_axes >> i) & 1u;
    if (g.count > 0 && g.items[g.count - 1].reduced == reduced) {
      g.items[g.count - 1].size *= shape[i];
    } else {
      g.items[g.count++] = Group{shape[i], reduced};
    }
  }
  return g;
}

// Index of the first output fed by prefix chunk t, where the prefix is
// groups [0, prefix) and each chunk is the data of the remaining groups.
int64_t PrefixOutputBase(const Groups& g, int prefix, int64_t t) {
  int64_t base = 0;
  int64_t kept_stride = 1;
  for (int i = prefix - 1; i >= 0; --i) {
    const int64_t index = t % g.items[i].size;
    t /= g.items[i].size;
    if (!g.items[i].reduced) {
      base += index * kept_stride;
      kept_stride *= g.items[i].size;
    }
  }
  return base;
}

int64_t PrefixChunks(const Groups& g, int prefix) {
  int64_t chunks = 1;
  for (int i = 0; i < prefix; ++i) chunks *= g.items[i].size;
  return chunks;
}

// Layout [prefix..., kept P, reduced L]: every chunk is P contiguous runs of L.
void ReduceRuns(const MomentKernels& kernels, const float* x, const Groups& g, ChannelMoments* out) {
  const int prefix = g.count - 2;
  const int64_t runs = g.items[g.count - 2].size;
  const int64_t len = g.items[g.count - 1].size;
  const int64_t chunks = PrefixChunks(g, prefix);
  for (int64_t t = 0; t < chunks; ++t) {
    ChannelMoments* chunk_out = out + PrefixOutputBase(g, prefix, t) * runs;
    for (int64_t p = 0; p < runs; ++p, x += len) chunk_out[p].Merge(RunMoments(kernels, x, len));
  }
}

// Rows per column-kernel pass: about 128 KiB of data, so the passes of
// adjacent column tiles over the same rows hit L2 rather than memory.
int64_t RowsPerPass(int64_t width) { return std::max<int64_t>(1, (int64_t{32} << 10) / width); }

// Layout [prefix..., reduced R, kept W]: every chunk is R rows of W outputs.
void ReduceColumns(const MomentKernels& kernels, const float* x, const Groups& g, ChannelMoments* out) {
  const int prefix = g.count - 2;
  const int64_t rows = g.items[g.count - 2].size;
  const int64_t width = g.items[g.count - 1].size;
  const int64_t chunks = PrefixChunks(g, prefix);
  const int64_t rows_per_pass = RowsPerPass(width);
  std::vector<double> shift(width), sum(width), sum_sq(width);
  for (int64_t t = 0; t < chunks; ++t) {
    ChannelMoments* chunk_out = out + PrefixOutputBase(g, prefix, t) * width;
    const float* chunk = x + t * rows * width;
    for (int64_t r = 0; r < rows; r += kMomentBlock) {
      const int64_t block_rows = std::min(kMomentBlock, rows - r);
      const float* block = chunk + r * width;
      std::copy(block, block + width, shift.begin());
      std::fill(sum.begin(), sum.end(), 0.0);
      std::fill(sum_sq.begin(), sum_sq.end(), 0.0);
      // The first row is the shift itself and adds nothing.
      for (int64_t p = 1; p < block_rows; p += rows_per_pass) {
        kernels.column_sums(block + p * width, std::min(rows_per_pass, block_rows - p), width, width, shift.data(),
                            sum.data(), sum_sq.data());
      }
      for (int64_t c = 0; c < width; ++c) {
        chunk_out[c].Merge(BlockMoments(block_rows, shift[c], sum[c], sum_sq[c]));
      }
    }
  }
}

}  // namespace

bool ChannelPlanesAreRuns(const Shape& shape) {
  if (shape.rank() < 3 || shape[1] <= 1 || shape[0] < 1) return false;
  const int64_t inner = shape.Product(2, shape.rank());
  // Canonicalize drops N == 1 (leaving [C kept, inner reduced]: runs of any
  // length); otherwise ReduceMoments reads runs only from kMinRunLength on.
  return inner > 1 && (shape[0] == 1 || inner >= kMinRunLength);
}

void ChannelRunMoments(const TensorView& x, int64_t c_begin, int64_t c_end, ChannelMoments* out) {
  const MomentKernels& kernels = BestMomentKernels();
  const int64_t batch = x.shape[0], channels = x.shape[1];
  const int64_t inner = x.shape.Product(2, x.shape.rank());
  for (int64_t c = c_begin; c < c_end; ++c) {
    ChannelMoments m;
    // ReduceRuns's order: chunk (image) by chunk, merged into an empty entry.
    for (int64_t n = 0; n < batch; ++n) m.Merge(RunMoments(kernels, x.data + (n * channels + c) * inner, inner));
    out[c - c_begin] = m;
  }
}

void ReduceMoments(const TensorView& x, uint32_t reduced_axes, std::vector<ChannelMoments>* out) {
  ReduceMoments(x, reduced_axes, BestMomentKernels(), out);
}

void ReduceMoments(const TensorView& x, uint32_t reduced_axes, const MomentKernels& kernels,
                   std::vector<ChannelMoments>* out) {
  const Shape& shape = x.shape;
  int64_t outputs = 1;
  for (int i = 0; i < shape.rank(); ++i) {
    if (!((reduced_axes >> i) & 1u)) outputs *= shape[i];
  }
  out->assign(static_cast<size_t>(outputs), ChannelMoments{});
  if (x.size() == 0) return;  // every output has an empty reduction set

  Groups g = Canonicalize(shape, reduced_axes);
  if (g.count == 0) g.items[g.count++] = Group{1, true};  // a single element
  const Group& last = g.items[g.count - 1];
  if (g.count == 1 && !last.reduced) {  // nothing reduced: each element alone
    for (int64_t i = 0; i < outputs; ++i) (*out)[i] = ChannelMoments{1, x.data[i], 0.0};
  } else if (g.count == 1) {
    (*out)[0] = RunMoments(kernels, x.data, last.size);
  } else if (!last.reduced) {
    ReduceColumns(kernels, x.data, g, out->data());
  } else if (last.size >= kMinRunLength || g.count == 2) {
    ReduceRuns(kernels, x.data, g, out->data());
  } else {
    // [..., reduced R, kept P, reduced L] with short runs (e.g. [N,C,2,2]):
    // treat each row of P*L values as P*L columns, then fold every L
    // consecutive columns into their output.
    const int64_t len = last.size;
    g.items[g.count - 2].size *= len;
    --g.count;
    std::vector<ChannelMoments> columns(static_cast<size_t>(outputs * len));
    ReduceColumns(kernels, x.data, g, columns.data());
    for (int64_t o = 0; o < outputs; ++o) {
      for (int64_t l = 0; l < len; ++l) (*out)[o].Merge(columns[o * len + l]);
    }
  }
}

}  // namespace bnserve
