#include "tests/reliability/rss_monitor.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace bnserve::reliability {
namespace {

int64_t Median(std::vector<int64_t> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

int64_t ReadRssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      int64_t kib = -1;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

RssMonitor::RssMonitor(pid_t pid, std::chrono::milliseconds interval)
    : pid_(pid), interval_(interval), thread_([this] { Loop(); }) {}

RssMonitor::~RssMonitor() { Stop(); }

void RssMonitor::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void RssMonitor::EndWarmup() {
  std::lock_guard<std::mutex> lock(mu_);
  warm_ = true;
  first_judged_ = samples_.size();
}

std::vector<int64_t> RssMonitor::samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

size_t RssMonitor::first_judged() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_judged_;
}

void RssMonitor::Loop() {
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    const int64_t kib = ReadRssKib(pid_);
    if (kib >= 0) {
      std::lock_guard<std::mutex> lock(mu_);
      samples_.push_back(kib);
    }
    next += interval_;
    // Sleep in short steps so that Stop is prompt.
    while (!stop_ && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

RssVerdict JudgeRss(const std::vector<int64_t>& samples, size_t first_judged, double interval_s,
                    const RssThreshold& threshold) {
  RssVerdict v;
  if (samples.empty()) {
    v.reason = "no RSS sample could be read";
    return v;
  }
  v.first_kib = samples.front();
  v.last_kib = samples.back();
  v.max_kib = *std::max_element(samples.begin(), samples.end());
  v.median_kib = Median(samples);
  const std::vector<int64_t> judged(samples.begin() + std::min(first_judged, samples.size()), samples.end());
  v.judged_samples = judged.size();
  if (judged.size() < 4) {
    v.reason = "fewer than 4 samples after warm-up: run longer";
    return v;
  }
  const size_t half = judged.size() / 2;
  v.first_half_median_kib = Median({judged.begin(), judged.begin() + half});
  v.second_half_median_kib = Median({judged.end() - half, judged.end()});
  v.growth_kib = v.second_half_median_kib - v.first_half_median_kib;
  v.threshold_kib =
      std::max<int64_t>(threshold.floor_kib, static_cast<int64_t>(threshold.fraction * v.first_half_median_kib));
  // Least-squares slope of the judged samples against time.
  double mean_t = 0, mean_y = 0;
  for (size_t i = 0; i < judged.size(); ++i) {
    mean_t += static_cast<double>(i) * interval_s;
    mean_y += static_cast<double>(judged[i]);
  }
  mean_t /= static_cast<double>(judged.size());
  mean_y /= static_cast<double>(judged.size());
  double stt = 0, sty = 0;
  for (size_t i = 0; i < judged.size(); ++i) {
    const double dt = static_cast<double>(i) * interval_s - mean_t;
    stt += dt * dt;
    sty += dt * (static_cast<double>(judged[i]) - mean_y);
  }
  v.slope_kib_per_s = stt > 0 ? sty / stt : 0;
  v.flat = v.growth_kib <= v.threshold_kib;
  if (!v.flat) {
    std::ostringstream reason;
    reason << "RSS grew by " << v.growth_kib << " KiB between the halves of the run (median " << v.first_half_median_kib
           << " -> " << v.second_half_median_kib << " KiB), above the threshold " << v.threshold_kib << " KiB";
    v.reason = reason.str();
  }
  return v;
}

}  // namespace bnserve::reliability
