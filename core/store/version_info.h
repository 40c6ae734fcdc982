// VersionInfo: what the statistics store records about one version of a
// model's BN statistics - where it came from and how it was made. Plain value
// type; stored in every statistics file and listed by StatsStore::History().
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace bnserve {

// VersionInfo::origin values.
inline constexpr absl::string_view kOriginOnnx = "onnx";                // version 1: the ONNX file's statistics
inline constexpr absl::string_view kOriginRecalibrate = "recalibrate";  // computed from streamed batches
inline constexpr absl::string_view kOriginRollback = "rollback";        // a copy of an older version
inline constexpr absl::string_view kOriginAdapt = "adapt";              // a candidate promoted (docs/drift.md)

struct VersionInfo {
  int64_t version = 0;          // 1 = the ONNX file's; committed versions are >= 2
  int64_t parent = 0;           // the version that was current when this one was committed; 0 for version 1
  int64_t created_unix_ms = 0;  // commit time; 0 for version 1 (the ONNX file carries no time)
  std::string origin;           // kOriginOnnx, kOriginRecalibrate, kOriginRollback or kOriginAdapt
  std::string mode;             // recalibration mode, e.g. "momentum", "cumulative", "exact"; empty otherwise
  int64_t batches = 0;          // batches the recalibration consumed
  int64_t samples = 0;          // samples per channel it consumed
  std::string note;             // free text from the caller (a rollback records its source version here)
  // Idempotency key of the recalibration that made this version (empty when
  // the caller gave none, and for other origins): a retry carrying the same
  // key is answered with this version instead of committing again.
  std::string request_id;
  // CRC32C of the request the key was first used with (configuration and
  // every batch, see RecalibrationSession): a reuse of the key for a
  // different request is refused instead of being mistaken for a retry.
  // 0 when request_id is empty.
  uint32_t request_digest = 0;

  friend bool operator==(const VersionInfo& a, const VersionInfo& b) {
    return a.version == b.version && a.parent == b.parent && a.created_unix_ms == b.created_unix_ms &&
           a.origin == b.origin && a.mode == b.mode && a.batches == b.batches && a.samples == b.samples &&
           a.note == b.note && a.request_id == b.request_id && a.request_digest == b.request_digest;
  }
  friend bool operator!=(const VersionInfo& a, const VersionInfo& b) { return !(a == b); }
};

}  // namespace bnserve
