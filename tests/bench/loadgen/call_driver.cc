#include "tests/bench/loadgen/call_driver.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace bnserve::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

struct Slot {
  std::vector<double> latencies_us;
  std::map<grpc::StatusCode, int64_t> codes;
};

// Shared by every slot's call chain for one Drive.
class Run {
 public:
  Run(const CallStarter& start, const DriveOptions& options)
      : start_(start), options_(options), slots_(options.concurrency) {}

  DriveResult Go() {
    begin_ = Clock::now();
    stop_at_ = options_.duration > absl::ZeroDuration() ? begin_ + absl::ToChronoNanoseconds(options_.duration)
                                                        : Clock::time_point::max();
    last_finish_ = begin_;
    active_ = options_.concurrency;
    for (int slot = 0; slot < options_.concurrency; ++slot) StartNext(slot);
    std::unique_lock<std::mutex> lock(mu_);
    all_done_.wait(lock, [&] { return active_ == 0; });

    DriveResult result;
    result.elapsed = absl::FromChrono(last_finish_ - begin_);
    for (Slot& slot : slots_) {
      result.latencies_us.insert(result.latencies_us.end(), slot.latencies_us.begin(), slot.latencies_us.end());
      for (const auto& [code, count] : slot.codes) result.codes[code] += count;
    }
    return result;
  }

 private:
  void StartNext(int slot) {
    const bool budget_left = options_.max_calls <= 0 || started_.fetch_add(1) < options_.max_calls;
    if (!budget_left || Clock::now() >= stop_at_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) all_done_.notify_all();
      return;
    }
    const Clock::time_point t0 = Clock::now();
    start_(slot, [this, slot, t0](const grpc::Status& status) {
      const Clock::time_point t1 = Clock::now();
      Slot& s = slots_[slot];
      s.latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      ++s.codes[status.error_code()];
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (t1 > last_finish_) last_finish_ = t1;
      }
      StartNext(slot);
    });
  }

  const CallStarter& start_;
  const DriveOptions options_;
  std::vector<Slot> slots_;
  std::atomic<int64_t> started_{0};
  Clock::time_point begin_;
  Clock::time_point stop_at_;

  std::mutex mu_;
  std::condition_variable all_done_;
  int active_ = 0;                 // guarded by mu_
  Clock::time_point last_finish_;  // guarded by mu_
};

}  // namespace

DriveResult Drive(const CallStarter& start, const DriveOptions& options) {
  Run run(start, options);
  return run.Go();
}

}  // namespace bnserve::loadgen
