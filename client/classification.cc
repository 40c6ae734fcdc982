#include "client/classification.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace bnserve::client {
namespace {

struct Softmax {
  int64_t argmax = 0;
  double max = 0.0;
  double log_sum = 0.0;  // log sum_j exp(x_j - max)
};

Softmax Normalize(absl::Span<const float> logits) {
  Softmax s;
  s.max = logits[0];
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > s.max) {
      s.max = logits[i];
      s.argmax = static_cast<int64_t>(i);
    }
  }
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - s.max);
  s.log_sum = std::log(sum);
  return s;
}

}  // namespace

ClassScore Classify(absl::Span<const float> logits) {
  const Softmax s = Normalize(logits);
  return ClassScore{s.argmax, std::exp(-s.log_sum)};
}

double CrossEntropy(absl::Span<const float> logits, int64_t label) {
  const Softmax s = Normalize(logits);
  return s.log_sum - (static_cast<double>(logits[label]) - s.max);
}

absl::Status ClassificationMetrics::Add(absl::Span<const float> logits, int64_t label) {
  if (label < 0 || label >= static_cast<int64_t>(logits.size())) {
    return absl::InvalidArgumentError(absl::StrCat("label ", label, " of instance ", count_, " is outside [0, ",
                                                   logits.size(), ") (the model outputs ", logits.size(), " classes)"));
  }
  const Softmax s = Normalize(logits);
  ++count_;
  if (s.argmax == label) ++correct_;
  cross_entropy_sum_ += s.log_sum - (static_cast<double>(logits[label]) - s.max);
  return absl::OkStatus();
}

}  // namespace bnserve::client
