// Model names: a model is a folder of the repository, so its name becomes a
// path component and must not be able to escape the repository.
#pragma once

#include "absl/strings/string_view.h"
#include "core/util/status.h"

namespace bnserve {

// OK for [A-Za-z0-9._-]+ other than "." and ".." (at most 255 bytes).
// Otherwise INVALID_ARGUMENT naming the offending character; `field` names
// the request field in the message (e.g. "model").
absl::Status ValidateModelName(absl::string_view name, absl::string_view field = "model");

}  // namespace bnserve
