#include "core/engine/workspace.h"

namespace bnserve {

WorkspacePool::Handle WorkspacePool::Acquire() {
  std::unique_ptr<Workspace> ws;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      ws = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!ws) ws = std::make_unique<Workspace>();
  return Handle(ws.release(), [this](Workspace* w) { Release(w); });
}

void WorkspacePool::Release(Workspace* ws) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.emplace_back(ws);
}

}  // namespace bnserve
