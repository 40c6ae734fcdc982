// RunPrediction: one Predict request against one serving bundle, and
// Prediction, its outputs read in place from the workspace that computed
// them (the server encodes them straight into the response, no extra copy).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/engine/workspace.h"
#include "core/model/model_inputs.h"
#include "core/serving/serving_bundle.h"
#include "core/util/thread_pool.h"

namespace bnserve {

// The outputs of one run. Holds the bundle and the workspace, so the views
// stay valid while the Prediction lives. Move-only; not thread-safe.
class Prediction {
 public:
  int num_outputs() const;
  const std::string& output_name(int i) const;
  // Output i; for a single-instance request the leading batch dim of size 1
  // is removed again.
  TensorView output(int i) const;
  const ServingBundle& bundle() const { return *bundle_; }
  BatchForm form() const { return form_; }
  // Rows of the batch computed (1 for a single instance).
  int64_t samples() const { return samples_; }

 private:
  friend absl::StatusOr<Prediction> RunPrediction(std::shared_ptr<const ServingBundle> bundle,
                                                  absl::Span<const std::string> names, absl::Span<TensorView> inputs,
                                                  ThreadPool* pool);
  Prediction(std::shared_ptr<const ServingBundle> bundle, WorkspacePool::Handle workspace, BatchForm form,
             int64_t samples)
      : bundle_(std::move(bundle)), workspace_(std::move(workspace)), form_(form), samples_(samples) {}

  // Declared before workspace_: the workspace returns to the bundle's pool
  // before the bundle can be released.
  std::shared_ptr<const ServingBundle> bundle_;
  WorkspacePool::Handle workspace_;
  BatchForm form_;
  int64_t samples_;
};

// Validates `inputs` (single instance or batch, see ResolveBatchForm, which
// gives single instances their batch axis in place; `names` empty or
// parallel) and runs the bundle's plan, split over the intra-op `pool` when
// given (else on the calling thread alone), recording the run's time in the plan's run_cost(). Errors:
// INVALID_ARGUMENT for bad inputs, and whatever the plan reports.
absl::StatusOr<Prediction> RunPrediction(std::shared_ptr<const ServingBundle> bundle,
                                         absl::Span<const std::string> names, absl::Span<TensorView> inputs,
                                         ThreadPool* pool = nullptr);

}  // namespace bnserve
