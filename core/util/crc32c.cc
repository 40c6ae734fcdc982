#include "core/util/crc32c.h"

#include <array>

namespace bnserve::crc32c {
namespace {

constexpr uint32_t kReflectedPolynomial = 0x82F63B78u;

// table[b] = CRC of the single byte b, built at compile time so there is no
// static-initialisation order to think about.
constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kReflectedPolynomial : 0u);
    table[b] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

}  // namespace

uint32_t Extend(uint32_t init_crc, absl::string_view data) {
  // The register holds the complemented CRC (standard pre/post inversion), so
  // leading zero bytes still change the result.
  uint32_t crc = ~init_crc;
  for (const char ch : data) {
    crc = kTable[(crc ^ static_cast<uint8_t>(ch)) & 0xffu] ^ (crc >> 8);
  }
  return ~crc;
}

}  // namespace bnserve::crc32c
