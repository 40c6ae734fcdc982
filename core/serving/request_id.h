// Request ids: the client-chosen idempotency key of a recalibration
// (RecalibrationConfig.request_id) - the rules a key must follow, and the
// digest that tells a retry of a request (same key, same configuration, same
// batches) apart from a reuse of the key for a different one.
//
// Pure functions and a value type; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/graph/tensor.h"
#include "core/util/status.h"

namespace bnserve {

// Longest accepted key: room for a UUID (36) or a hex-encoded SHA-256 (64)
// with a prefix, while keeping every history entry small.
inline constexpr size_t kMaxRequestIdLength = 128;

// OK for an empty id (no key) or 1..kMaxRequestIdLength characters from
// A-Z a-z 0-9 '.' '_' ':' '-' (safe in file names, logs and shell commands).
// INVALID_ARGUMENT naming `field`, the rule and the offending character.
absl::Status ValidateRequestId(absl::string_view id, absl::string_view field);

// A CRC32C over a canonical encoding of everything that determines a
// recalibration's result: fed the configuration first, then every batch in
// order. 32 bits make an accidental match between two different requests
// under one key a 1-in-4-billion event - enough to catch a client that
// reuses keys, which is all it is for.
class RequestDigest {
 public:
  void AddInt(int64_t value);
  void AddDouble(double value);
  void AddString(absl::string_view value);  // length-prefixed: "ab","c" != "a","bc"
  // Shape and values of every input of one batch.
  void AddBatch(absl::Span<const TensorView> inputs);
  uint32_t value() const { return crc_; }

 private:
  void AddBytes(const void* data, size_t size);
  uint32_t crc_ = 0;
};

}  // namespace bnserve
