#include "tests/bench/loadgen/run_summary.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/bnctl/table.h"

namespace bnserve::loadgen {

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(sorted.size()))) - 1;
  return sorted[index];
}

RunSummary Summarize(const RunDescription& description, DriveResult& result) {
  RunSummary s;
  s.description = description;
  std::vector<double>& lat = result.latencies_us;
  std::sort(lat.begin(), lat.end());
  s.calls = static_cast<int64_t>(lat.size());
  s.seconds = absl::ToDoubleSeconds(result.elapsed);
  int64_t ok = 0;
  for (const auto& [code, count] : result.codes) {
    // gRPC and absl share the canonical code numbers.
    s.codes[absl::StatusCodeToString(static_cast<absl::StatusCode>(code))] += count;
    if (code == grpc::StatusCode::OK) ok += count;
  }
  s.errors = s.calls - ok;
  if (s.seconds > 0) {
    s.calls_per_s = static_cast<double>(s.calls) / s.seconds;
    s.samples_per_s = static_cast<double>(ok * description.batch * description.batches_per_call) / s.seconds;
  }
  s.p50_us = Percentile(lat, 50);
  s.p90_us = Percentile(lat, 90);
  s.p99_us = Percentile(lat, 99);
  s.max_us = lat.empty() ? 0 : lat.back();
  s.mean_us = lat.empty() ? 0 : std::accumulate(lat.begin(), lat.end(), 0.0) / static_cast<double>(lat.size());
  return s;
}

std::string RenderTable(const RunSummary& s) {
  const RunDescription& d = s.description;
  std::string out = absl::StrCat("bnserve-bench ", d.rpc, " -> ", d.server);
  if (!d.model.empty()) absl::StrAppend(&out, "  model ", d.model, "  batch ", d.batch);
  if (d.rpc == "recalibrate") absl::StrAppend(&out, " x ", d.batches_per_call, " batches/call");
  if (!d.encoding.empty()) absl::StrAppend(&out, "  ", d.encoding);
  absl::StrAppend(&out, "  in flight ", d.concurrency, "\n", "request ", d.request_bytes, " B, reply ", d.reply_bytes,
                  " B\n\n");
  client::Table table({"calls", "seconds", "calls/s", "samples/s", "p50 µs", "p90 µs", "p99 µs", "max µs", "errors"});
  table.AddRow({absl::StrCat(s.calls), absl::StrFormat("%.2f", s.seconds), absl::StrFormat("%.1f", s.calls_per_s),
                absl::StrFormat("%.1f", s.samples_per_s), absl::StrFormat("%.1f", s.p50_us),
                absl::StrFormat("%.1f", s.p90_us), absl::StrFormat("%.1f", s.p99_us), absl::StrFormat("%.1f", s.max_us),
                absl::StrCat(s.errors)});
  out += table.Render();
  if (s.errors > 0) {
    client::Table codes({"status", "calls"});
    for (const auto& [name, count] : s.codes) codes.AddRow({name, absl::StrCat(count)});
    absl::StrAppend(&out, "\n", codes.Render());
  }
  return out;
}

nlohmann::json ToJson(const RunSummary& s) {
  const RunDescription& d = s.description;
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [name, count] : s.codes) {
    if (name != "OK") errors[name] = count;
  }
  return {{"rpc", d.rpc},
          {"server", d.server},
          {"model", d.model},
          {"batch", d.batch},
          {"batches_per_call", d.batches_per_call},
          {"concurrency", d.concurrency},
          {"encoding", d.encoding},
          {"request_bytes", d.request_bytes},
          {"reply_bytes", d.reply_bytes},
          {"calls", s.calls},
          {"errors", s.errors},
          {"errors_by_code", errors},
          {"seconds", s.seconds},
          {"calls_per_s", s.calls_per_s},
          {"samples_per_s", s.samples_per_s},
          {"latency_us",
           {{"p50", s.p50_us}, {"p90", s.p90_us}, {"p99", s.p99_us}, {"max", s.max_us}, {"mean", s.mean_us}}}};
}

}  // namespace bnserve::loadgen
