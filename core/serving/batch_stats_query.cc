#include "core/serving/batch_stats_query.h"

#include "absl/strings/str_cat.h"
#include "core/model/model_inputs.h"

namespace bnserve {

absl::StatusOr<BatchStatsReport> ComputeBatchStats(const ServingBundle& bundle, absl::Span<const TensorView> inputs,
                                                   ForwardMode mode, bool sort_by_drift, ThreadPool* thread_pool) {
  std::vector<TensorView> views(inputs.begin(), inputs.end());
  BN_RETURN_IF_ERROR(ResolveBatchForm(bundle.model->graph(), {}, absl::MakeSpan(views),
                                      /*allow_single_instance=*/false)
                         .status());
  if (views.empty() || views[0].shape.rank() == 0 || views[0].shape[0] == 0) {
    return absl::InvalidArgumentError(absl::StrCat("inputs[0].shape: expected a non-empty batch, got ",
                                                   views.empty() ? "no input" : views[0].shape.ToString()));
  }
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const StatisticsPlan> plan, bundle.StatisticsPlanFor(mode));
  BatchStatsSink sink;
  BN_RETURN_IF_ERROR(plan->Run(views, &sink, thread_pool));

  const std::vector<BnLayerInfo>& layers = bundle.model->bn_layers();
  std::vector<LayerDrift> drifts;
  for (size_t l = 0; l < layers.size(); ++l) {
    drifts.push_back(ComputeLayerDrift(static_cast<int>(l), layers[l], bundle.stats->layers[l], sink.layers[l]));
  }
  if (sort_by_drift) SortByDrift(&drifts);

  BatchStatsReport report;
  report.version = bundle.info.version;
  report.mode = mode;
  report.samples = views[0].shape[0];
  for (LayerDrift& drift : drifts) {
    LayerBatchReport layer;
    layer.moments = std::move(sink.layers[drift.layer_index]);
    layer.drift = std::move(drift);
    report.layers.push_back(std::move(layer));
  }
  return report;
}

}  // namespace bnserve
