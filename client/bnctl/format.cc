#include "client/bnctl/format.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace bnserve::client {

std::string FormatNumber(double value, int significant) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.*g", significant, value);
}

std::string FormatRange(absl::Span<const double> values) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (double v : values) {
    if (std::isnan(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo > hi) return "-";
  return absl::StrCat(FormatNumber(lo), " .. ", FormatNumber(hi));
}

std::string FormatUnixMs(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string FormatSpecShape(const v1::TensorSpec& spec) {
  std::vector<std::string> dims;
  for (int i = 0; i < spec.shape_size(); ++i) {
    const std::string name = i < spec.dim_names_size() ? spec.dim_names(i) : "";
    if (spec.shape(i) >= 0) {
      dims.push_back(absl::StrCat(spec.shape(i)));
    } else {
      dims.push_back(name.empty() ? "?" : name);
    }
  }
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

std::string ModelStateName(v1::ModelState state) {
  switch (state) {
    case v1::MODEL_STATE_LOADING:
      return "loading";
    case v1::MODEL_STATE_AVAILABLE:
      return "available";
    case v1::MODEL_STATE_UNLOADING:
      return "unloading";
    case v1::MODEL_STATE_UNLOADED:
      return "unloaded";
    case v1::MODEL_STATE_ERROR:
      return "error";
    default:
      return "unspecified";
  }
}

std::string ForwardModeName(v1::ForwardMode mode) { return mode == v1::FORWARD_MODE_EVAL ? "eval" : "train"; }

std::string RecalibrationModeName(v1::RecalibrationMode mode) {
  switch (mode) {
    case v1::RECALIBRATION_MODE_CUMULATIVE:
      return "cumulative";
    case v1::RECALIBRATION_MODE_POPULATION:
      return "population";
    case v1::RECALIBRATION_MODE_EXACT:
      return "exact";
    case v1::RECALIBRATION_MODE_PRIOR:
      return "prior";
    case v1::RECALIBRATION_MODE_ALPHA:
      return "alpha";
    default:
      return "ema";
  }
}

size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++width;  // not a continuation byte
  }
  return width;
}

std::string JoinNumbers(absl::Span<const double> values, int significant) {
  return absl::StrJoin(values, " ",
                       [significant](std::string* out, double v) { out->append(FormatNumber(v, significant)); });
}

}  // namespace bnserve::client
