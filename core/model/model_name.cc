#include "core/model/model_name.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace bnserve {
namespace {

constexpr size_t kMaxNameBytes = 255;  // a path component on common file systems

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

absl::Status ValidateModelName(absl::string_view name, absl::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected a model name, got an empty string"));
  }
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected at most ", kMaxNameBytes, " bytes, got ", name.size()));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected a folder name of the repository, got '", name, "'"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i])) {
      // Print the byte in hex: it may be a control character or a slash.
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: expected only [A-Za-z0-9._-], got byte 0x%02x at offset %d", field,
                          static_cast<unsigned char>(name[i]), i));
    }
  }
  return absl::OkStatus();
}

}  // namespace bnserve
