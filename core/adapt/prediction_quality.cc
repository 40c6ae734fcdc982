#include "core/adapt/prediction_quality.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

bool IsProbabilityVector(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) {
    if (v < 0.0) return false;
    sum += v;
  }
  return std::abs(sum - 1.0) < 1e-3;
}

double MaxShare(const std::vector<int64_t>& classes) {
  if (classes.empty()) return 0.0;
  std::map<int64_t, int64_t> counts;
  int64_t most = 0;
  for (int64_t c : classes) most = std::max(most, ++counts[c]);
  return static_cast<double>(most) / static_cast<double>(classes.size());
}

}  // namespace

absl::StatusOr<OutputQuality> AssessOutput(const TensorView& output) {
  if (output.shape.rank() < 2 || output.shape[0] != 1 || output.shape[1] < 2) {
    return absl::InvalidArgumentError(absl::StrCat("output: expected shape [1, K >= 2, ...], got ",
                                                   output.shape.rank() < 1 ? 0 : output.shape[0], " rows of rank ",
                                                   output.shape.rank()));
  }
  const int64_t classes = output.shape[1];
  const int64_t positions = output.size() / classes;
  std::vector<double> mean_probability(static_cast<size_t>(classes), 0.0);
  std::vector<double> p(static_cast<size_t>(classes));
  OutputQuality quality;
  for (int64_t s = 0; s < positions; ++s) {
    for (int64_t k = 0; k < classes; ++k) p[k] = output.data[k * positions + s];
    if (!IsProbabilityVector(p)) {
      const double top = *std::max_element(p.begin(), p.end());
      double sum = 0.0;
      for (double& v : p) sum += (v = std::exp(v - top));
      for (double& v : p) v /= sum;
    }
    double entropy = 0.0;
    double top1 = 0.0;
    for (int64_t k = 0; k < classes; ++k) {
      if (p[k] > 0.0) entropy -= p[k] * std::log(p[k]);
      top1 = std::max(top1, p[k]);
      mean_probability[k] += p[k];
    }
    quality.entropy += entropy;
    quality.top1_probability += top1;
  }
  quality.entropy /= static_cast<double>(positions);
  quality.top1_probability /= static_cast<double>(positions);
  quality.top1_class = std::max_element(mean_probability.begin(), mean_probability.end()) - mean_probability.begin();
  return quality;
}

void ShadowTally::Add(const OutputQuality& served, const OutputQuality& candidate) {
  ++samples_;
  if (served.top1_class == candidate.top1_class) ++agreements_;
  served_entropy_ += served.entropy;
  candidate_entropy_ += candidate.entropy;
  served_top1_ += served.top1_probability;
  candidate_top1_ += candidate.top1_probability;
  window_classes_.push_back(candidate.top1_class);
  if (static_cast<int64_t>(window_classes_.size()) >= window_) {
    max_share_completed_ = std::max(max_share_completed_, MaxShare(window_classes_));
    any_completed_ = true;
    window_classes_.clear();
  }
}

double ShadowTally::top1_agreement() const { return Mean(static_cast<double>(agreements_)); }
double ShadowTally::served_entropy() const { return Mean(served_entropy_); }
double ShadowTally::candidate_entropy() const { return Mean(candidate_entropy_); }
double ShadowTally::served_top1_probability() const { return Mean(served_top1_); }
double ShadowTally::candidate_top1_probability() const { return Mean(candidate_top1_); }
double ShadowTally::candidate_max_class_share() const {
  return any_completed_ ? max_share_completed_ : MaxShare(window_classes_);
}

}  // namespace bnserve
