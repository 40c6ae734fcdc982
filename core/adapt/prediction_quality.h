// How sure a model is of one sample's prediction, without a label: the
// numbers the shadow evaluation compares between served and candidate
// statistics (docs/drift.md, "Candidates, shadow, promotion").
#pragma once

#include <cstdint>
#include <vector>

#include "core/graph/tensor.h"

namespace bnserve {

struct OutputQuality {
  double entropy = 0.0;           // nats
  double top1_probability = 0.0;
  int64_t top1_class = -1;
};

// One sample's first output, shape [1, K] or [1, K, spatial...] (class axis
// 1): the softmax over K (or the values themselves when they already are a
// probability vector: non-negative, summing to 1), then per position the
// entropy and top-1 probability, averaged over positions; the top-1 class is
// the argmax of the mean probability. INVALID_ARGUMENT for fewer than two
// classes or a batch other than 1.
absl::StatusOr<OutputQuality> AssessOutput(const TensorView& output);

// Served and candidate predictions of the same samples, tallied.
class ShadowTally {
 public:
  // `window`: the samples per window of the class-share check.
  explicit ShadowTally(int64_t window) : window_(window) {}

  void Add(const OutputQuality& served, const OutputQuality& candidate);

  int64_t samples() const { return samples_; }
  double top1_agreement() const;
  double served_entropy() const;
  double candidate_entropy() const;
  double served_top1_probability() const;
  double candidate_top1_probability() const;
  // The largest share one candidate class took of any completed window (of
  // the samples so far when no window is complete).
  double candidate_max_class_share() const;

 private:
  double Mean(double sum) const { return samples_ > 0 ? sum / static_cast<double>(samples_) : 0.0; }

  int64_t window_;
  int64_t samples_ = 0;
  int64_t agreements_ = 0;
  double served_entropy_ = 0.0;
  double candidate_entropy_ = 0.0;
  double served_top1_ = 0.0;
  double candidate_top1_ = 0.0;
  std::vector<int64_t> window_classes_;  // candidate top-1 classes of the open window
  double max_share_completed_ = 0.0;
  bool any_completed_ = false;
};

}  // namespace bnserve
