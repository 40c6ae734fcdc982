// What the BN layers saw in one window of monitored images, image by image:
// per layer and channel, the moments of every value (for the descriptive
// scores against the served running statistics) and the moments of the
// per-image channel means (for the calibrated score: the image is the unit
// of sampling, so the strong correlation of values within one image does not
// masquerade as evidence; docs/drift.md).
#pragma once

#include <cstdint>
#include <vector>

#include "core/stats/batch_stats_sink.h"
#include "core/stats/channel_moments.h"

namespace bnserve {

class DriftWindowAccumulator {
 public:
  // channels[l]: channel count of BN layer l.
  explicit DriftWindowAccumulator(const std::vector<int64_t>& channels);

  // One image's statistics pass (sink.layers[l][c] over that image alone).
  void AddImage(const BatchStatsSink& image);

  int64_t images() const { return images_; }
  // pooled()[l][c]: every value of channel c of layer l in the window.
  const std::vector<std::vector<ChannelMoments>>& pooled() const { return pooled_; }
  // image_means()[l][c]: the moments (over images) of the image's mean.
  const std::vector<std::vector<ChannelMoments>>& image_means() const { return image_means_; }

 private:
  int64_t images_ = 0;
  std::vector<std::vector<ChannelMoments>> pooled_;
  std::vector<std::vector<ChannelMoments>> image_means_;
};

// The per-image channel means of one image, every layer concatenated
// (layer 0's channels first): the row a reference keeps per image.
std::vector<float> ImageMeanRow(const BatchStatsSink& image);

}  // namespace bnserve
