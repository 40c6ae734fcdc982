// InferencePlan: the folded, executable form of (model, statistics snapshot):
// every BN reduced to a per-channel scale/shift and folded into the
// preceding Conv/Gemm where exact, activations fused. Built once per snapshot
// (a commit builds a new plan; the old one lives on while requests hold it).
// Immutable and thread-safe; each concurrent Run needs its own Workspace
// (Acquire one from workspaces()).
#pragma once

#include <memory>
#include <vector>

#include "core/engine/compiled_graph.h"
#include "core/engine/run_cost.h"
#include "core/model/model.h"
#include "core/stats/stats_snapshot.h"
#include "core/util/thread_pool.h"

namespace bnserve {

struct PlanOptions {
  // Fold BN into Conv/Gemm and fuse activations. Off only for tests that
  // compare the folded plan with the plain one.
  bool fold = true;
};

class InferencePlan {
 public:
  static absl::StatusOr<std::shared_ptr<const InferencePlan>> Build(std::shared_ptr<const Model> model,
                                                                    std::shared_ptr<const StatsSnapshot> stats,
                                                                    PlanOptions options = {});

  const Model& model() const { return *model_; }
  const std::shared_ptr<const StatsSnapshot>& stats() const { return stats_; }
  const CompiledGraph& compiled() const { return *compiled_; }
  WorkspacePool& workspaces() const { return workspaces_; }
  // What this plan's predictions have cost so far (RunPrediction records
  // them); ModelManager reads it to decide where to run the next one.
  RunCost& run_cost() const { return run_cost_; }

  // Runs the model; with an intra-op `pool` its loops split over the pool's
  // threads (a run finding them busy computes alone), else the calling thread
  // computes alone. Outputs are compiled().output(*ws, i), valid until the
  // next Run on `ws`.
  absl::Status Run(absl::Span<const TensorView> inputs, Workspace* ws, ThreadPool* pool = nullptr) const {
    return compiled_->Run(inputs, ws, nullptr, pool);
  }
  // Convenience for tests and tools: runs and copies the outputs.
  absl::StatusOr<std::vector<Tensor>> Run(absl::Span<const TensorView> inputs, ThreadPool* pool = nullptr) const;

 private:
  InferencePlan() = default;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const StatsSnapshot> stats_;
  std::unique_ptr<const CompiledGraph> compiled_;
  mutable WorkspacePool workspaces_;
  mutable RunCost run_cost_;
};

}  // namespace bnserve
