// The on-disk form of one statistics version (a ".bnstats" file): a fixed
// 24-byte header - magic, format version, payload length, masked CRC32C of the
// payload - followed by the payload: the VersionInfo, then per BN layer its
// name, channel count, running mean and variance (float64), num_batches_tracked
// and sample_count. All integers little-endian. Byte-level layout, the
// validation rules and the reasons behind them: docs/stats-file-format.md.
//
// Pure functions on bytes (no I/O, no state); safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/stats/bn_layer.h"
#include "core/stats/stats_snapshot.h"
#include "core/store/version_info.h"
#include "core/util/status.h"

namespace bnserve {

inline constexpr char kStatsFileMagic[8] = {'B', 'N', 'S', 'T', 'A', 'T', 'S', '\0'};
// Format 2 adds the request_id and request_digest fields after the note.
// Files without a request id are still written as format 1, so a server
// downgraded to a format-1 reader keeps reading them; both are read.
inline constexpr uint32_t kStatsFileFormatVersion = 2;
inline constexpr uint32_t kStatsFileOldestFormatVersion = 1;
inline constexpr size_t kStatsFileHeaderSize = 24;

// Everything one statistics file holds.
struct StatsFileContents {
  VersionInfo info;
  // One per snapshot layer, in the model's BN layer order; lets a reader tell
  // statistics of a different model apart from this one's.
  std::vector<std::string> layer_names;
  StatsSnapshot snapshot;  // snapshot.version == info.version
};

// Serializes `contents`. INVALID_ARGUMENT (naming the field) when it breaks a
// rule DecodeStatsFile enforces, so every file we write can be read back:
// version >= 1, 0 <= parent < version, non-negative counters, one non-empty
// name per layer, mean and var of equal length and finite,
// snapshot.version == info.version, request_digest 0 without a request_id.
// Writes format 1 when info.request_id is empty, else format 2.
absl::StatusOr<std::string> EncodeStatsFile(const StatsFileContents& contents);

// Parses and fully validates `bytes`: header, exact length, checksum, every
// payload field, the rules above, nothing left over. DATA_LOSS naming
// `source` (the file path) and what is wrong otherwise. Never allocates more
// than the input's size, whatever the length fields claim.
absl::StatusOr<StatsFileContents> DecodeStatsFile(absl::string_view bytes, absl::string_view source);

// Why decoded `contents` cannot serve a model whose BN layers are `layers`
// (names and channel counts, in order), or nullopt when they can.
std::optional<std::string> StatsFileLayerMismatch(const std::vector<BnLayerInfo>& layers,
                                                  const StatsFileContents& contents);

}  // namespace bnserve
