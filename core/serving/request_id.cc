#include "core/serving/request_id.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/util/crc32c.h"

namespace bnserve {
namespace {

bool IsRequestIdChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-'; }

}  // namespace

absl::Status ValidateRequestId(absl::string_view id, absl::string_view field) {
  if (id.size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected at most ", kMaxRequestIdLength, " characters, got ", id.size()));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!IsRequestIdChar(id[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": expected only the characters A-Z a-z 0-9 . _ : -, got \"", absl::CHexEscape(id.substr(i, 1)),
          "\" at position ", i, " of \"", absl::CHexEscape(id.substr(0, 40)), id.size() > 40 ? "...\"" : "\""));
    }
  }
  return absl::OkStatus();
}

void RequestDigest::AddBytes(const void* data, size_t size) {
  crc_ = crc32c::Extend(crc_, absl::string_view(static_cast<const char*>(data), size));
}

void RequestDigest::AddInt(int64_t value) { AddBytes(&value, sizeof(value)); }

void RequestDigest::AddDouble(double value) { AddBytes(&value, sizeof(value)); }

void RequestDigest::AddString(absl::string_view value) {
  AddInt(static_cast<int64_t>(value.size()));
  AddBytes(value.data(), value.size());
}

void RequestDigest::AddBatch(absl::Span<const TensorView> inputs) {
  AddInt(static_cast<int64_t>(inputs.size()));
  for (const TensorView& input : inputs) {
    AddInt(input.shape.rank());
    for (const int64_t dim : input.shape) AddInt(dim);
    AddBytes(input.data, static_cast<size_t>(input.size()) * sizeof(float));
  }
}

}  // namespace bnserve
