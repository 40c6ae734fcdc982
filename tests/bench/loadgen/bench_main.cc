// bnserve-bench: closed-loop load generator for bnserve's serving path.
// Keeps --concurrency calls in flight (gRPC callback API, one process) for
// --duration seconds or --calls calls and reports calls/s, samples/s, the
// latency percentiles and the calls by status code.
//
//   bnserve-bench --server 127.0.0.1:50051 --model mlp --batch 1 --concurrency 1 --duration 5
//   bnserve-bench --server ... --rpc recalibrate --model cnn --batch 64 --batches 10 --calls 5
//   bnserve-bench --server ECHO --rpc echo --payload-bytes 3136 --reply-bytes 40 --json
//
// Predict payloads take the model's input shape from DescribeModel with the
// batch dim set to --batch, sent as raw float32 bytes (--packed: repeated
// floats). Load is only sent to loopback addresses. Exit status: 0 when
// every call succeeded, 3 when some failed (the report says which codes),
// 1 when the run could not start, 2 for bad flags.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "tests/bench/loadgen/call_driver.h"
#include "tests/bench/loadgen/load_inputs.h"
#include "tests/bench/loadgen/rpc_callers.h"
#include "tests/bench/loadgen/run_summary.h"

namespace bnserve::loadgen {
namespace {

struct Flags {
  std::string server = "127.0.0.1:50051";
  std::string rpc = "predict";
  std::string model;
  int64_t batch = 1;
  bool packed = false;
  int concurrency = 1;
  double duration_s = 5;
  int64_t calls = 0;
  double warmup_s = 0.5;
  int batches = 10;
  bool dry_run = false;
  int64_t payload_bytes = 3136;
  int64_t reply_bytes = -1;
  double timeout_s = 30;
  bool json = false;
};

absl::StatusOr<v1::DescribeModelResponse> Describe(const Flags& flags) {
  client::ClientOptions options;
  options.address = flags.server;
  options.timeout = absl::Seconds(flags.timeout_s);
  client::Client client(options);
  absl::StatusOr<v1::DescribeModelResponse> model = client.DescribeModel(flags.model);
  if (!model.ok()) return model.status();
  if (model->status().state() != v1::MODEL_STATE_AVAILABLE) {
    return absl::FailedPreconditionError(absl::StrCat("model ", flags.model, " is not available: state ",
                                                      v1::ModelState_Name(model->status().state()), " ",
                                                      model->status().error()));
  }
  return model;
}

// Warm-up (discarded), then the measured run.
DriveResult WarmAndDrive(const CallStarter& start, const Flags& flags) {
  if (flags.warmup_s > 0) {
    DriveOptions warm;
    warm.concurrency = flags.concurrency;
    warm.duration = absl::Seconds(flags.warmup_s);
    Drive(start, warm);
  }
  DriveOptions options;
  options.concurrency = flags.concurrency;
  if (flags.calls > 0) {
    options.max_calls = flags.calls;
  } else {
    options.duration = absl::Seconds(flags.duration_s);
  }
  return Drive(start, options);
}

absl::StatusOr<RunSummary> Run(const Flags& flags) {
  RunDescription d;
  d.rpc = flags.rpc;
  d.server = flags.server;
  d.concurrency = flags.concurrency;
  const absl::Duration timeout = absl::Seconds(flags.timeout_s);
  std::shared_ptr<grpc::Channel> channel = MakeChannel(flags.server);

  if (flags.rpc == "echo") {
    d.request_bytes = flags.payload_bytes;
    d.reply_bytes = flags.reply_bytes < 0 ? flags.payload_bytes : flags.reply_bytes;
    d.batch = 1;
    EchoCaller caller(channel, d.request_bytes, d.reply_bytes, flags.concurrency, timeout);
    DriveResult result = WarmAndDrive([&](int slot, DoneCallback done) { caller.Start(slot, std::move(done)); }, flags);
    return Summarize(d, result);
  }

  if (flags.model.empty()) return absl::InvalidArgumentError(absl::StrCat("--model is required for --rpc ", flags.rpc));
  absl::StatusOr<v1::DescribeModelResponse> model = Describe(flags);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::vector<v1::Tensor>> inputs = MakeInputs(*model, flags.batch, flags.packed);
  if (!inputs.ok()) return inputs.status();
  d.model = flags.model;
  d.batch = flags.batch;
  d.encoding = flags.packed ? "packed" : "raw";

  if (flags.rpc == "predict") {
    v1::PredictRequest request;
    request.set_model(flags.model);
    for (v1::Tensor& t : *inputs) *request.add_inputs() = std::move(t);
    d.request_bytes = TensorPayloadBytes(request.inputs());
    PredictCaller caller(channel, std::move(request), flags.concurrency, timeout);
    DriveResult result = WarmAndDrive([&](int slot, DoneCallback done) { caller.Start(slot, std::move(done)); }, flags);
    d.reply_bytes = caller.reply_bytes();
    return Summarize(d, result);
  }

  // recalibrate
  v1::RecalibrationConfig config;
  config.set_model(flags.model);
  config.set_mode(v1::RECALIBRATION_MODE_EMA);
  config.set_forward_mode(v1::FORWARD_MODE_TRAIN);
  config.set_dry_run(flags.dry_run);
  config.set_note("bnserve-bench");
  v1::RecalibrationBatch batch;
  for (v1::Tensor& t : *inputs) *batch.add_inputs() = std::move(t);
  d.request_bytes = TensorPayloadBytes(batch.inputs());
  d.batches_per_call = flags.batches;
  RecalibrateCaller caller(channel, std::move(config), std::move(batch), flags.batches, timeout);
  DriveResult result = WarmAndDrive([&](int slot, DoneCallback done) { caller.Start(slot, std::move(done)); }, flags);
  return Summarize(d, result);
}

}  // namespace
}  // namespace bnserve::loadgen

