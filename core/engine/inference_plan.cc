#include "core/engine/inference_plan.h"

#include "core/engine/graph_rewrites.h"

namespace bnserve {

absl::StatusOr<std::shared_ptr<const InferencePlan>> InferencePlan::Build(std::shared_ptr<const Model> model,
                                                                          std::shared_ptr<const StatsSnapshot> stats,
                                                                          PlanOptions options) {
  BN_RETURN_IF_ERROR(ValidateSnapshot(model->bn_layers(), *stats));
  Graph graph = model->graph();
  BN_RETURN_IF_ERROR(ReplaceBatchNorms(model->bn_layers(), *stats, &graph));
  RemoveIdentities(&graph);
  if (options.fold) {
    FoldPads(&graph);
    FoldAffineIntoProducers(&graph);
    FuseGatedActivations(&graph);
    FuseActivations(&graph);
  }
  DropExactValues(&graph);
  std::shared_ptr<InferencePlan> plan(new InferencePlan());
  BN_ASSIGN_OR_RETURN(plan->compiled_, CompiledGraph::Build(std::move(graph)));
  plan->model_ = std::move(model);
  plan->stats_ = std::move(stats);
  return std::shared_ptr<const InferencePlan>(std::move(plan));
}

absl::StatusOr<std::vector<Tensor>> InferencePlan::Run(absl::Span<const TensorView> inputs, ThreadPool* pool) const {
  WorkspacePool::Handle ws = workspaces_.Acquire();
  BN_RETURN_IF_ERROR(Run(inputs, ws.get(), pool));
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < compiled_->graph().outputs.size(); ++i) {
    outputs.push_back(compiled_->output(*ws, static_cast<int>(i)));
  }
  return outputs;
}

}  // namespace bnserve
