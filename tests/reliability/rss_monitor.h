// RssMonitor samples a process's resident memory (VmRSS in
// /proc/<pid>/status) once per interval on its own thread, and JudgeRss
// decides from the samples whether the memory stayed flat.
//
// The verdict compares the two halves of the samples taken after warm-up:
// growth = median(second half) - median(first half), which a leak - memory
// growing with the number of calls served - makes grow with the run's
// length, while the allocator's and gRPC's noise (buffers and arenas that
// grow and shrink with what is in flight) moves both halves alike. Medians,
// not first/last samples, so that one sample taken while a large batch was
// in flight decides nothing. The threshold is
//   max(floor_kib, fraction * median(first half));
// see docs/reliability.md for the values and why.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bnserve::reliability {

// VmRSS of `pid` in KiB; -1 when it cannot be read (process gone).
int64_t ReadRssKib(pid_t pid);

class RssMonitor {
 public:
  RssMonitor(pid_t pid, std::chrono::milliseconds interval);
  ~RssMonitor();  // stops the thread
  RssMonitor(const RssMonitor&) = delete;
  RssMonitor& operator=(const RssMonitor&) = delete;

  // Marks the end of warm-up: samples from now on are judged.
  void EndWarmup();
  void Stop();
  // Every sample so far (KiB), and the index of the first one after warm-up.
  std::vector<int64_t> samples() const;
  size_t first_judged() const;

 private:
  void Loop();

  const pid_t pid_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::vector<int64_t> samples_;  // guarded by mu_
  size_t first_judged_ = 0;       // guarded by mu_
  bool warm_ = false;             // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct RssThreshold {
  int64_t floor_kib = 8 * 1024;
  double fraction = 0.05;
};

struct RssVerdict {
  int64_t first_kib = 0, median_kib = 0, last_kib = 0, max_kib = 0;  // over every sample
  int64_t first_half_median_kib = 0, second_half_median_kib = 0;     // judged samples
  int64_t growth_kib = 0;                                            // second half - first half
  int64_t threshold_kib = 0;
  double slope_kib_per_s = 0;  // least-squares fit over the judged samples (information only)
  size_t judged_samples = 0;
  bool flat = false;   // growth <= threshold, with >= 4 judged samples
  std::string reason;  // why not flat (or why undecided)
};

// `samples` one per `interval_s`; those before `first_judged` are warm-up.
RssVerdict JudgeRss(const std::vector<int64_t>& samples, size_t first_judged, double interval_s,
                    const RssThreshold& threshold);

}  // namespace bnserve::reliability
