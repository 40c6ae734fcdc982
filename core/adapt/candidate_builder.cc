#include "core/adapt/candidate_builder.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/serving/recalibrator.h"

namespace bnserve {

std::vector<Tensor> StackSamples(const std::vector<const MonitoredInputs*>& samples) {
  std::vector<Tensor> stacked;
  if (samples.empty()) return stacked;
  for (size_t input = 0; input < samples[0]->size(); ++input) {
    Shape shape = (*samples[0])[input].shape;
    shape[0] = static_cast<int64_t>(samples.size());
    Tensor tensor(shape);
    const int64_t row = (*samples[0])[input].size();
    for (size_t i = 0; i < samples.size(); ++i) {
      std::memcpy(tensor.data.data() + i * row, (*samples[i])[input].data.data(), sizeof(float) * row);
    }
    stacked.push_back(std::move(tensor));
  }
  return stacked;
}

absl::StatusOr<std::shared_ptr<const ServingBundle>> BundleWithStats(const ServingBundle& base, StatsSnapshot stats) {
  auto snapshot = std::make_shared<const StatsSnapshot>(std::move(stats));
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const InferencePlan> plan, InferencePlan::Build(base.model, snapshot));
  return std::make_shared<const ServingBundle>(ServingBundle{base.model, std::move(snapshot), std::move(plan), base.info});
}

absl::StatusOr<BuiltCandidate> BuildCandidate(const std::shared_ptr<const ServingBundle>& base,
                                              const std::vector<MonitoredInputs>& samples, const DriftConfig& config,
                                              uint64_t seed) {
  if (static_cast<int64_t>(samples.size()) < 2) {
    return absl::FailedPreconditionError(absl::StrCat("a candidate needs at least 2 samples, got ", samples.size()));
  }
  RecalibrationOptions options;
  if (config.adapt_mode == "prior") {
    options.mode = RecalibrationMode::kPrior;
    options.prior_strength = config.prior_strength;
  } else {
    options.mode = RecalibrationMode::kCumulative;
    options.reset = true;
  }
  BN_ASSIGN_OR_RETURN(std::unique_ptr<Recalibrator> recalibrator,
                      Recalibrator::Create(base->model, base->stats, options));
  std::vector<const MonitoredInputs*> order;
  for (const MonitoredInputs& sample : samples) order.push_back(&sample);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  // Equal batches: a last batch of one sample would have no variance.
  const int64_t batches = std::max<int64_t>(1, static_cast<int64_t>(order.size()) / kCandidateBatchSamples);
  for (int64_t b = 0; b < batches; ++b) {
    const size_t begin = order.size() * b / batches;
    const size_t end = order.size() * (b + 1) / batches;
    const std::vector<Tensor> batch = StackSamples({order.begin() + begin, order.begin() + end});
    std::vector<TensorView> views;
    for (const Tensor& t : batch) views.push_back(t.view());
    BN_RETURN_IF_ERROR(recalibrator->AddBatch(views));
  }
  BN_ASSIGN_OR_RETURN(StatsSnapshot stats, recalibrator->Finish(nullptr));
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> bundle, BundleWithStats(*base, std::move(stats)));
  return BuiltCandidate{std::move(bundle), config.adapt_mode, static_cast<int64_t>(samples.size())};
}

}  // namespace bnserve
