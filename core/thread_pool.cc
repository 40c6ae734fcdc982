#include "core/thread_pool.h"

#include <algorithm>

#include "core/thread_priority.h"

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

ThreadPool::ThreadPool(int num_threads, int nice) {
  for (int i = 1; i < num_threads; ++i) {
    workers_.emplace_back([this, nice] {
      LowerCurrentThreadPriority(nice);
      WorkerLoop();
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

void ThreadPool::RunRanges(const Job& job) {
  while (true) {
    const int64_t begin = next_.fetch_add(job.grain, std::memory_order_relaxed);
    if (begin >= job.n) return;
    (*job.fn)(begin, std::min(begin + job.grain, job.n));
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (workers_.empty() || n <= grain) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> dispatch(dispatch_mu_, std::try_to_lock);
  if (!dispatch.owns_lock()) {  // another request has the workers
    fn(0, n);
    return;
  }
  Job job{&fn, n, grain};
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    next_.store(0, std::memory_order_relaxed);
    job_open_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_cv_.notify_all();
  RunRanges(job);
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

void ThreadPool::WorkerLoop() {
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
    RunRanges(job);
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
  grain = std::max<int64_t>(grain, 1);
  const int64_t slots = std::min<int64_t>(NumSlots(pool), (n + grain - 1) / grain);
  if (slots <= 1) {
    fn(0, 0, n);
    return;
  }
  // Each slot index goes to exactly one participant, which then claims
  // ranges until none is left.
  std::atomic<int64_t> next{0};
  pool->ParallelFor(slots, 1, [&](int64_t slot_begin, int64_t slot_end) {
    for (int64_t slot = slot_begin; slot < slot_end; ++slot) {
      for (int64_t begin = next.fetch_add(grain); begin < n; begin = next.fetch_add(grain)) {
        fn(static_cast<int>(slot), begin, std::min(begin + grain, n));
      }
    }
  });
}

}  // namespace bnserve
