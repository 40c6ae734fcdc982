// ArenaMessages: a gRPC callback-API message allocator that puts each call's
// request and response on a protobuf Arena whose first block lives inside
// the per-call holder. A Predict request and response are a dozen small
// heap objects (the Tensor messages, their shape fields, names, the model
// string); allocated one by one that is a dozen mallocs and frees per call,
// about as many as the whole gRPC stack makes. On the arena it is one
// allocation (the holder) and no destructor walk. Large payloads (raw bytes,
// long value lists) still get buffers of their own.
//
// Thread-safe (stateless); must outlive the gRPC server it is set on.
#pragma once

#include <cstddef>

#include "google/protobuf/arena.h"
#include "grpcpp/support/message_allocator.h"

namespace bnserve {

template <typename Request, typename Response>
class ArenaMessages final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  // Enough for a small model's request and response (an MLP's is ~600
  // bytes besides its payload buffers); a larger call grows the arena.
  static constexpr size_t kInlineBytes = 1024;

  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options(block_)) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options(char* block) {
      google::protobuf::ArenaOptions options;
      options.initial_block = block;
      options.initial_block_size = kInlineBytes;
      return options;
    }

    alignas(std::max_align_t) char block_[kInlineBytes];  // before arena_, which uses it
    google::protobuf::Arena arena_;
  };
};

}  // namespace bnserve
