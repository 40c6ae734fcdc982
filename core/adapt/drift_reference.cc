#include "core/adapt/drift_reference.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace bnserve {
namespace {

// Bootstrap windows drawn to set the threshold: enough for a 1% quantile to
// rest on ten windows above it.
constexpr int kBootstrapWindows = 1000;

}  // namespace

std::shared_ptr<const DriftReference> DriftReference::Build(const std::vector<int64_t>& channels,
                                                            const std::vector<std::vector<float>>& rows,
                                                            int64_t window_images, double false_alarm_rate,
                                                            uint64_t seed) {
  std::shared_ptr<DriftReference> ref(new DriftReference());
  ref->channels_ = channels;
  size_t width = 0;
  for (int64_t c : channels) {
    ref->offsets_.push_back(width);
    width += static_cast<size_t>(c);
  }
  ref->images_ = static_cast<int64_t>(rows.size());
  std::vector<ChannelMoments> moments(width);
  for (const std::vector<float>& row : rows) {
    for (size_t k = 0; k < width && k < row.size(); ++k) moments[k].Merge(ChannelMoments{1, row[k], 0.0});
  }
  ref->mean_.resize(width);
  ref->inv_var_.resize(width);
  for (size_t l = 0; l < channels.size(); ++l) {
    // A channel whose image means hardly vary (a dead unit) must not turn a
    // rounding difference into an alarm: floor its variance at a millionth
    // of the layer's mean variance.
    double layer_var = 0.0;
    for (int64_t c = 0; c < channels[l]; ++c) layer_var += moments[ref->offsets_[l] + c].VarUnbiased();
    const double floor = 1e-6 * layer_var / std::max<int64_t>(1, channels[l]) + 1e-30;
    for (int64_t c = 0; c < channels[l]; ++c) {
      const size_t k = ref->offsets_[l] + c;
      ref->mean_[k] = moments[k].mean;
      ref->inv_var_[k] = 1.0 / std::max(moments[k].VarUnbiased(), floor);
    }
  }

  std::mt19937_64 random(seed);
  std::uniform_int_distribution<size_t> pick(0, rows.size() - 1);
  std::vector<double> scores;
  std::vector<double> window(width);
  for (int b = 0; b < kBootstrapWindows; ++b) {
    std::fill(window.begin(), window.end(), 0.0);
    for (int64_t i = 0; i < window_images; ++i) {
      const std::vector<float>& row = rows[pick(random)];
      for (size_t k = 0; k < width; ++k) window[k] += row[k];
    }
    for (double& w : window) w /= static_cast<double>(window_images);
    double score = 0.0;
    for (size_t l = 0; l < channels.size(); ++l) score = std::max(score, ref->LayerScore(l, window.data(), window_images));
    scores.push_back(score);
  }
  std::sort(scores.begin(), scores.end());
  const size_t q = std::min(scores.size() - 1, static_cast<size_t>(std::ceil((1.0 - false_alarm_rate) * scores.size())));
  ref->threshold_ = scores[q] * (1.0 + static_cast<double>(window_images) / static_cast<double>(rows.size()));
  return ref;
}

double DriftReference::LayerScore(size_t layer, const double* window_means, int64_t n) const {
  const size_t begin = offsets_[layer];
  double sum = 0.0;
  for (int64_t c = 0; c < channels_[layer]; ++c) {
    const double d = window_means[begin + c] - mean_[begin + c];
    sum += d * d * inv_var_[begin + c];
  }
  return channels_[layer] > 0 ? static_cast<double>(n) * sum / static_cast<double>(channels_[layer]) : 0.0;
}

std::vector<double> DriftReference::LayerScores(const std::vector<std::vector<ChannelMoments>>& image_means) const {
  std::vector<double> scores;
  std::vector<double> window(mean_.size(), 0.0);
  for (size_t l = 0; l < channels_.size() && l < image_means.size(); ++l) {
    int64_t n = 0;
    for (int64_t c = 0; c < channels_[l] && c < static_cast<int64_t>(image_means[l].size()); ++c) {
      window[offsets_[l] + c] = image_means[l][c].mean;
      n = image_means[l][c].count;
    }
    scores.push_back(LayerScore(l, window.data(), n));
  }
  return scores;
}

}  // namespace bnserve
