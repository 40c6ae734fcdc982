// Reading the data files bnctl accepts, chosen by extension: .npy (float32 or
// float64) and .csv for instances, .npy (int64 or int32) for labels. Every
// error message starts with the path. Stateless; thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "client/float_array.h"

namespace bnserve::client {

absl::StatusOr<FloatArray> ReadFloatFile(const std::string& path);
absl::StatusOr<LabelArray> ReadLabelFile(const std::string& path);

}  // namespace bnserve::client
