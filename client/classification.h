// Classifier read-outs computed on the client from logits: argmax with its
// softmax probability, cross-entropy, and running top-1 accuracy / mean
// cross-entropy over a data set. Softmax is computed as exp(x - max) /
// sum exp(x - max) and the log-probability as (x - max) - log(sum exp(x -
// max)), in double, so large logits neither overflow nor lose the label's
// term.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace bnserve::client {

struct ClassScore {
  int64_t label = -1;        // argmax (the first one on ties)
  double probability = 0.0;  // its softmax probability
};

// REQUIRES: !logits.empty().
ClassScore Classify(absl::Span<const float> logits);

// -log softmax(logits)[label]. REQUIRES: 0 <= label < logits.size().
double CrossEntropy(absl::Span<const float> logits, int64_t label);

// Accumulates instances one by one. Not thread-safe (one owner).
class ClassificationMetrics {
 public:
  // INVALID_ARGUMENT when label is outside [0, logits.size()).
  absl::Status Add(absl::Span<const float> logits, int64_t label);

  int64_t count() const { return count_; }
  int64_t correct() const { return correct_; }
  // 0 when nothing was added.
  double accuracy() const { return count_ == 0 ? 0.0 : static_cast<double>(correct_) / count_; }
  double mean_cross_entropy() const { return count_ == 0 ? 0.0 : cross_entropy_sum_ / count_; }

 private:
  int64_t count_ = 0;
  int64_t correct_ = 0;
  double cross_entropy_sum_ = 0.0;
};

}  // namespace bnserve::client
