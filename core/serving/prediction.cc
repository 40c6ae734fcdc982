#include "core/serving/prediction.h"

#include <chrono>

namespace bnserve {

int Prediction::num_outputs() const { return static_cast<int>(bundle_->model->graph().outputs.size()); }

const std::string& Prediction::output_name(int i) const { return bundle_->model->graph().outputs[i].name; }

TensorView Prediction::output(int i) const {
  TensorView view = bundle_->plan->compiled().output(*workspace_, i).view();
  if (form_ == BatchForm::kSingleInstance && view.shape.rank() >= 1 && view.shape[0] == 1) {
    Shape unbatched;
    for (int d = 1; d < view.shape.rank(); ++d) unbatched.push_back(view.shape[d]);
    view.shape = unbatched;
  }
  return view;
}

absl::StatusOr<Prediction> RunPrediction(std::shared_ptr<const ServingBundle> bundle,
                                         absl::Span<const std::string> names, absl::Span<TensorView> inputs,
                                         ThreadPool* pool) {
  BN_ASSIGN_OR_RETURN(BatchForm form, ResolveBatchForm(bundle->model->graph(), names, inputs,
                                                       /*allow_single_instance=*/true));
  WorkspacePool::Handle workspace = bundle->plan->workspaces().Acquire();
  int64_t elements = 0;
  for (const TensorView& input : inputs) elements += input.size();
  const auto start = std::chrono::steady_clock::now();
  BN_RETURN_IF_ERROR(bundle->plan->Run(inputs, workspace.get(), pool));
  bundle->plan->run_cost().Record(
      elements, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  const int64_t samples = inputs.empty() || inputs[0].shape.rank() == 0 ? 0 : inputs[0].shape[0];
  return Prediction(std::move(bundle), std::move(workspace), form, samples);
}

}  // namespace bnserve
