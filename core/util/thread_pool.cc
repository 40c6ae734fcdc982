#include "core/util/thread_pool.h"

#include <algorithm>

#include "core/util/thread_priority.h"

namespace bnserve {
namespace {

// About 100 microseconds of polling (a pause is ~40-140 cycles): longer than
// the gap between two operators of one inference, short enough that an idle
// server's workers go to sleep almost at once.
constexpr int kSpinIterations = 2000;
// Every this many polls the spinning thread yields its core: on a loaded
// machine the thread it waits for (or the caller it would help) may be
// queued behind it on the same core, and a pure spin would starve it.
constexpr int kYieldEvery = 64;

inline void CpuRelax(int iteration) {
#if defined(__x86_64__)
  if (iteration % kYieldEvery != kYieldEvery - 1) {
    __builtin_ia32_pause();
    return;
  }
#endif
  std::this_thread::yield();
}

}  // namespace

ThreadPool::ThreadPool(int num_threads, int nice) : shares_(new Share[std::max(num_threads, 1)]) {
  for (int i = 1; i < num_threads; ++i) {
    workers_.emplace_back([this, nice, i] {
      LowerCurrentThreadPriority(nice);
      WorkerLoop(i);
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunRanges(const Job& job, int thread) {
  if (thread >= job.shares) return;
  for (int k = 0; k < job.shares; ++k) {
    Share& share = shares_[(thread + k) % job.shares];
    while (true) {
      const int64_t begin = share.next.fetch_add(job.grain, std::memory_order_relaxed);
      if (begin >= share.end) break;
      (*job.fn)(thread, begin, std::min(begin + job.grain, share.end));
    }
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  ParallelForThread(n, grain, [&fn](int, int64_t begin, int64_t end) { fn(begin, end); });
}

void ThreadPool::ParallelForThread(int64_t n, int64_t grain, absl::FunctionRef<void(int, int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (workers_.empty() || n <= grain) {
    fn(0, 0, n);
    return;
  }
  std::unique_lock<std::mutex> dispatch(dispatch_mu_, std::try_to_lock);
  if (!dispatch.owns_lock()) {  // another request has the workers
    fn(0, 0, n);
    return;
  }
  // Shares of whole ranges, as equal as can be: share t is ranges
  // [t * ranges / shares, (t + 1) * ranges / shares).
  const int64_t ranges = (n + grain - 1) / grain;
  const int shares = static_cast<int>(std::min<int64_t>(num_threads(), ranges));
  Job job{&fn, grain, shares};
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int t = 0; t < shares; ++t) {
      shares_[t].next.store(t * ranges / shares * grain, std::memory_order_relaxed);
      shares_[t].end = std::min(n, (t + 1) * ranges / shares * grain);
    }
    job_ = job;
    job_open_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_cv_.notify_all();
  RunRanges(job, 0);
  // Every range is claimed; close the job to late workers, then wait for
  // the ones inside it. Spin first: their last range is usually short.
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_open_ = false;
  }
  for (int i = 0; i < kSpinIterations && active_.load(std::memory_order_acquire) != 0; ++i) CpuRelax(i);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return active_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::WorkerLoop(int thread) {
  uint64_t seen = 0;
  while (true) {
    for (int i = 0; i < kSpinIterations && generation_.load(std::memory_order_acquire) == seen; ++i) CpuRelax(i);
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_cv_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
      seen = generation_.load(std::memory_order_relaxed);
      if (stop_) return;
      if (!job_open_) continue;  // finished before this worker arrived
      job = job_;
      active_.fetch_add(1, std::memory_order_relaxed);
    }
    RunRanges(job, thread);
    std::lock_guard<std::mutex> lock(mu_);
    if (active_.fetch_sub(1, std::memory_order_release) == 1) done_cv_.notify_one();
  }
}

void ParallelFor(ThreadPool* pool, int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  if (pool == nullptr) {
    fn(0, n);
    return;
  }
  pool->ParallelFor(n, grain, fn);
}

void ParallelForWithSlot(ThreadPool* pool, int64_t n, int64_t grain,
                         absl::FunctionRef<void(int, int64_t, int64_t)> fn) {
  if (n <= 0) return;
  if (pool == nullptr) {
    fn(0, 0, n);
    return;
  }
  // A thread's index is unique among the threads of one call: its slot.
  pool->ParallelForThread(n, grain, fn);
}

}  // namespace bnserve
