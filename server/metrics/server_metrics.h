// ServerMetrics: the Prometheus metrics bnserve's front ends record while
// serving - calls by method, model and status code, their latency, samples
// predicted and recalibrated, commits and load failures - in one
// prometheus::Registry that the metrics endpoint (metrics_http_server.h)
// exposes. Gauges that describe state (model state, served version, open
// streams, the process) are read at scrape time by collectors
// (model_collector.h, process_collector.h), not recorded here.
//
// Labels stay bounded: `model` is a model the ModelManager has reported
// (OnModelState) or "" for any other name a client sends, so a client
// cannot create series at will; `method` is an RPC name, `code` a gRPC
// status code name. Per-(method, model) series are created once and their
// pointers cached, so recording a call costs a shared-lock hash lookup and
// atomic adds.
//
// Room for per-model and per-layer gauges of later issues (drift): they
// register their own families on registry() or add a collector to it.
//
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/serving/model_state.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace bnserve {

class ServerMetrics {
 public:
  ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // A call of `method` (a string literal: its address is the cache key) on
  // `model` ended with `code` after running since `start`.
  void RecordCall(const char* method, absl::string_view model, absl::StatusCode code,
                  std::chrono::steady_clock::time_point start);
  // Samples (batch rows) a successful prediction computed.
  void AddInferenceSamples(absl::string_view model, int64_t samples);
  // Samples of a recalibration batch the model accepted.
  void AddRecalibrationSamples(absl::string_view model, int64_t samples);
  // A commit attempt (Recalibrate's commit, Rollback): succeeded or failed.
  void RecordCommit(absl::string_view model, bool ok);
  // The ModelManager's state listener: makes `model` a label value and
  // counts entries into ModelState::kError as load failures.
  void OnModelState(const std::string& model, ModelState state);

 private:
  // One (method, model) pair's series.
  struct CallSeries {
    std::string method;
    prometheus::Histogram* latency = nullptr;
    // Created on first use of each code: a scrape shows only codes seen.
    std::array<std::atomic<prometheus::Counter*>, 17> by_code{};
  };
  // One model's series; the "" slot collects names that are not models.
  struct ModelSeries {
    std::string model;
    prometheus::Counter* inference_samples = nullptr;
    prometheus::Counter* recalibration_samples = nullptr;
    prometheus::Counter* commits = nullptr;
    prometheus::Counter* commit_failures = nullptr;
    prometheus::Counter* load_failures = nullptr;
    absl::flat_hash_map<const char*, std::unique_ptr<CallSeries>> calls;  // guarded by mu_
  };

  // The slot of `model` ("" for an unknown name); never null.
  ModelSeries* Find(absl::string_view model) const;
  ModelSeries* FindOrAddLocked(const std::string& model);
  CallSeries* FindOrAddCall(ModelSeries* series, const char* method);
  prometheus::Counter* CodeCounter(CallSeries* call, const std::string& model, absl::StatusCode code);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& inference_samples_;
  prometheus::Family<prometheus::Counter>& recalibration_samples_;
  prometheus::Family<prometheus::Counter>& commits_;
  prometheus::Family<prometheus::Counter>& commit_failures_;
  prometheus::Family<prometheus::Counter>& load_failures_;

  mutable std::shared_mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<ModelSeries>> models_;  // guarded by mu_
  ModelSeries* unknown_ = nullptr;                                         // models_[""]
};

}  // namespace bnserve
