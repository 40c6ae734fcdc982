#include "core/model/layer_selection.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bnserve {

absl::StatusOr<std::vector<int>> SelectBnLayers(const Model& model, absl::Span<const std::string> names) {
  const int num_layers = static_cast<int>(model.bn_layers().size());
  std::vector<bool> selected(num_layers, names.empty());
  for (const std::string& name : names) {
    const int index = model.FindBnLayer(name);
    if (index < 0) {
      std::vector<std::string> known;
      for (const BnLayerInfo& layer : model.bn_layers()) known.push_back(layer.name);
      return absl::NotFoundError(absl::StrCat(
          "layers: '", name, "' is not a BN layer of the model (layers: ", absl::StrJoin(known, ", "), ")"));
    }
    selected[index] = true;
  }
  std::vector<int> indices;
  for (int i = 0; i < num_layers; ++i) {
    if (selected[i]) indices.push_back(i);
  }
  return indices;
}

}  // namespace bnserve
