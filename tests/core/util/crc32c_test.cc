#include "core/util/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace bnserve {
namespace {

// Independent reference: the CRC computed bit by bit, straight from the
// definition (reflected polynomial, initial and final inversion).
uint32_t NaiveCrc32c(const std::string& data) {
  uint32_t crc = 0xffffffffu;
  for (const char ch : data) {
    crc ^= static_cast<uint8_t>(ch);
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

TEST(Crc32cTest, StandardCheckValue) {
  // The catalogued "check" value of CRC-32C (CRC-32/ISCSI).
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::Value(""), 0u);
}

TEST(Crc32cTest, Rfc3720Vectors) {
  // RFC 3720 (iSCSI), appendix B.4.
  std::string buf(32, '\0');
  EXPECT_EQ(crc32c::Value(buf), 0x8A9136AAu);
  buf.assign(32, '\xff');
  EXPECT_EQ(crc32c::Value(buf), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c::Value(buf), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(crc32c::Value(buf), 0x113FDB5Cu);
  const unsigned char read_command[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                          0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                                          0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                                          0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(crc32c::Value(std::string(reinterpret_cast<const char*>(read_command), sizeof(read_command))), 0xD9963A56u);
}

TEST(Crc32cTest, MatchesBitwiseReferenceOnAwkwardLengths) {
  uint32_t state = 12345;
  for (size_t length : {1u, 2u, 3u, 7u, 31u, 255u, 256u, 257u, 1021u}) {
    std::string data(length, '\0');
    for (char& ch : data) {
      state = state * 1103515245u + 12345u;
      ch = static_cast<char>(state >> 24);
    }
    EXPECT_EQ(crc32c::Value(data), NaiveCrc32c(data)) << "length " << length;
  }
}

TEST(Crc32cTest, ExtendEqualsValueOfConcatenation) {
  const std::string a = "hello ";
  const std::string b = "world, with an odd length";
  EXPECT_EQ(crc32c::Extend(crc32c::Value(a), b), crc32c::Value(a + b));
  EXPECT_EQ(crc32c::Extend(crc32c::Value(""), a), crc32c::Value(a));
}

TEST(Crc32cTest, MaskIsInvertibleAndChangesTheValue) {
  const uint32_t crc = crc32c::Value("foo");
  EXPECT_NE(crc32c::Mask(crc), crc);
  EXPECT_NE(crc32c::Mask(crc32c::Mask(crc)), crc);
  EXPECT_EQ(crc32c::Unmask(crc32c::Mask(crc)), crc);
  EXPECT_EQ(crc32c::Unmask(crc32c::Unmask(crc32c::Mask(crc32c::Mask(crc)))), crc);
  // The empty payload's CRC is 0; masked it is not, so zeroed bytes do not
  // pass for a valid checksum.
  EXPECT_NE(crc32c::Mask(crc32c::Value("")), 0u);
  for (uint32_t v : {0u, 1u, 0x80000000u, 0xffffffffu, 0xdeadbeefu}) {
    EXPECT_EQ(crc32c::Unmask(crc32c::Mask(v)), v) << v;
  }
}

}  // namespace
}  // namespace bnserve
