// Helpers shared by the reliability programs (crash_harness, cancel_fuzz):
// run the real bnserve binary on a free loopback port over a temporary
// repository holding one model, and talk to it with the generated stubs.
// Every wait is bounded. Not thread-safe (one driver thread per object).
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/test_util/subprocess_util.h"

namespace bnserve::reliability {

// A bnserve process started with Start() and ended by Kill() or Terminate().
class LiveServer {
 public:
  LiveServer(std::string binary, std::string repository, std::string log_path)
      : binary_(std::move(binary)), repository_(std::move(repository)), log_path_(std::move(log_path)) {}
  ~LiveServer() { Kill(); }
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  // Starts the server with `env` added to its environment and waits (up to
  // 60 s) until `model` answers GetRunningStats. False when it never did
  // (the server is then killed); the log says why.
  bool Start(const std::map<std::string, std::string>& env, const std::string& model) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = testing::FreeLoopbackPort();
      const std::string address = "127.0.0.1:" + std::to_string(port_);
      // Everything the child needs is built before fork: between fork and
      // exec a multi-threaded parent's child may only make async-signal-safe calls.
      std::vector<std::string> env_strings;
      for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
      for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
      std::vector<char*> envp;
      for (std::string& e : env_strings) envp.push_back(e.data());
      envp.push_back(nullptr);
      const std::string script =
          "exec \"$0\" --listen \"$1\" --model-repository \"$2\" --drain-seconds 0 --worker-threads 2 "
          "--log-level warn >>\"$3\" 2>&1";
      const char* argv[] = {
          "sh",   "-c", script.c_str(), binary_.c_str(), address.c_str(), repository_.c_str(), log_path_.c_str(),
          nullptr};
      pid_ = fork();
      if (pid_ == 0) {
        execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
        _exit(127);
      }
      if (pid_ < 0) return false;
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(64 << 20);
      // Reconnect promptly: the default backoff after a refused connection is seconds.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
      channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
      stub_ = v1::BnServe::NewStub(channel_);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (std::chrono::steady_clock::now() < deadline && Running()) {
        if (!testing::LoopbackPortAccepts(port_)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        v1::GetRunningStatsRequest request;
        request.set_model(model);
        v1::GetRunningStatsResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        if (stub_->GetRunningStats(&context, request, &response).ok()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      Kill();  // a taken port makes it exit; anything else, retry too
    }
    return false;
  }

  // True while the process has not exited (reaps it when it has).
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  // Waits up to `timeout` for the process to exit by itself; true if it did.
  bool WaitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Running()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    testing::WaitBounded(pid_, std::chrono::seconds(20));
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  v1::BnServe::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  const std::string& log_path() const { return log_path_; }

 private:
  const std::string binary_;
  const std::string repository_;
  const std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::BnServe::Stub> stub_;
};

// A context whose deadline is `seconds` from now.
inline std::unique_ptr<grpc::ClientContext> ContextWithDeadline(double seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
  return context;
}

// A float tensor of `rows` x features values on a 1/64 grid in [-2, 2),
// deterministic in `seed` (exactly representable, so the statistics do not
// depend on summation order more than float64 allows).
inline v1::Tensor GridBatch(int64_t rows, const std::vector<int64_t>& feature_dims, uint64_t seed) {
  v1::Tensor tensor;
  tensor.add_shape(rows);
  int64_t count = rows;
  for (int64_t d : feature_dims) {
    tensor.add_shape(d);
    count *= d;
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> grid(-128, 127);
  for (int64_t i = 0; i < count; ++i) tensor.add_values(static_cast<float>(grid(rng)) / 64.0f);
  return tensor;
}

// The input's dims after the batch dim, from DescribeModel (single-input models).
inline bool FeatureDims(v1::BnServe::Stub& stub, const std::string& model, std::vector<int64_t>* dims) {
  v1::DescribeModelRequest request;
  request.set_model(model);
  v1::DescribeModelResponse response;
  if (!stub.DescribeModel(ContextWithDeadline(10).get(), request, &response).ok()) return false;
  if (response.inputs_size() != 1) return false;
  dims->assign(response.inputs(0).shape().begin() + 1, response.inputs(0).shape().end());
  for (int64_t d : *dims) {
    if (d <= 0) return false;
  }
  return true;
}

}  // namespace bnserve::reliability
