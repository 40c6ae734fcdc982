// RunSummary: what one bnserve-bench run measured - throughput, latency
// percentiles and status counts - rendered as a plain-text table or as one
// JSON object (the form tests/bench/compare.sh reads). A value type.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nlohmann/json.hpp"
#include "tests/bench/loadgen/call_driver.h"

namespace bnserve::loadgen {

struct RunDescription {
  std::string rpc;     // predict, recalibrate or echo
  std::string server;  // host:port
  std::string model;   // empty for echo
  int64_t batch = 0;   // samples per request (per batch for recalibrate)
  int64_t batches_per_call = 1;
  int concurrency = 1;
  std::string encoding;  // raw or packed (predict, recalibrate)
  // Tensor (or echo payload) bytes per request message and per reply.
  int64_t request_bytes = 0;
  int64_t reply_bytes = 0;
};

struct RunSummary {
  RunDescription description;
  int64_t calls = 0;   // completed, any status
  int64_t errors = 0;  // completed with a status other than OK
  double seconds = 0;
  double calls_per_s = 0;
  double samples_per_s = 0;                                            // OK calls only
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0, mean_us = 0;  // every completed call
  std::map<std::string, int64_t> codes;                                // status name -> count, OK included
};

// Sorts `result.latencies_us` in place.
RunSummary Summarize(const RunDescription& description, DriveResult& result);

// Nearest-rank percentile (p in [0, 100]) of sorted values; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

std::string RenderTable(const RunSummary& summary);
nlohmann::json ToJson(const RunSummary& summary);

}  // namespace bnserve::loadgen