int main(int argc, char** argv) {
  CLI::App app{"bnserve-bench: closed-loop load generator for bnserve (Predict, Recalibrate) and bnserve-echo"};
  bnserve::loadgen::Flags flags;
  app.add_option("--server", flags.server, "host:port of bnserve or bnserve-echo (loopback only)")
      ->capture_default_str();
  app.add_option("--rpc", flags.rpc, "predict, recalibrate or echo")
      ->check(CLI::IsMember({"predict", "recalibrate", "echo"}))
      ->capture_default_str();
  app.add_option("--model", flags.model, "Model name (predict, recalibrate)");
  app.add_option("--batch", flags.batch, "Samples per request (per batch for recalibrate)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  app.add_flag("--packed", flags.packed, "Send repeated floats (Tensor.values) instead of raw float32 bytes");
  app.add_option("--concurrency", flags.concurrency, "Calls in flight")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  auto* duration = app.add_option("--duration", flags.duration_s, "Seconds to run (when --calls is not given)")
                       ->check(CLI::Range(0.01, 600.0))
                       ->capture_default_str();
  app.add_option("--calls", flags.calls, "Number of calls to make instead of a duration")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}))
      ->excludes(duration);
  app.add_option("--warmup", flags.warmup_s, "Seconds of unmeasured calls first (0 = none)")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  app.add_option("--batches", flags.batches, "recalibrate: batches streamed per call")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_flag("--dry-run", flags.dry_run, "recalibrate: compute but commit nothing");
  app.add_option("--payload-bytes", flags.payload_bytes, "echo: request payload bytes")
      ->check(CLI::Range(int64_t{0}, int64_t{2047} << 20))
      ->capture_default_str();
  app.add_option("--reply-bytes", flags.reply_bytes, "echo: reply payload bytes (default: = --payload-bytes)")
      ->check(CLI::Range(int64_t{0}, int64_t{2047} << 20));
  app.add_option("--timeout", flags.timeout_s, "Deadline of each call, seconds")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_flag("--json", flags.json, "Print one JSON object instead of a table");
  CLI11_PARSE(app, argc, argv);

  if (!bnserve::loadgen::IsLoopback(flags.server)) {
    std::fprintf(stderr, "bnserve-bench: --server %s: expected a loopback address (localhost, 127.x.x.x, [::1])\n",
                 flags.server.c_str());
    return 2;
  }
  absl::StatusOr<bnserve::loadgen::RunSummary> summary = bnserve::loadgen::Run(flags);
  if (!summary.ok()) {
    std::fprintf(stderr, "bnserve-bench: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  if (flags.json) {
    std::printf("%s\n", bnserve::loadgen::ToJson(*summary).dump().c_str());
  } else {
    std::printf("%s", bnserve::loadgen::RenderTable(*summary).c_str());
  }
  return summary->errors == 0 ? 0 : 3;
}
