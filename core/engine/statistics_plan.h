// Statistics passes: run a batch through the UNFOLDED graph and collect, for
// every BN layer and channel, the moments (count, mean, M2 in float64) of the
// BN's input, in one of two forward modes (ForwardMode, with the BN op that
// records them: core/engine/ops/batch_norm_statistics.h).
// StatisticsPlan is immutable and thread-safe like InferencePlan.
#pragma once

#include <memory>
#include <vector>

#include "core/engine/compiled_graph.h"
#include "core/engine/ops/batch_norm_statistics.h"
#include "core/model/model.h"
#include "core/stats/batch_stats_sink.h"
#include "core/util/thread_pool.h"

namespace bnserve {

class StatisticsPlan {
 public:
  static absl::StatusOr<std::shared_ptr<const StatisticsPlan>> Build(std::shared_ptr<const Model> model,
                                                                     std::shared_ptr<const StatsSnapshot> stats,
                                                                     ForwardMode mode);

  ForwardMode mode() const { return mode_; }
  const Model& model() const { return *model_; }
  const std::shared_ptr<const StatsSnapshot>& stats() const { return stats_; }
  WorkspacePool& workspaces() const { return workspaces_; }

  // Rejects non-finite input values (INVALID_ARGUMENT naming the input and
  // the first bad index) and, in train mode, BN layers that would see one
  // value per channel (FAILED_PRECONDITION naming the layer). On success
  // sink->layers[l] holds layer l's per-channel moments. With a
  // `thread_pool`, ops split their loops over it (null: the calling thread
  // alone); the results do not depend on it.
  absl::Status Run(absl::Span<const TensorView> inputs, Workspace* ws, BatchStatsSink* sink,
                   ThreadPool* thread_pool = nullptr) const;
  absl::Status Run(absl::Span<const TensorView> inputs, BatchStatsSink* sink, ThreadPool* thread_pool = nullptr) const;
  // The i-th model output of the last successful Run on `ws` (the network's
  // output in this forward mode, e.g. PyTorch's train-mode output).
  const Tensor& output(const Workspace& ws, int i) const { return compiled_->output(ws, i); }

 private:
  StatisticsPlan() = default;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const StatsSnapshot> stats_;
  ForwardMode mode_ = ForwardMode::kTrain;
  std::unique_ptr<const CompiledGraph> compiled_;
  mutable WorkspacePool workspaces_;
};

// OK if every value of every input is finite; else INVALID_ARGUMENT naming
// the input, the flat index and the value.
absl::Status CheckFinite(absl::Span<const TensorView> inputs, const Graph& graph);

}  // namespace bnserve
