// NumPy .npy files (format versions 1.0, 2.0 and 3.0), the way ML engineers
// hand arrays around. Reads little-endian <f4 and <f8 (float64 is narrowed to
// float32, the wire type) as FloatArray, and <i8 and <i4 as LabelArray; C
// order only. The header is untrusted input: its length, its dict literal,
// the shape (overflow) and the data length are all checked, and every
// problem is an INVALID_ARGUMENT (bad header) or DATA_LOSS (truncated data)
// naming the file, never a crash. Writes version 1.0, as numpy.save does
// for any array of at most 64 dims.
//
// Stateless free functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/float_array.h"

namespace bnserve::client {

// What an .npy header declares.
struct NpyHeader {
  int major_version = 1;
  std::string descr;  // e.g. "<f4"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file to the data
};

// Largest header we accept. numpy itself refuses headers above 10000 bytes
// by default (max_header_size); we allow more for very high-rank shapes but
// keep a bound so a hostile length cannot make us scan gigabytes.
inline constexpr size_t kMaxNpyHeaderBytes = 1 << 20;
// Most dims a shape may have (numpy's own limit is 64).
inline constexpr size_t kMaxNpyDims = 64;

// `what` names the source (usually the path) in error messages.
absl::StatusOr<NpyHeader> ParseNpyHeader(absl::string_view bytes, const std::string& what);

// Whole files already in memory.
absl::StatusOr<FloatArray> ParseNpyFloat(absl::string_view bytes, const std::string& what);
absl::StatusOr<LabelArray> ParseNpyLabels(absl::string_view bytes, const std::string& what);

absl::StatusOr<FloatArray> ReadNpyFloat(const std::string& path);
absl::StatusOr<LabelArray> ReadNpyLabels(const std::string& path);

// Serialized .npy bytes (format 1.0): <f4 for floats, <i8 for labels.
// REQUIRES: at most kMaxNpyDims dims (what the reader accepts).
std::string SerializeNpy(const FloatArray& array);
std::string SerializeNpy(const LabelArray& array);

}  // namespace bnserve::client
