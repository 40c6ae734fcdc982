// bnserve-loadtest: a bounded, loopback-only load test of a whole bnserve.
// For --duration seconds (after --warmup seconds whose calls are not
// counted) it runs, all at once and closed-loop (tests/bench/loadgen's
// CallDriver, one thread per workload):
//   predict <model>            Predict, batch --predict-batch, on every --predict-models model
//   batch_stats <model>        GetBatchStats of a --stats-batch batch on the first predict model
//   moments                    Moments of a [64, 32] tensor over axis 0
//   recalibrate <model>        Recalibrate streams on every --recal-models model that read the
//                              served version first and send it as expected_version: concurrent
//                              streams of one model race, and the losers end ABORTED (expected)
//   heavy_recalibrate <model>  --heavy-clients dry-run streams of --heavy-batches batches of
//                              --heavy-batch samples, as fast as they go (the "heavy client")
// and samples the server's resident memory every second. It prints, per
// workload, calls/s, p50/p90/p99/max latency and the calls by status code,
// then the RSS figures and the flatness verdict (tests/reliability/rss_monitor.h).
//
// The server is spawned (--bnserve BINARY over a copy of --repository, with
// --server-env KEY=VALUE added to its environment, e.g.
// BNSERVE_RECALIBRATION_THREADS=0) or attached to (--server ADDR, and
// --server-pid PID for the RSS samples).
//
// Exit status: 0 pass; 3 some call ended with an unexpected status (any
// code but OK, or OK/ABORTED for recalibrate); 4 RSS grew beyond the
// threshold; 1 the run could not start; 2 bad flags.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/bnctl/table.h"
#include "nlohmann/json.hpp"
#include "tests/bench/loadgen/call_driver.h"
#include "tests/bench/loadgen/load_inputs.h"
#include "tests/bench/loadgen/rpc_callers.h"
#include "tests/bench/loadgen/run_summary.h"
#include "tests/reliability/rss_monitor.h"
#include "tests/test_util/live_server.h"

