#include "core/adapt/drift_window.h"

namespace bnserve {

DriftWindowAccumulator::DriftWindowAccumulator(const std::vector<int64_t>& channels) {
  for (int64_t c : channels) {
    pooled_.emplace_back(static_cast<size_t>(c));
    image_means_.emplace_back(static_cast<size_t>(c));
  }
}

void DriftWindowAccumulator::AddImage(const BatchStatsSink& image) {
  for (size_t l = 0; l < pooled_.size() && l < image.layers.size(); ++l) {
    const std::vector<ChannelMoments>& moments = image.layers[l];
    for (size_t c = 0; c < pooled_[l].size() && c < moments.size(); ++c) {
      pooled_[l][c].Merge(moments[c]);
      image_means_[l][c].Merge(ChannelMoments{1, moments[c].mean, 0.0});
    }
  }
  ++images_;
}

std::vector<float> ImageMeanRow(const BatchStatsSink& image) {
  std::vector<float> row;
  for (const std::vector<ChannelMoments>& layer : image.layers) {
    for (const ChannelMoments& m : layer) row.push_back(static_cast<float>(m.mean));
  }
  return row;
}

}  // namespace bnserve
