// PredictionTap: an observer of the predictions a model serves, for work
// that reads live traffic without being on its path (the drift monitor,
// core/adapt/). The manager calls it after each successful prediction of
// the served version - pinned versions and candidates are someone's
// experiment, not the traffic being watched.
#pragma once

#include <memory>
#include <string>

#include "core/graph/tensor.h"
#include "core/serving/serving_bundle.h"

namespace bnserve {

class PredictionTap {
 public:
  virtual ~PredictionTap() = default;
  // On the thread that served the prediction: must be quick and never block
  // (copy what is kept; the inputs are valid during the call only). `inputs`
  // are in batch form (batch dim first), one per model input.
  virtual void OnServedPrediction(const std::string& model, const std::shared_ptr<const ServingBundle>& bundle,
                                  absl::Span<const TensorView> inputs) = 0;
};

}  // namespace bnserve
