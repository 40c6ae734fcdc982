#include <algorithm>

#include "server/reactors.h"

namespace bnserve {
namespace {

// Largest data field per chunk: 1 MiB, or less under a small message limit
// (leaving room for the chunk's other fields).
int64_t ChunkBytes(const ServiceLimits& limits) {
  return std::max<int64_t>(1, std::min<int64_t>(int64_t{1} << 20, limits.max_message_bytes - 1024));
}

// Builds the export on the pool, then writes it chunk by chunk: one write
// in flight at a time; nothing touches `this` after StartWrite or Finish.
class ExportReactor final : public grpc::ServerWriteReactor<v1::ExportChunk> {
 public:
  ExportReactor(const CallEnv& env, grpc::CallbackServerContext* context, const v1::ExportRequest* request)
      : env_(env), context_(context), request_(*request) {
    env_.pool->Submit([this] { Build(); });
  }

  void OnWriteDone(bool ok) override {
    AcquireFromGrpc(this);
    if (!ok) {
      Finish(ToGrpcStatus(absl::CancelledError("Export: the client stopped receiving")));
      return;
    }
    WriteNext();
  }

  void OnDone() override {
    AcquireFromGrpc(this);
    delete this;
  }

 private:
  void Build() {
    AcquireFromGrpc(this);
    absl::Status status = CheckNotCancelled(context_, "export");
    if (status.ok()) {
      absl::StatusOr<ExportedModel> exported = ExportImpl(*env_.manager, request_);
      status = exported.status();
      if (status.ok()) exported_ = *std::move(exported);
    }
    EndCall(env_, "Export", request_.model(), context_, status, start_);
    if (!status.ok()) {
      ReleaseToGrpc(this);
      Finish(ToGrpcStatus(status));
      return;
    }
    WriteNext();
  }

  void WriteNext() {
    const int64_t total = static_cast<int64_t>(exported_.bytes.size());
    if (offset_ >= total && offset_ > 0) {
      ReleaseToGrpc(this);
      Finish(grpc::Status::OK);
      return;
    }
    chunk_.Clear();
    if (offset_ == 0) {
      chunk_.set_model(request_.model());
      chunk_.set_statistics_version(exported_.info.version);
      chunk_.set_total_bytes(total);
    }
    const int64_t size = std::min(ChunkBytes(env_.limits), total - offset_);
    chunk_.set_data(exported_.bytes.substr(static_cast<size_t>(offset_), static_cast<size_t>(size)));
    // An empty file still gets its one (header) chunk.
    offset_ += std::max<int64_t>(size, 1);
    ReleaseToGrpc(this);
    StartWrite(&chunk_);
  }

  const CallEnv env_;
  grpc::CallbackServerContext* const context_;
  const v1::ExportRequest request_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  ExportedModel exported_;
  int64_t offset_ = 0;
  v1::ExportChunk chunk_;
};

}  // namespace

grpc::ServerWriteReactor<v1::ExportChunk>* NewExportReactor(const CallEnv& env, grpc::CallbackServerContext* context,
                                                            const v1::ExportRequest* request) {
  return new ExportReactor(env, context, request);
}

}  // namespace bnserve
