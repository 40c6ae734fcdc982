#include "server/reactors.h"

namespace bnserve {
namespace {

// Reads chunks into a BatchStatsStream (on the pool, which copies them into
// one batch), computes when the client half-closes. One operation in flight
// at a time; nothing touches `this` after StartRead or Finish.
class BatchStatsStreamReactor final : public grpc::ServerReadReactor<v1::GetBatchStatsRequest> {
 public:
  BatchStatsStreamReactor(const CallEnv& env, grpc::CallbackServerContext* context, v1::GetBatchStatsResponse* response)
      : env_(env), context_(context), response_(response), stream_(env.limits) {
    ReleaseToGrpc(this);
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    AcquireFromGrpc(this);
    if (ok) {
      env_.pool->Submit([this] { AddChunk(); });
      return;
    }
    const absl::Status cancelled = CheckNotCancelled(context_, "batch statistics");
    if (!cancelled.ok()) {
      Finish(ToGrpcStatus(cancelled));
    } else {
      env_.pool->Submit([this] { Compute(); });
    }
  }

  void OnDone() override {
    AcquireFromGrpc(this);
    delete this;
  }

 private:
  void AddChunk() {
    AcquireFromGrpc(this);
    const absl::Status status = stream_.Add(chunk_);
    if (!status.ok()) {
      EndCall(env_, "GetBatchStatsStream", chunk_.model(), context_, status, start_);
      ReleaseToGrpc(this);
      Finish(ToGrpcStatus(status));
      return;
    }
    chunk_.Clear();
    ReleaseToGrpc(this);
    StartRead(&chunk_);
  }

  void Compute() {
    AcquireFromGrpc(this);
    absl::Status status = stream_.Finish(*env_.manager, response_);
    if (status.ok()) status = CheckResponseSize(response_->ByteSizeLong(), env_.limits);
    EndCall(env_, "GetBatchStatsStream", response_->model(), context_, status, start_);
    ReleaseToGrpc(this);
    Finish(ToGrpcStatus(status));
  }

  const CallEnv env_;
  grpc::CallbackServerContext* const context_;
  v1::GetBatchStatsResponse* const response_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  v1::GetBatchStatsRequest chunk_;
  BatchStatsStream stream_;
};

}  // namespace

grpc::ServerReadReactor<v1::GetBatchStatsRequest>* NewBatchStatsStreamReactor(const CallEnv& env,
                                                                              grpc::CallbackServerContext* context,
                                                                              v1::GetBatchStatsResponse* response) {
  return new BatchStatsStreamReactor(env, context, response);
}

}  // namespace bnserve
