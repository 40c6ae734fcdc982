// WorkerPool: the fixed set of threads (--worker-threads) on which bnserve
// computes. gRPC's callback API runs handlers on its own small set of
// threads that must not block; handlers therefore hand the work (inference,
// statistics passes, commits with their fsyncs) to this pool and finish the
// call from it. Tasks run in submission order; the queue is unbounded (gRPC's
// message and stream limits bound what a client can queue).
//
// Thread-safe. The destructor runs every queued task, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bnserve {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace bnserve
