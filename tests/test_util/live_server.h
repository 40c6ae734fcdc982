// The one launcher of the real bnserve binary for tests and reliability
// programs (bnctl_test, crash_harness, cancel_fuzz, load_test): a bnserve
// process on a free loopback port over a repository, its output in one log
// file, ready when a probe says so; plus the generated-stub helpers the
// reliability programs share. Every wait is bounded. Not thread-safe (one
// driver thread per object).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/test_util/subprocess_util.h"

namespace bnserve::testing {

// A bnserve process started with Start() and ended by Stop() (SIGTERM, a
// graceful drain) or Kill() (SIGKILL); the destructor kills it.
class LiveServer {
 public:
  // `args` follow `--listen 127.0.0.1:<port> --model-repository <repository>`
  // on the command line; the default suits a harness that kills the server.
  LiveServer(std::string binary, std::string repository, std::string log_path,
             std::vector<std::string> args = {"--drain-seconds", "0", "--worker-threads", "2", "--log-level", "warn"})
      : binary_(std::move(binary)),
        repository_(std::move(repository)),
        log_path_(std::move(log_path)),
        args_(std::move(args)) {}
  ~LiveServer() { Kill(); }
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  // Starts the server with `env` added to its environment and calls
  // `ready(port)` until it returns true, for up to 60 s (once the port
  // accepts connections: a gRPC channel that failed to connect backs off for
  // seconds). False when it never did (the server is then killed; the log
  // says why); a port taken between picking and binding is retried.
  bool Start(const std::map<std::string, std::string>& env, const std::function<bool(int port)>& ready) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreeLoopbackPort();
      if (!Spawn(env)) return false;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (std::chrono::steady_clock::now() < deadline && Running()) {
        if (LoopbackPortAccepts(port_) && ready(port_)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      Kill();  // a taken port makes it exit; anything else, retry too
    }
    return false;
  }
  // Start, ready once `model` answers GetRunningStats (plaintext servers).
  bool Start(const std::map<std::string, std::string>& env, const std::string& model) {
    return Start(env, [&](int) {
      v1::GetRunningStatsRequest request;
      request.set_model(model);
      v1::GetRunningStatsResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      return stub().GetRunningStats(&context, request, &response).ok();
    });
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
  // SIGTERM: the server drains and exits (SIGKILL after 20 s).
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    WaitBounded(pid_, std::chrono::seconds(20));
    pid_ = -1;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    WaitBounded(pid_, std::chrono::seconds(20));
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // A plaintext channel to the server, made on first use.
  v1::BnServe::Stub& stub() {
    if (stub_ == nullptr) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(64 << 20);
      // Reconnect promptly: the default backoff after a refused connection is seconds.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
      channel_ =
          grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials(), args);
      stub_ = v1::BnServe::NewStub(channel_);
    }
    return *stub_;
  }
  std::shared_ptr<grpc::Channel> channel() {
    stub();
    return channel_;
  }
  const std::string& log_path() const { return log_path_; }

 private:
  bool Spawn(const std::map<std::string, std::string>& env) {
    channel_ = nullptr;
    stub_ = nullptr;
    // Everything the child needs is built before fork: between fork and
    // exec a multi-threaded parent's child may only make async-signal-safe calls.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = {binary_, "--listen", "127.0.0.1:" + std::to_string(port_),
                                             "--model-repository", repository_};
    argv_strings.insert(argv_strings.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (std::string& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(log_fd);
    return pid_ > 0;
  }

  const std::string binary_;
  const std::string repository_;
  const std::string log_path_;
  const std::vector<std::string> args_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::BnServe::Stub> stub_;
};

}  // namespace bnserve::testing

namespace bnserve::reliability {

using testing::LiveServer;

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
