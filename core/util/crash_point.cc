#include "core/util/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace bnserve {
namespace {

struct CrashConfig {
  bool enabled = false;
  bool any = false;
  std::vector<std::string> points;
  double probability = 1.0;
  std::mutex mu;  // guards rng
  std::mt19937_64 rng;
};

CrashConfig* Config() {
  static CrashConfig* const config = [] {
    auto* c = new CrashConfig();
    const char* points = std::getenv("BNSERVE_CRASH_POINT");
    if (points == nullptr || *points == '\0') return c;
    c->enabled = true;
    for (absl::string_view p : absl::StrSplit(points, ',', absl::SkipEmpty())) {
      if (p == "any") c->any = true;
      c->points.emplace_back(p);
    }
    double probability = 1.0;
    const char* p = std::getenv("BNSERVE_CRASH_PROBABILITY");
    if (p != nullptr && absl::SimpleAtod(p, &probability) && probability > 0.0 && probability <= 1.0) {
      c->probability = probability;
    }
    uint64_t seed = static_cast<uint64_t>(::getpid());
    const char* s = std::getenv("BNSERVE_CRASH_SEED");
    if (s != nullptr) absl::SimpleAtoi(s, &seed);
    c->rng.seed(seed);
    return c;
  }();
  return config;
}

}  // namespace

void MaybeCrashAt(absl::string_view point) {
  CrashConfig* config = Config();
  if (!config->enabled) return;
  bool listed = config->any;
  for (const std::string& p : config->points) listed |= (p == point);
  if (!listed) return;
  {
    std::lock_guard<std::mutex> lock(config->mu);
    if (std::uniform_real_distribution<double>(0.0, 1.0)(config->rng) >= config->probability) return;
  }
  const std::string line = absl::StrCat("bnserve: crash point ", point, " hit\n");
  // The harness reads this line to count the points hit; ignore a short write.
  [[maybe_unused]] const ssize_t written = ::write(2, line.data(), line.size());
  ::raise(SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace bnserve
