#include "core/engine/statistics_plan.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/engine/graph_rewrites.h"
#include "core/engine/ops/batch_norm_statistics.h"
#include "core/stats/moment_reduction.h"
#include "core/util/thread_pool.h"

namespace bnserve {

absl::StatusOr<std::shared_ptr<const StatisticsPlan>> StatisticsPlan::Build(std::shared_ptr<const Model> model,
                                                                            std::shared_ptr<const StatsSnapshot> stats,
                                                                            ForwardMode mode) {
  BN_RETURN_IF_ERROR(ValidateSnapshot(model->bn_layers(), *stats));
  std::map<std::string, int> layer_of_node;
  for (size_t l = 0; l < model->bn_layers().size(); ++l) {
    layer_of_node[model->graph().nodes[model->bn_layers()[l].node_index].name] = static_cast<int>(l);
  }
  Graph graph = model->graph();
  RemoveIdentities(&graph);
  FoldPads(&graph);
  // An activation after a BN (or a Conv) runs inside it: one pass fewer over
  // the activations, and the same values.
  FuseGatedActivations(&graph);
  FuseActivations(&graph);
  const Model* m = model.get();
  const StatsSnapshot* s = stats.get();
  OpCreator creator = [&](const OpBuildContext& ctx) -> absl::StatusOr<std::unique_ptr<Op>> {
    auto it = layer_of_node.find(ctx.node.name);
    if (ctx.node.op_type != "BatchNormalization" || it == layer_of_node.end()) {
      return OpRegistry::Builtin().Create(ctx);
    }
    const BnLayerInfo& info = m->bn_layers()[it->second];
    const LayerStats& frozen = s->layers[it->second];
    BN_ASSIGN_OR_RETURN(ChannelAffineParams folded,
                        FoldBatchNorm(info.gamma, info.beta, frozen.mean, frozen.var, info.epsilon,
                                      absl::StrCat("BN layer '", info.name, "'")));
    BN_ASSIGN_OR_RETURN(const FusedActivation activation, FusedActivation::FromNode(ctx.node));
    return MakeBatchNormStatisticsOp(it->second, info, std::move(folded), mode, activation);
  };
  std::shared_ptr<StatisticsPlan> plan(new StatisticsPlan());
  BN_ASSIGN_OR_RETURN(plan->compiled_, CompiledGraph::Build(std::move(graph), creator));
  plan->model_ = std::move(model);
  plan->stats_ = std::move(stats);
  plan->mode_ = mode;
  return std::shared_ptr<const StatisticsPlan>(std::move(plan));
}

absl::Status StatisticsPlan::Run(absl::Span<const TensorView> inputs, Workspace* ws, BatchStatsSink* sink,
                                 ThreadPool* thread_pool) const {
  BN_RETURN_IF_ERROR(CheckFinite(inputs, model_->graph()));
  sink->layers.resize(model_->bn_layers().size());
  return compiled_->Run(inputs, ws, sink, thread_pool);
}

absl::Status StatisticsPlan::Run(absl::Span<const TensorView> inputs, BatchStatsSink* sink,
                                 ThreadPool* thread_pool) const {
  WorkspacePool::Handle ws = workspaces_.Acquire();
  return Run(inputs, ws.get(), sink, thread_pool);
}

absl::Status CheckFinite(absl::Span<const TensorView> inputs, const Graph& graph) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorView& x = inputs[i];
    const int64_t n = x.size();
    for (int64_t k = 0; k < n; ++k) {
      if (!std::isfinite(x.data[k])) {
        const std::string name = i < graph.inputs.size() ? graph.inputs[i].name : std::to_string(i);
        return absl::InvalidArgumentError(
            absl::StrCat("input '", name, "': expected finite values, got ", x.data[k], " at flat index ", k));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace bnserve
