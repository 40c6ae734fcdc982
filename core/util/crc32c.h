// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78): the
// checksum of every statistics file. Same function as iSCSI, ext4 metadata and
// LevelDB's util/crc32c.h, so a stored value can be checked with any standard
// tool. Table-driven, one byte per step: statistics files are small and are
// only checksummed when written or loaded, so hardware CRC is not worth the
// portability cost. Stateless; safe from any thread.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace bnserve::crc32c {

// CRC32C of `data` appended to a string whose CRC32C is `init_crc`.
// Extend(Value(a), b) == Value(a + b).
uint32_t Extend(uint32_t init_crc, absl::string_view data);

// CRC32C of `data`.
inline uint32_t Value(absl::string_view data) { return Extend(0, data); }

// Why files store Mask(crc) rather than crc (LevelDB's reasoning): the CRC of a
// byte string that contains its own CRC is degenerate (appending a message's
// CRC to it drives the CRC of the whole to a constant), so a checksum computed
// over data that embeds checksums - e.g. a statistics file copied inside
// another checksummed container or log - would stop detecting errors. A second
// reason specific to us: the CRC32C of an empty payload is 0, so an all-zero
// header (what a file system may leave behind after a crash) would carry a
// "valid" checksum for a zero-length payload; masked, that checksum is not 0.
// Rotating and adding a constant keeps the mapping a bijection.
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;

inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

inline uint32_t Unmask(uint32_t masked_crc) {
  const uint32_t rot = masked_crc - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace bnserve::crc32c
