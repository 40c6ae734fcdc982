// bnserve-echo: the bare gRPC echo server serving numbers are compared with.
// Configured like bnserve (server/bnserve_server.cc): the same gRPC library,
// the callback API, the same message size limit, and the same choice of
// thread as bnserve's Predict (server/predict_call.h): a call whose compute
// fits in --inline-predict-us (bnserve's kInlinePredictBudgetNs, in
// core/serving/model_manager.h) is answered on gRPC's callback thread, any
// other is handed to a WorkerPool of --worker-threads and finished from
// there. An echo computes nothing (unless --busy-us stands in for a model's
// forward pass), so with the defaults it answers inline, as bnserve does for
// a small model; --inline-predict-us 0 forces the pool hop. It replies with
// EchoRequest.reply_bytes bytes, so a benchmark can mimic a Predict call's
// request and reply sizes without any model.
//
//   bnserve-echo --listen 127.0.0.1:0     # prints "listening on port N"
//
// Stops on SIGTERM/SIGINT.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "echo.grpc.pb.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/grpc_args.h"
#include "server/shutdown_signal.h"
#include "server/worker_pool.h"

namespace bnserve::bench {
namespace {

// Fills the reply with reply_bytes bytes, repeating the request payload (or
// zeros when it is empty), as a model's output would be written.
grpc::Status FillReply(const EchoRequest& request, EchoReply* reply, int64_t max_message_bytes, int64_t busy_us) {
  if (busy_us > 0) {
    // Spin rather than sleep: a model's forward pass keeps its core busy.
    const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(busy_us);
    while (std::chrono::steady_clock::now() < end) {
    }
  }
  if (request.reply_bytes() < 0 || request.reply_bytes() > max_message_bytes) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "reply_bytes: expected 0 to " +
                                                                std::to_string(max_message_bytes) + ", got " +
                                                                std::to_string(request.reply_bytes()));
  }
  std::string* out = reply->mutable_payload();
  out->resize(static_cast<size_t>(request.reply_bytes()));
  const std::string& in = request.payload();
  if (in.empty()) return grpc::Status::OK;
  for (size_t pos = 0; pos < out->size(); pos += in.size()) {
    std::memcpy(out->data() + pos, in.data(), std::min(in.size(), out->size() - pos));
  }
  return grpc::Status::OK;
}

// The echo service. Not owning the pool (null = answer inline). Thread-safe.
class EchoService final : public Echo::CallbackService {
 public:
  EchoService(WorkerPool* pool, int64_t max_message_bytes, int64_t busy_us)
      : pool_(pool), max_message_bytes_(max_message_bytes), busy_us_(busy_us) {}

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const EchoRequest* request,
                                 EchoReply* reply) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (pool_ == nullptr) {
      reactor->Finish(FillReply(*request, reply, max_message_bytes_, busy_us_));
    } else {
      const int64_t limit = max_message_bytes_;
      const int64_t busy_us = busy_us_;
      pool_->Submit([=] { reactor->Finish(FillReply(*request, reply, limit, busy_us)); });
    }
    return reactor;
  }

 private:
  WorkerPool* pool_;
  const int64_t max_message_bytes_;
  const int64_t busy_us_;
};

struct Flags {
  std::string listen = "127.0.0.1:0";
  int worker_threads = 0;
  int max_message_mb = 64;
  // bnserve's budget (kInlinePredictBudgetNs, core/serving/model_manager.h).
  int64_t inline_predict_us = 200;
  int64_t busy_us = 0;
  std::vector<std::string> grpc_args;
};

int Run(const Flags& flags) {
  const int64_t max_message_bytes = int64_t{flags.max_message_mb} << 20;
  std::unique_ptr<WorkerPool> pool;
  // bnserve's rule with a known cost: inline when it fits the budget.
  const bool answer_inline = flags.inline_predict_us > 0 && flags.busy_us <= flags.inline_predict_us;
  if (!answer_inline) {
    // The same default as bnserve: one worker per hardware thread.
    const int threads = flags.worker_threads > 0 ? flags.worker_threads
                                                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    pool = std::make_unique<WorkerPool>(threads);
  }
  EchoService service(pool.get(), max_message_bytes, flags.busy_us);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(flags.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  GrpcArgs overrides;
  for (const std::string& text : flags.grpc_args) {
    absl::StatusOr<std::pair<std::string, std::string>> arg = ParseGrpcArg(text, "--grpc-arg");
    if (!arg.ok()) {
      std::fprintf(stderr, "bnserve-echo: %s\n", std::string(arg.status().message()).c_str());
      return 2;
    }
    overrides[arg->first] = arg->second;
  }
  ApplyGrpcArgs(ServerGrpcArgs(overrides), &builder);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "bnserve-echo: could not listen on %s (address in use, or not a valid host:port)\n",
                 flags.listen.c_str());
    return 1;
  }
  std::printf("bnserve-echo listening on port %d (%s)\n", port,
              answer_inline ? "answers inline" : "answers on the worker pool");
  std::fflush(stdout);
  WaitForShutdownSignal();
  server->Shutdown();
  server->Wait();
  return 0;
}

}  // namespace
}  // namespace bnserve::bench

int main(int argc, char** argv) {
  bnserve::BlockShutdownSignals();
  CLI::App app{"bnserve-echo: a bare gRPC echo server configured like bnserve, the floor for serving benchmarks"};
  bnserve::bench::Flags flags;
  app.add_option("--listen", flags.listen, "host:port to serve on (port 0 = any free port)")->capture_default_str();
  app.add_option("--worker-threads", flags.worker_threads, "Threads finishing calls (0 = one per core), as bnserve")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-message-mb", flags.max_message_mb, "Largest gRPC message received or sent, in MiB")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  app.add_option("--inline-predict-us", flags.inline_predict_us,
                 "As bnserve's: answer on gRPC's callback thread when --busy-us fits in it (0 = always hop to the "
                 "worker pool)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--grpc-arg", flags.grpc_args, "As bnserve's: a gRPC channel argument KEY=VALUE (repeatable)");
  app.add_option("--busy-us", flags.busy_us, "Busy-wait this long per call, standing in for a model's forward pass")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return bnserve::bench::Run(flags);
}
