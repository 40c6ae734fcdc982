// Internal interface between the convolution algorithms (direct_conv.cc,
// winograd_conv.cc) and their per-instruction-set kernels
// (conv_kernel_{generic,avx2,avx512}.cc, each compiled with its own -m flags
// from conv_kernels.inc). Only those files and tests use it.
//
// The workhorse is the window GEMM: C = A * B where B is never stored. Row k
// of B is a window into a prepared input buffer (the zero-padded image, split
// into stride phases), at an offset given by the k-th filter tap, so column p
// of B is exactly the receptive field of output pixel p: a convolution is a
// GEMM whose B is read in place, with no im2col copy. The same kernel runs
// the Winograd products, whose B rows are plain contiguous rows (one tap at
// offset 0).
//
// As with Sgemm, each kernel table is a constant-initialised data object, so
// choosing one runs no code compiled for an instruction set the CPU lacks.
#pragma once

#include <cstdint>

namespace bnserve::conv_internal {

// C[m][r][p] = act(bias[m] + sum over (channel c, tap t) of
//     A[m][c * num_taps + t] * b[c * channel_stride + tap_offsets[t] + r * b_row_stride + p])
// for m < rows, r < out_rows and p < cols, stored at c[m * ldc + r *
// c_row_stride + p]; act is the identity or, with `relu`, max(0, x) (NaN
// kept, as PyTorch does). One output row (out_rows 1) is a plain GEMM with
// n = cols; several let a convolution write an image whose rows are
// narrower than the input's padded rows straight into place. B is read up
// to kMaxTileCols floats past column `cols` of its furthest window (garbage
// lanes that are never stored): the buffer must be that long.
struct WindowGemm {
  const float* a = nullptr;  // A packed by PackGemmA with the table's mr
  const float* b = nullptr;
  int64_t channels = 0;
  int64_t channel_stride = 0;
  const int64_t* tap_offsets = nullptr;
  int64_t num_taps = 0;
  const float* bias = nullptr;  // [rows], or null for zero
  bool relu = false;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t out_rows = 1;
  int64_t b_row_stride = 0;
  int64_t c_row_stride = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  // Tile order: A-block major (each A block stays in cache while B streams
  // past it; for weights larger than the input) or column-tile major.
  bool a_block_major = false;
};

// Upper bound of ConvKernels::tile_cols over every table.
inline constexpr int64_t kMaxTileCols = 64;

// A block of F(2x2, 3x3) Winograd tiles of one image (see
// core/engine/ops/winograd_conv.h). A tile is a 2x2 output patch; tiles are
// numbered row-major over the tiles_h x tiles_w grid, and the block is tiles
// [first_tile, first_tile + num_tiles). Its transformed input V and products
// M are [channels or rows][16][tile_stride], the 16 being the points of the
// 4x4 transform (row-major), column i holding tile first_tile + i. (Point
// rows of one channel side by side keep the transforms' 16 streams within a
// few pages.)
struct WinogradBlock {
  int64_t first_tile = 0;
  int64_t num_tiles = 0;
  int64_t tiles_w = 0;
  int64_t tile_stride = 0;  // >= num_tiles + 15: full vectors may be stored past the end
};

// Where the Winograd input transform finds a tile's 4x4 input patch: tile
// (r, q) covers rows 2r - pad_top .. 2r - pad_top + 3 and columns 2q -
// pad_left .. + 3 of the image ([channels][in_h][in_w]); the parts outside
// the image are zeros (the padding).
struct WinogradInputGeometry {
  int64_t in_h = 0, in_w = 0;
  int64_t pad_top = 0, pad_left = 0;
};

struct ConvKernels {
  const char* isa;
  int mr;             // rows of A per packed block
  int64_t lanes;      // floats per vector
  int64_t tile_cols;  // columns of C per tile (<= kMaxTileCols)
  // Computes tiles [begin, end) of `g`: tiles are (A block, column tile)
  // pairs, ordered as g.a_block_major says; there are NumTiles(g) of them.
  void (*window_gemm)(const WindowGemm& g, int64_t begin, int64_t end);

  // The Winograd F(2x2, 3x3) transforms; both are null in a table without
  // them (the generic one), and then Conv uses only window_gemm.
  //
  // Input transform: V[c][xi][i] = (B^T d B)[xi] for channels c < channels
  // and the block's tiles, d being the tile's 4x4 input patch of x.
  void (*winograd_input)(const float* x, const WinogradInputGeometry& geometry, int64_t channels,
                         const WinogradBlock& block, float* v);
  // Output transform: for output channels [m_begin, m_end) of M
  // ([rows][16][tile_stride]), writes act(bias + A^T M A) to the part of
  // each tile's 2x2 patch inside y ([rows][out_h][out_w]).
  void (*winograd_output)(const float* m, int64_t rows, const WinogradBlock& block, const float* bias, bool relu,
                          int64_t m_begin, int64_t m_end, float* y, int64_t out_h, int64_t out_w);
};

// Number of tiles of g for k.window_gemm: A blocks times output rows times
// column tiles per row (the columns rounded up to whole tiles of tile_cols).
inline int64_t NumTiles(const ConvKernels& k, const WindowGemm& g) {
  return (g.rows + k.mr - 1) / k.mr * g.out_rows * ((g.cols + k.tile_cols - 1) / k.tile_cols);
}

// Floats PackGemmA writes for an m x k matrix with blocks of mr rows.
inline int64_t PackedGemmASize(int64_t m, int64_t k, int mr) { return (m + mr - 1) / mr * mr * k; }

// Packs row-major A (m x k, row stride lda) into blocks of mr rows, each
// stored column by column (mr floats per column; rows past m are zero), the
// order in which window_gemm broadcasts them.
void PackGemmA(const float* a, int64_t m, int64_t k, int64_t lda, int mr, float* packed);

// The best table this CPU supports, chosen once.
const ConvKernels& SelectedConvKernels();

// Every table compiled into this build whose instruction set this CPU
// supports, best first; `count` receives their number (at most 3).
void SupportedConvKernels(const ConvKernels** tables, int* count);

extern const ConvKernels kGenericConvKernels;
#if defined(__x86_64__)
extern const ConvKernels kAvx2ConvKernels;
extern const ConvKernels kAvx512ConvKernels;
#endif

}  // namespace bnserve::conv_internal
