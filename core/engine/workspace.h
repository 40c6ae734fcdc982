// Workspace: the mutable memory of one run of a CompiledGraph (activation
// buffers, per-step input/output pointer arrays, scratch). One per request
// in flight; reusing it (see WorkspacePool) means a run with the same or a
// smaller batch than before allocates nothing. Not thread-safe: one run at a
// time per Workspace.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/graph/tensor.h"

namespace bnserve {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

 private:
  friend class CompiledGraph;
  std::vector<Tensor> buffers_;
  std::vector<float> scratch_;
  std::vector<TensorView> step_inputs_;
  std::vector<Tensor*> step_outputs_;
};

// A free list of workspaces shared by the requests of one plan, so steady
// state serving reuses warm buffers. Thread-safe.
class WorkspacePool {
 public:
  // A workspace returned to the pool when the handle is destroyed.
  using Handle = std::unique_ptr<Workspace, std::function<void(Workspace*)>>;

  Handle Acquire();

 private:
  void Release(Workspace* ws);
  std::mutex mu_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

}  // namespace bnserve
