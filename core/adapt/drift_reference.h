// DriftReference: what "no drift" looks like for one served version, and the
// calibrated alarm threshold (docs/drift.md, "The score and the alarm").
//
// It keeps the per-image channel means of the reference images (the windows
// seen right after a version starts being served). A window of n images is
// scored per layer as
//     D_l = mean over channels c of  n * (window mean of image means_c - mu_c)^2 / s2_c
// with mu_c, s2_c the mean and variance of the reference images' means; D_l
// is about 1 for traffic like the reference. The window's score is the
// largest D_l. The threshold is the (1 - false_alarm_rate) quantile of that
// score over bootstrap windows of n whole images drawn from the reference,
// which keeps the correlations between channels and layers, multiplied by
// (1 + n / N) for the reference mean's own sampling error (N reference
// images): a fresh window deviates from mu by both. Immutable once built.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/stats/channel_moments.h"

namespace bnserve {

class DriftReference {
 public:
  // rows: one ImageMeanRow per reference image (>= 2, equal lengths summing
  // channels); window_images: the n of the windows to be scored.
  static std::shared_ptr<const DriftReference> Build(const std::vector<int64_t>& channels,
                                                     const std::vector<std::vector<float>>& rows,
                                                     int64_t window_images, double false_alarm_rate,
                                                     uint64_t seed);

  // Per-layer D_l of a window (image_means[l][c] as DriftWindowAccumulator
  // collects them).
  std::vector<double> LayerScores(const std::vector<std::vector<ChannelMoments>>& image_means) const;

  double threshold() const { return threshold_; }
  int64_t images() const { return images_; }

 private:
  DriftReference() = default;
  // D_l from per-channel window means laid out like a row.
  double LayerScore(size_t layer, const double* window_means, int64_t n) const;

  std::vector<int64_t> channels_;
  std::vector<size_t> offsets_;   // first channel of layer l in a row
  std::vector<double> mean_;      // per channel, rows' layout
  std::vector<double> inv_var_;   // 1 / max(var, floor)
  int64_t images_ = 0;
  double threshold_ = 0.0;
};

}  // namespace bnserve
