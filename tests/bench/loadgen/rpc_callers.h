// The RPCs bnserve-bench and bnserve-loadtest drive, each as a CallStarter
// for CallDriver: Predict (unary), any other unary RPC (UnaryCaller),
// Recalibrate (client stream of a config then K batches, optionally
// read-modify-write against the served version) and Echo (unary, on the
// bare echo server). Each caller owns its request
// messages (built once, read concurrently by every slot - serialization of a
// const message is thread-safe) and one context and response per slot.
//
// Thread-safety: Start may be called concurrently for different slots,
// never for a slot whose previous call has not finished.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "echo.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "tests/bench/loadgen/call_driver.h"

namespace bnserve::loadgen {

// Bytes of tensor data (raw or packed values) in `tensors`.
int64_t TensorPayloadBytes(const google::protobuf::RepeatedPtrField<v1::Tensor>& tensors);

class PredictCaller {
 public:
  PredictCaller(std::shared_ptr<grpc::Channel> channel, v1::PredictRequest request, int slots, absl::Duration timeout);
  void Start(int slot, DoneCallback done);
  // Tensor bytes of the last successful reply (0 before one).
  int64_t reply_bytes() const { return reply_bytes_.load(); }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    v1::PredictResponse response;
  };
  std::unique_ptr<v1::BnServe::Stub> stub_;
  const v1::PredictRequest request_;
  const absl::Duration timeout_;
  std::vector<Slot> slots_;
  std::atomic<int64_t> reply_bytes_{0};
};

// Any unary RPC with a fixed request: `invoke` starts the call (e.g.
// [stub](auto... a) { stub->async()->Moments(a...); }).
template <typename Request, typename Response>
class UnaryCaller {
 public:
  using Invoke =
      std::function<void(grpc::ClientContext*, const Request*, Response*, std::function<void(grpc::Status)>)>;
  UnaryCaller(Invoke invoke, Request request, int slots, absl::Duration timeout)
      : invoke_(std::move(invoke)), request_(std::move(request)), timeout_(timeout), slots_(slots) {}
  void Start(int slot, DoneCallback done) {
    Slot& s = slots_[slot];
    s.context = std::make_unique<grpc::ClientContext>();
    s.context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    s.response.Clear();
    invoke_(s.context.get(), &request_, &s.response, [done = std::move(done)](grpc::Status status) { done(status); });
  }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    Response response;
  };
  const Invoke invoke_;
  const Request request_;
  const absl::Duration timeout_;
  std::vector<Slot> slots_;
};

class RecalibrateCaller {
 public:
  // Each call streams `config`, then `batch` `batches` times. With
  // `expect_current_version`, each call first reads the served version
  // (DescribeModel) and sends it as config.expected_version, as a
  // read-modify-write client does: concurrent calls on one model then race,
  // and the losers end with ABORTED (nothing committed).
  RecalibrateCaller(std::shared_ptr<grpc::Channel> channel, v1::RecalibrationConfig config,
                    v1::RecalibrationBatch batch, int batches, absl::Duration timeout,
                    bool expect_current_version = false);
  void Start(int slot, DoneCallback done);

 private:
  void StartStream(std::unique_ptr<v1::RecalibrateRequest> config, DoneCallback done);

  std::unique_ptr<v1::BnServe::Stub> stub_;
  const bool expect_current_version_;
  v1::RecalibrateRequest config_;
  v1::RecalibrateRequest batch_;
  const int batches_;
  const absl::Duration timeout_;
};

class EchoCaller {
 public:
  EchoCaller(std::shared_ptr<grpc::Channel> channel, int64_t payload_bytes, int64_t reply_bytes, int slots,
             absl::Duration timeout);
  void Start(int slot, DoneCallback done);

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    bench::EchoReply reply;
  };
  std::unique_ptr<bench::Echo::Stub> stub_;
  bench::EchoRequest request_;
  const absl::Duration timeout_;
  std::vector<Slot> slots_;
};

}  // namespace bnserve::loadgen