namespace bnserve::reliability {
namespace {

using loadgen::DoneCallback;

struct Flags {
  std::string bnserve;
  std::string repository;
  std::vector<std::string> server_env;
  std::string server;
  int server_pid = 0;
  double duration_s = 30;
  double warmup_s = 5;
  std::vector<std::string> predict_models = {"digits", "mlp"};
  int predict_concurrency = 2;
  int64_t predict_batch = 1;
  int stats_concurrency = 1;
  int64_t stats_batch = 16;
  int moments_concurrency = 1;
  std::vector<std::string> recal_models = {"digits", "mlp"};
  int recal_concurrency = 2;
  int recal_batches = 4;
  int64_t recal_batch = 32;
  int heavy_clients = 0;
  std::string heavy_model = "digits";
  int heavy_batches = 50;
  int64_t heavy_batch = 2048;
  double rss_floor_mb = 8;
  double rss_fraction = 0.05;
  bool rss_report_only = false;
  double timeout_s = 60;
  std::string json_out;
};

// One closed-loop workload: what it calls, with how many calls in flight,
// which status codes are expected, and what it measured.
struct Workload {
  std::string label;
  loadgen::RunDescription description;
  std::set<grpc::StatusCode> expected = {grpc::StatusCode::OK};
  loadgen::CallStarter start;
  loadgen::DriveResult result;
  std::shared_ptr<void> keep_alive;  // the caller object behind `start`
};

template <typename Caller>
loadgen::CallStarter StarterOf(const std::shared_ptr<Caller>& caller) {
  return [caller = caller.get()](int slot, DoneCallback done) { caller->Start(slot, std::move(done)); };
}

// Makes `w` run a unary RPC: `call(async_stub, context, request, response,
// done)` starts one call, with `concurrency` in flight.
template <typename Request, typename Response, typename Call>
void DriveUnary(Workload* w, const std::shared_ptr<grpc::Channel>& channel, Request request, int concurrency,
                absl::Duration timeout, Call call) {
  auto rpc_stub = std::shared_ptr<v1::BnServe::Stub>(v1::BnServe::NewStub(channel));
  auto caller = std::make_shared<loadgen::UnaryCaller<Request, Response>>(
      [rpc_stub, call](auto* context, auto* req, auto* resp, auto done) {
        call(rpc_stub->async(), context, req, resp, std::move(done));
      },
      std::move(request), concurrency, timeout);
  w->start = StarterOf(caller);
  w->keep_alive = caller;
}

absl::StatusOr<v1::DescribeModelResponse> Describe(v1::BnServe::Stub& stub, const std::string& model) {
  v1::DescribeModelRequest request;
  request.set_model(model);
  v1::DescribeModelResponse response;
  const grpc::Status status = stub.DescribeModel(ContextWithDeadline(30).get(), request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("DescribeModel ", model, ": ", status.error_message()));
  }
  return response;
}

absl::StatusOr<std::vector<v1::Tensor>> Inputs(v1::BnServe::Stub& stub, const std::string& model, int64_t batch) {
  absl::StatusOr<v1::DescribeModelResponse> described = Describe(stub, model);
  if (!described.ok()) return described.status();
  return loadgen::MakeInputs(*described, batch, /*packed=*/false);
}

// Builds every workload the flags ask for.
absl::StatusOr<std::vector<std::unique_ptr<Workload>>> BuildWorkloads(const Flags& flags,
                                                                      std::shared_ptr<grpc::Channel> channel) {
  auto stub = v1::BnServe::NewStub(channel);
  const absl::Duration timeout = absl::Seconds(flags.timeout_s);
  std::vector<std::unique_ptr<Workload>> workloads;
  const auto add = [&](std::string label, std::string rpc, std::string model, int concurrency, int64_t batch) {
    auto w = std::make_unique<Workload>();
    w->label = std::move(label);
    w->description.rpc = std::move(rpc);
    w->description.model = std::move(model);
    w->description.server = flags.server;
    w->description.concurrency = concurrency;
    w->description.batch = batch;
    w->description.encoding = "raw";
    workloads.push_back(std::move(w));
    return workloads.back().get();
  };

  if (flags.predict_concurrency > 0) {
    for (const std::string& model : flags.predict_models) {
      absl::StatusOr<std::vector<v1::Tensor>> inputs = Inputs(*stub, model, flags.predict_batch);
      if (!inputs.ok()) return inputs.status();
      v1::PredictRequest request;
      request.set_model(model);
      for (v1::Tensor& t : *inputs) *request.add_inputs() = std::move(t);
      Workload* w = add("predict " + model, "predict", model, flags.predict_concurrency, flags.predict_batch);
      w->description.request_bytes = loadgen::TensorPayloadBytes(request.inputs());
      auto caller =
          std::make_shared<loadgen::PredictCaller>(channel, std::move(request), flags.predict_concurrency, timeout);
      w->start = StarterOf(caller);
      w->keep_alive = caller;
    }
  }
  if (flags.stats_concurrency > 0 && !flags.predict_models.empty()) {
    const std::string& model = flags.predict_models.front();
    absl::StatusOr<std::vector<v1::Tensor>> inputs = Inputs(*stub, model, flags.stats_batch);
    if (!inputs.ok()) return inputs.status();
    v1::GetBatchStatsRequest request;
    request.set_model(model);
    request.set_forward_mode(v1::FORWARD_MODE_TRAIN);
    for (v1::Tensor& t : *inputs) *request.add_inputs() = std::move(t);
    Workload* w = add("batch_stats " + model, "batch_stats", model, flags.stats_concurrency, flags.stats_batch);
    w->description.request_bytes = loadgen::TensorPayloadBytes(request.inputs());
    DriveUnary<v1::GetBatchStatsRequest, v1::GetBatchStatsResponse>(
        w, channel, std::move(request), flags.stats_concurrency, timeout,
        [](auto* async, auto* context, auto* req, auto* resp, auto done) {
          async->GetBatchStats(context, req, resp, std::move(done));
        });
  }
  if (flags.moments_concurrency > 0) {
    v1::MomentsRequest request;
    v1::Tensor* x = request.mutable_x();
    x->add_shape(64);
    x->add_shape(32);
    for (int i = 0; i < 64 * 32; ++i) x->add_values(0.25f * static_cast<float>(i % 17) - 2.0f);
    request.add_axes(0);
    Workload* w = add("moments", "moments", "", flags.moments_concurrency, 64);
    w->description.request_bytes = int64_t{x->values_size()} * 4;
    DriveUnary<v1::MomentsRequest, v1::MomentsResponse>(
        w, channel, std::move(request), flags.moments_concurrency, timeout,
        [](auto* async, auto* context, auto* req, auto* resp, auto done) {
          async->Moments(context, req, resp, std::move(done));
        });
  }
  const auto add_recalibration = [&](const std::string& label, const std::string& model, int concurrency, int batches,
                                     int64_t batch, bool versioned) -> absl::Status {
    absl::StatusOr<std::vector<v1::Tensor>> inputs = Inputs(*stub, model, batch);
    if (!inputs.ok()) return inputs.status();
    v1::RecalibrationConfig config;
    config.set_model(model);
    config.set_mode(v1::RECALIBRATION_MODE_EMA);
    config.set_forward_mode(v1::FORWARD_MODE_TRAIN);
    config.set_dry_run(!versioned);
    config.set_note("bnserve-loadtest");
    v1::RecalibrationBatch message;
    for (v1::Tensor& t : *inputs) *message.add_inputs() = std::move(t);
    Workload* w = add(label + " " + model, label, model, concurrency, batch);
    w->description.batches_per_call = batches;
    w->description.request_bytes = loadgen::TensorPayloadBytes(message.inputs());
    // A lost expected_version race is part of the protocol, not a failure.
    if (versioned) w->expected.insert(grpc::StatusCode::ABORTED);
    auto caller = std::make_shared<loadgen::RecalibrateCaller>(channel, std::move(config), std::move(message), batches,
                                                               timeout, versioned);
    w->start = StarterOf(caller);
    w->keep_alive = caller;
    return absl::OkStatus();
  };
  if (flags.recal_concurrency > 0) {
    for (const std::string& model : flags.recal_models) {
      const absl::Status added = add_recalibration("recalibrate", model, flags.recal_concurrency, flags.recal_batches,
                                                   flags.recal_batch, /*versioned=*/true);
      if (!added.ok()) return added;
    }
  }
  if (flags.heavy_clients > 0) {
    const absl::Status added = add_recalibration("heavy_recalibrate", flags.heavy_model, flags.heavy_clients,
                                                 flags.heavy_batches, flags.heavy_batch, /*versioned=*/false);
    if (!added.ok()) return added;
  }
  if (workloads.empty()) return absl::InvalidArgumentError("no workload: every concurrency is 0");
  return workloads;
}

// Runs every workload at once: a warm-up Drive, then the measured one.
void RunAll(const Flags& flags, std::vector<std::unique_ptr<Workload>>& workloads, RssMonitor* rss) {
  std::vector<std::thread> threads;
  for (auto& w : workloads) {
    threads.emplace_back([&flags, w = w.get()] {
      loadgen::DriveOptions options;
      options.concurrency = w->description.concurrency;
      if (flags.warmup_s > 0) {
        options.duration = absl::Seconds(flags.warmup_s);
        loadgen::Drive(w->start, options);
      }
      options.duration = absl::Seconds(flags.duration_s);
      w->result = loadgen::Drive(w->start, options);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(flags.warmup_s));
  if (rss != nullptr) rss->EndWarmup();
  for (std::thread& t : threads) t.join();
}

std::string Ms(double us) { return absl::StrFormat("%.2f", us / 1000.0); }

int Report(const Flags& flags, std::vector<std::unique_ptr<Workload>>& workloads, const RssVerdict* rss,
           const std::vector<int64_t>& rss_samples) {
  client::Table table({"workload", "in flight", "calls", "calls/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
                       "status codes", "unexpected"});
  nlohmann::json json = {{"duration_s", flags.duration_s}, {"warmup_s", flags.warmup_s}};
  int64_t unexpected_total = 0;
  for (auto& w : workloads) {
    const loadgen::RunSummary s = loadgen::Summarize(w->description, w->result);
    int64_t unexpected = 0;
    std::string codes;
    for (const auto& [code, count] : w->result.codes) {
      if (w->expected.count(code) == 0) unexpected += count;
    }
    for (const auto& [name, count] : s.codes) absl::StrAppend(&codes, codes.empty() ? "" : " ", name, "=", count);
    unexpected_total += unexpected;
    table.AddRow({w->label, absl::StrCat(w->description.concurrency), absl::StrCat(s.calls),
                  absl::StrFormat("%.1f", s.calls_per_s), Ms(s.p50_us), Ms(s.p90_us), Ms(s.p99_us), Ms(s.max_us), codes,
                  absl::StrCat(unexpected)});
    nlohmann::json entry = loadgen::ToJson(s);
    entry["workload"] = w->label;
    entry["unexpected"] = unexpected;
    json["workloads"].push_back(entry);
  }
  std::printf("bnserve-loadtest: %.0f s measured after %.0f s warm-up\n\n%s", flags.duration_s, flags.warmup_s,
              table.Render().c_str());
  bool rss_ok = true;
  if (rss != nullptr) {
    const auto mib = [](int64_t kib) { return absl::StrFormat("%.1f", static_cast<double>(kib) / 1024.0); };
    std::printf(
        "\nserver RSS (MiB, one sample per second): first %s, median %s, last %s, max %s\n"
        "after warm-up (%zu samples): first-half median %s, second-half median %s, growth %s "
        "(threshold %s), slope %.1f KiB/s: %s\n",
        mib(rss->first_kib).c_str(), mib(rss->median_kib).c_str(), mib(rss->last_kib).c_str(),
        mib(rss->max_kib).c_str(), rss->judged_samples, mib(rss->first_half_median_kib).c_str(),
        mib(rss->second_half_median_kib).c_str(), mib(rss->growth_kib).c_str(), mib(rss->threshold_kib).c_str(),
        rss->slope_kib_per_s, rss->flat ? "FLAT" : ("NOT FLAT: " + rss->reason).c_str());
    rss_ok = rss->flat || flags.rss_report_only;
    if (flags.rss_report_only) std::printf("(--rss-report-only: the RSS verdict does not fail the run)\n");
    json["rss_kib"] = {{"first", rss->first_kib},
                       {"median", rss->median_kib},
                       {"last", rss->last_kib},
                       {"max", rss->max_kib},
                       {"first_half_median", rss->first_half_median_kib},
                       {"second_half_median", rss->second_half_median_kib},
                       {"growth", rss->growth_kib},
                       {"threshold", rss->threshold_kib},
                       {"slope_per_s", rss->slope_kib_per_s},
                       {"flat", rss->flat},
                       {"samples", rss_samples}};
  }
  const int exit_code = unexpected_total > 0 ? 3 : (rss_ok ? 0 : 4);
  std::printf("\n%s\n", exit_code == 0 ? "PASS"
                        : exit_code == 3
                            ? absl::StrCat("FAIL: ", unexpected_total, " calls with an unexpected status").c_str()
                            : "FAIL: resident memory grew");
  json["unexpected"] = unexpected_total;
  json["pass"] = exit_code == 0;
  if (!flags.json_out.empty()) std::ofstream(flags.json_out) << json.dump(1) << "\n";
  return exit_code;
}

int Main(Flags flags) {
  std::unique_ptr<LiveServer> spawned;
  std::string work_dir;
  pid_t pid = flags.server_pid;
  if (!flags.bnserve.empty()) {
    work_dir = testing::MakeTempDir("bnserve_loadtest");
    const std::string repository = work_dir + "/repository";
    std::error_code error;
    std::filesystem::copy(flags.repository, repository, std::filesystem::copy_options::recursive, error);
    if (error) {
      std::fprintf(stderr, "bnserve-loadtest: copying %s: %s\n", flags.repository.c_str(), error.message().c_str());
      return 1;
    }
    std::map<std::string, std::string> env;
    for (const std::string& kv : flags.server_env) {
      std::pair<std::string, std::string> split = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      env[split.first] = split.second;
    }
    spawned = std::make_unique<LiveServer>(flags.bnserve, repository, work_dir + "/bnserve.log");
    const std::string probe = flags.predict_models.empty() ? flags.heavy_model : flags.predict_models.front();
    if (!spawned->Start(env, probe)) {
      std::fprintf(stderr, "bnserve-loadtest: bnserve did not start; its log:\n%s\n",
                   testing::ReadWholeFile(work_dir + "/bnserve.log").c_str());
      return 1;
    }
    flags.server = "127.0.0.1:" + std::to_string(spawned->port());
    pid = spawned->pid();
  }
  if (!loadgen::IsLoopback(flags.server)) {
    std::fprintf(stderr, "bnserve-loadtest: --server %s: expected a loopback address\n", flags.server.c_str());
    return 2;
  }
  int exit_code = 1;
  {
    absl::StatusOr<std::vector<std::unique_ptr<Workload>>> workloads =
        BuildWorkloads(flags, loadgen::MakeChannel(flags.server));
    if (!workloads.ok()) {
      std::fprintf(stderr, "bnserve-loadtest: %s\n", workloads.status().ToString().c_str());
    } else {
      std::unique_ptr<RssMonitor> rss;
      if (pid > 0) rss = std::make_unique<RssMonitor>(pid, std::chrono::seconds(1));
      RunAll(flags, *workloads, rss.get());
      std::unique_ptr<RssVerdict> verdict;
      std::vector<int64_t> samples;
      if (rss != nullptr) {
        samples = rss->samples();
        rss->Stop();
        RssThreshold threshold;
        threshold.floor_kib = static_cast<int64_t>(flags.rss_floor_mb * 1024);
        threshold.fraction = flags.rss_fraction;
        verdict = std::make_unique<RssVerdict>(JudgeRss(samples, rss->first_judged(), 1.0, threshold));
      }
      exit_code = Report(flags, *workloads, verdict.get(), samples);
      if (spawned != nullptr && !spawned->Running()) {
        std::fprintf(stderr, "bnserve-loadtest: the server exited during the run\n");
        exit_code = 3;
      }
    }
  }
  if (spawned != nullptr) {
    spawned->Kill();
    if (exit_code != 0) {
      std::fprintf(stderr, "--- bnserve log (tail) ---\n%s\n",
                   testing::ReadWholeFile(work_dir + "/bnserve.log").substr(0, 4000).c_str());
    }
    std::filesystem::remove_all(work_dir);
  }
  return exit_code;
}

}  // namespace
}  // namespace bnserve::reliability

int main(int argc, char** argv) {
  CLI::App app{
      "bnserve-loadtest: mixed predictions, statistics queries and recalibration streams on several "
      "models at once, with latency percentiles, status counts and the server's memory over time"};
  bnserve::reliability::Flags f;
  auto* spawn = app.add_option("--bnserve", f.bnserve, "Spawn this bnserve binary over a copy of --repository");
  app.add_option("--repository", f.repository, "Model repository to copy for the spawned server")->needs(spawn);
  app.add_option("--server-env", f.server_env, "KEY=VALUE added to the spawned server's environment (repeatable)")
      ->needs(spawn);
  auto* attach =
      app.add_option("--server", f.server, "host:port of a running bnserve (loopback only)")->excludes(spawn);
  app.add_option("--server-pid", f.server_pid, "Its process id, for the RSS samples")->needs(attach);
  app.add_option("--duration", f.duration_s, "Measured seconds")->check(CLI::Range(1.0, 3600.0))->capture_default_str();
  app.add_option("--warmup", f.warmup_s, "Unmeasured seconds first")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--predict-models", f.predict_models, "Models to Predict on")->delimiter(',')->capture_default_str();
  app.add_option("--predict-concurrency", f.predict_concurrency, "Predict calls in flight per model (0 = none)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--predict-batch", f.predict_batch, "Samples per Predict")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  app.add_option("--stats-concurrency", f.stats_concurrency, "GetBatchStats calls in flight (0 = none)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--stats-batch", f.stats_batch, "Samples per GetBatchStats")
      ->check(CLI::Range(2, 1 << 16))
      ->capture_default_str();
  app.add_option("--moments-concurrency", f.moments_concurrency, "Moments calls in flight (0 = none)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--recal-models", f.recal_models, "Models recalibrated with expected_version races")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--recal-concurrency", f.recal_concurrency,
                 "Racing Recalibrate streams per model (0 = none; keep <= the model's stream limit)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--recal-batches", f.recal_batches, "Batches per racing stream")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--recal-batch", f.recal_batch, "Samples per racing batch")
      ->check(CLI::Range(2, 1 << 20))
      ->capture_default_str();
  app.add_option("--heavy-clients", f.heavy_clients, "Heavy dry-run Recalibrate streams (0 = none)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--heavy-model", f.heavy_model, "Model the heavy streams recalibrate")->capture_default_str();
  app.add_option("--heavy-batches", f.heavy_batches, "Batches per heavy stream")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--heavy-batch", f.heavy_batch, "Samples per heavy batch")
      ->check(CLI::Range(2, 1 << 20))
      ->capture_default_str();
  app.add_flag("--rss-report-only", f.rss_report_only,
               "Report the RSS verdict without failing on growth: for ThreadSanitizer builds, whose shadow memory "
               "and per-thread history grow with the run by design");
  app.add_option("--rss-floor-mb", f.rss_floor_mb, "RSS growth always tolerated, MiB")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--rss-fraction", f.rss_fraction, "RSS growth tolerated as a fraction of the first half's median")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--timeout", f.timeout_s, "Deadline of each call, seconds")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--json-out", f.json_out, "Also write the figures as JSON to this file");
  CLI11_PARSE(app, argc, argv);
  if (f.bnserve.empty() && f.server.empty()) {
    std::fprintf(stderr, "bnserve-loadtest: give --bnserve BINARY (and --repository) or --server HOST:PORT\n");
    return 2;
  }
  if (!f.bnserve.empty() && f.repository.empty()) {
    std::fprintf(stderr, "bnserve-loadtest: --bnserve needs --repository\n");
    return 2;
  }
  return bnserve::reliability::Main(std::move(f));
}
