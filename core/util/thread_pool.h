// ThreadPool: intra-op parallelism for one InferencePlan. A fixed set of
// worker threads, started once with the plan, helps the thread that runs a
// request split an operator's loop (output channels, pixel tiles, images).
// Nothing is created or allocated per run.
//
// Thread-safety: ParallelFor may be called from any number of threads at
// once. One caller at a time gets the workers; a caller that finds them busy
// runs its loop alone, which is the right thing when concurrent requests
// already keep every core busy. The destructor joins the workers and must
// not race with ParallelFor.
//
// Idle workers spin briefly before sleeping: an inference runs its operators
// back to back, and a worker still spinning when the next ParallelFor arrives
// starts within a microsecond instead of paying a futex wake-up (tens of
// microseconds on a loaded machine), which is most of the gain at batch 1.
// The spin yields now and then, so it never starves a thread sharing its core.
//
// Each thread starts on its own contiguous share of a loop (the caller on the
// first, worker i on share i + 1) and, when that is done, takes ranges from
// the others' shares. Consecutive operators cut their loops alike (tile
// rows, images, planes), so a thread mostly reads data it wrote itself and
// that is still in its core's cache: with ranges dealt out in claim order,
// half of every activation had to come from the other core, and on 2 cores
// a CIFAR CNN at batch 1 ran no faster than on one.
//
// A range, once claimed, is finished by the thread that claimed it: if that
// thread is preempted the loop waits for it. Callers should therefore cut
// loops into several ranges per thread (see GrainFor), so a slow or
// descheduled thread holds up little work: the others finish its share.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"

namespace bnserve {

class ThreadPool {
 public:
  // `num_threads` counts the caller: 2 means one worker thread. Values below
  // 1 are treated as 1 (no workers). `nice` > 0 lowers the workers' CPU
  // priority (core/util/thread_priority.h); the caller's is its own.
  explicit ThreadPool(int num_threads, int nice = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads that take part in a ParallelFor, the caller included.
  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint ranges that together cover [0, n), each
  // at most `grain` long (grain >= 1), from the caller and the workers;
  // returns when all have finished. Ranges are handed out dynamically, so a
  // descheduled thread delays the loop by at most one range.
  void ParallelFor(int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn);

  // As ParallelFor, but fn(thread, begin, end) also gets the index of the
  // thread running the range: 0 for the caller, 1 + i for worker i, always
  // below min(num_threads(), ranges), where ranges = ceil(n / grain).
  void ParallelForThread(int64_t n, int64_t grain, absl::FunctionRef<void(int, int64_t, int64_t)> fn);

 private:
  // The loop being shared; lives in the pool so a late worker never touches
  // a caller's stack after the caller has returned.
  struct Job {
    const absl::FunctionRef<void(int, int64_t, int64_t)>* fn = nullptr;
    int64_t grain = 1;
    int shares = 0;  // threads that take part: min(num_threads(), ranges)
  };
  // The unclaimed part of one thread's share, on its own cache line.
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};  // first unclaimed index
    int64_t end = 0;               // set before the job opens
  };

  void WorkerLoop(int thread);
  // Claims and runs ranges of the current job until none is left: its own
  // share first, then the others'.
  void RunRanges(const Job& job, int thread);

  std::vector<std::thread> workers_;
  std::unique_ptr<Share[]> shares_;  // one per thread, the caller's first
  std::mutex dispatch_mu_;           // held by the caller that owns the workers

  std::mutex mu_;  // guards job_, active_ (writes), stop_
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  Job job_;
  bool job_open_ = false;
  bool stop_ = false;
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) for every job
  std::atomic<int> active_{0};           // workers inside the current job
};

// Runs fn(begin, end) over [0, n) on `pool`, or inline as fn(0, n) when
// `pool` is null, single-threaded, or n fits one range of `grain`.
void ParallelFor(ThreadPool* pool, int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn);

// Threads a loop on `pool` may run on at once: the number of per-thread
// scratch areas ParallelForWithSlot needs.
inline int NumSlots(const ThreadPool* pool) { return pool == nullptr ? 1 : pool->num_threads(); }

// A range length cutting n items into about 4 ranges per thread (dynamic
// balance on a loaded machine), but none shorter than min_grain.
inline int64_t GrainFor(const ThreadPool* pool, int64_t n, int64_t min_grain) {
  const int64_t grain = n / (4 * NumSlots(pool));
  return grain > min_grain ? grain : min_grain;
}

// As ParallelFor, but fn(slot, begin, end) also receives a slot in
// [0, NumSlots(pool)) that no other call running at the same time has, so
// each thread can use its own part of a shared scratch buffer.
void ParallelForWithSlot(ThreadPool* pool, int64_t n, int64_t grain, absl::FunctionRef<void(int, int64_t, int64_t)> fn);

}  // namespace bnserve
