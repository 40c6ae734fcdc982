// Turning BN layer names from a request into layer indices.
#pragma once

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "core/model/model.h"
#include "core/util/status.h"

namespace bnserve {

// Indices into model.bn_layers() of `names`, in model order without
// duplicates; every layer when `names` is empty. NOT_FOUND for a name that
// is not a BN layer of the model, listing the layers it has.
absl::StatusOr<std::vector<int>> SelectBnLayers(const Model& model, absl::Span<const std::string> names);

}  // namespace bnserve
