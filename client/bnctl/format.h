// Small text formatting helpers shared by bnctl's human output: numbers,
// ranges, timestamps, enum names, and the display width of UTF-8 text.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "bnserve/v1/model.pb.h"
#include "bnserve/v1/recalibration.pb.h"
#include "bnserve/v1/statistics.pb.h"
#include "google/protobuf/repeated_field.h"

namespace bnserve::client {

// 4 significant digits ("0.1235", "1.235e-05"); "nan" / "inf" as such.
std::string FormatNumber(double value, int significant = 4);
// "min .. max" of the values, "-" when empty (NaNs skipped).
std::string FormatRange(absl::Span<const double> values);
// "2024-05-01 12:00:00 UTC"; "-" for 0 (version 1 has no commit time).
std::string FormatUnixMs(int64_t unix_ms);
// "[-1(batch),1,8,8]": symbolic dims by name.
std::string FormatSpecShape(const v1::TensorSpec& spec);

// Lower-case names used in both tables and JSON.
std::string ModelStateName(v1::ModelState state);   // "available", ...
std::string ForwardModeName(v1::ForwardMode mode);  // "train" | "eval"
std::string RecalibrationModeName(v1::RecalibrationMode mode);

// Terminal columns taken by UTF-8 text: one per code point (right for the
// ASCII, box-drawing and block characters bnctl prints).
size_t DisplayWidth(absl::string_view text);

// A view of a repeated double field (for the plot and range helpers).
inline absl::Span<const double> DoubleSpan(const google::protobuf::RepeatedField<double>& field) {
  return {field.data(), static_cast<size_t>(field.size())};
}

// Space-separated numbers, FormatNumber each.
std::string JoinNumbers(absl::Span<const double> values, int significant = 4);

}  // namespace bnserve::client
