#include "client/input_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/csv.h"
#include "client/npy.h"

namespace bnserve::client {
namespace {

bool HasExtension(const std::string& path, const char* extension) {
  return absl::EndsWith(absl::AsciiStrToLower(path), extension);
}

}  // namespace

absl::StatusOr<FloatArray> ReadFloatFile(const std::string& path) {
  if (HasExtension(path, ".npy")) return ReadNpyFloat(path);
  if (HasExtension(path, ".csv")) return ReadCsv(path);
  return absl::InvalidArgumentError(absl::StrCat(path, ": unknown input file type: expected a .npy or .csv file name"));
}

absl::StatusOr<LabelArray> ReadLabelFile(const std::string& path) {
  if (HasExtension(path, ".npy")) return ReadNpyLabels(path);
  return absl::InvalidArgumentError(absl::StrCat(path, ": labels must be an int64 or int32 .npy file"));
}

}  // namespace bnserve::client
