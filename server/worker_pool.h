// WorkerPool: the fixed set of threads (--worker-threads) on which bnserve
// computes. gRPC's callback API runs handlers on its own small set of
// threads that must not block; handlers therefore hand the work (inference,
// statistics passes, commits with their fsyncs) to this pool and finish the
// call from it. Tasks run in submission order; the queue is unbounded (gRPC's
// message and stream limits bound what a client can queue).
//
// bnserve runs two: the workers (every RPC) and a smaller recalibration pool
// whose threads may run at a lower CPU priority (`nice`), so that clients
// streaming large recalibration batches cannot hold every worker, nor take
// the CPU from predictions (docs/reliability.md: load and starvation).
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
  // REQUIRES: threads >= 1. `nice` > 0 lowers each thread's CPU priority
  // by that much (Linux: per-thread nice, setpriority on the thread id; an
  // unprivileged process may always lower its own priority). A failure to
  // apply it is ignored: the pool then runs at normal priority.
  explicit WorkerPool(int threads, int nice = 0);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> task);

 private:
  void Loop(int nice);

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace bnserve
