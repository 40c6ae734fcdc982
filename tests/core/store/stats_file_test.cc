#include "core/store/stats_file.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/util/crc32c.h"
#include "gtest/gtest.h"

namespace bnserve {
namespace {

using namespace std::string_literals;

constexpr char kSource[] = "/models/m/stats/v00000003.bnstats";

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

// Awkward contents: odd channel counts, a single-channel layer, signed zero,
// subnormals, huge and tiny magnitudes, strings with NUL and UTF-8 bytes.
StatsFileContents SampleContents() {
  StatsFileContents c;
  c.info.version = 3;
  c.info.parent = 2;
  c.info.created_unix_ms = 1714000000123;
  c.info.origin = "recalibrate";
  c.info.mode = "exact";
  c.info.batches = 17;
  c.info.samples = 4321;
  c.info.note = "night run \xc3\xa9t\xc3\xa9 with a NUL: \0 end"s;
  c.snapshot.version = 3;
  c.layer_names = {"features.0.bn", "b", "layer3.1.bn2"};
  LayerStats a;
  a.mean = {0.1, -0.0, 1e300};
  a.var = {1.0, std::numeric_limits<double>::denorm_min(), 2.5e-310};
  a.num_batches_tracked = 5;
  a.sample_count = 0;
  LayerStats b;
  b.mean = {-3.75};
  b.var = {-1e-7};  // slightly negative variances are valid while var + eps > 0
  b.num_batches_tracked = 0;
  b.sample_count = 9;
  LayerStats d;
  for (int ch = 0; ch < 5; ++ch) {
    d.mean.push_back(std::ldexp(1.0, -ch) / 3.0);
    d.var.push_back(1.0 + ch / 7.0);
  }
  d.num_batches_tracked = int64_t{1} << 40;
  d.sample_count = 123456789012;
  c.snapshot.layers = {a, b, d};
  return c;
}

// SampleContents() committed under an idempotency key: written as format 2.
StatsFileContents SampleContentsWithRequestId() {
  StatsFileContents c = SampleContents();
  c.info.request_id = "5f0c1d2e-aaaa-4bbb-8ccc-0123456789ab";
  c.info.request_digest = 0x89abcdef;
  return c;
}

// Where SampleContents()'s layer_count field sits in the file: after the
// header, three i64, three strings and two i64.
size_t LayerCountOffset() {
  const VersionInfo& info = SampleContents().info;
  return kStatsFileHeaderSize + 24 + (4 + info.origin.size()) + (4 + info.mode.size()) + 16 + (4 + info.note.size());
}

void ExpectSameContents(const StatsFileContents& got, const StatsFileContents& want) {
  EXPECT_EQ(got.info, want.info);
  EXPECT_EQ(got.layer_names, want.layer_names);
  EXPECT_EQ(got.snapshot.version, want.snapshot.version);
  ASSERT_EQ(got.snapshot.layers.size(), want.snapshot.layers.size());
  for (size_t l = 0; l < want.snapshot.layers.size(); ++l) {
    const LayerStats& g = got.snapshot.layers[l];
    const LayerStats& w = want.snapshot.layers[l];
    ASSERT_EQ(g.mean.size(), w.mean.size()) << "layer " << l;
    ASSERT_EQ(g.var.size(), w.var.size()) << "layer " << l;
    for (size_t ch = 0; ch < w.mean.size(); ++ch) {
      // Bit-for-bit: -0.0 and subnormals must survive.
      EXPECT_EQ(Bits(g.mean[ch]), Bits(w.mean[ch])) << "layer " << l << " channel " << ch;
      EXPECT_EQ(Bits(g.var[ch]), Bits(w.var[ch])) << "layer " << l << " channel " << ch;
    }
    EXPECT_EQ(g.num_batches_tracked, w.num_batches_tracked) << "layer " << l;
    EXPECT_EQ(g.sample_count, w.sample_count) << "layer " << l;
  }
}

// Fixes the length and checksum fields after a test edits the payload, so the
// decoder's field checks (not the checksum) are what is exercised.
std::string Reseal(std::string file) {
  const uint64_t length = file.size() - kStatsFileHeaderSize;
  for (int i = 0; i < 8; ++i) file[12 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  const uint32_t masked = crc32c::Mask(crc32c::Value(absl::string_view(file).substr(kStatsFileHeaderSize)));
  for (int i = 0; i < 4; ++i) file[20 + i] = static_cast<char>((masked >> (8 * i)) & 0xff);
  return file;
}

void ExpectDataLoss(const absl::StatusOr<StatsFileContents>& decoded, const std::string& needle) {
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << decoded.status();
  EXPECT_NE(decoded.status().message().find(kSource), std::string::npos) << decoded.status();
  EXPECT_NE(decoded.status().message().find(needle), std::string::npos)
      << "expected '" << needle << "' in: " << decoded.status();
}

TEST(StatsFileTest, RoundTripIsBitExact) {
  const StatsFileContents c = SampleContents();
  auto bytes = EncodeStatsFile(c);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto decoded = DecodeStatsFile(*bytes, kSource);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameContents(*decoded, c);
  // Re-encoding gives the same bytes: the format has one encoding per value.
  auto again = EncodeStatsFile(*decoded);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *bytes);
}

TEST(StatsFileTest, RoundTripWithoutLayers) {
  StatsFileContents c;
  c.info.version = 2;
  c.info.parent = 1;
  c.info.origin = "rollback";
  c.snapshot.version = 2;
  auto bytes = EncodeStatsFile(c);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto decoded = DecodeStatsFile(*bytes, kSource);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameContents(*decoded, c);
}

// Builds the documented layout by hand (docs/stats-file-format.md) and checks
// the encoder produces exactly those bytes.
TEST(StatsFileTest, EncodingMatchesDocumentedLayout) {
  StatsFileContents c;
  c.info = VersionInfo{2, 1, 0x0102030405060708, "rollback", "", 0, 3, "n", "", 0};
  c.snapshot.version = 2;
  c.layer_names = {"bn"};
  LayerStats layer;
  layer.mean = {1.0};
  layer.var = {2.0};
  layer.num_batches_tracked = 4;
  layer.sample_count = 5;
  c.snapshot.layers = {layer};

  auto u32 = [](uint32_t v) {
    std::string s;
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
    return s;
  };
  auto u64 = [](uint64_t v) {
    std::string s;
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
    return s;
  };
  std::string payload;
  payload += u64(2) + u64(1) + u64(0x0102030405060708);
  payload += u32(8) + "rollback";
  payload += u32(0);
  payload += u64(0) + u64(3);
  payload += u32(1) + "n";
  payload += u32(1);
  payload += u32(2) + "bn" + u64(1);
  payload += u64(0x3FF0000000000000);  // 1.0
  payload += u64(0x4000000000000000);  // 2.0
  payload += u64(4) + u64(5);
  std::string expected("BNSTATS\0", 8);
  expected += u32(1) + u64(payload.size()) + u32(crc32c::Mask(crc32c::Value(payload))) + payload;

  auto bytes = EncodeStatsFile(c);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, expected) << "a version without request_id is written in format 1";

  // A format-1 file (what every server before request ids wrote) reads back
  // with no request id.
  auto decoded = DecodeStatsFile(expected, kSource);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameContents(*decoded, c);
  EXPECT_EQ(decoded->info.request_id, "");

  // Format 2: request_id and request_digest follow the note.
  c.info.request_id = "r-1";
  c.info.request_digest = 0xa1b2c3d4;
  std::string payload2;
  payload2 += u64(2) + u64(1) + u64(0x0102030405060708);
  payload2 += u32(8) + "rollback";
  payload2 += u32(0);
  payload2 += u64(0) + u64(3);
  payload2 += u32(1) + "n";
  payload2 += u32(3) + "r-1" + u32(0xa1b2c3d4);
  payload2 += payload.substr(payload.size() - (4 + 4 + 2 + 8 + 8 + 8 + 8 + 8));  // layer_count and the layer
  std::string expected2("BNSTATS\0", 8);
  expected2 += u32(2) + u64(payload2.size()) + u32(crc32c::Mask(crc32c::Value(payload2))) + payload2;
  bytes = EncodeStatsFile(c);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, expected2);
  decoded = DecodeStatsFile(expected2, kSource);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameContents(*decoded, c);

  // One encoding per value: format 2 with an empty request id is refused.
  std::string empty_id = payload2;
  empty_id.replace(8 * 3 + 4 + 8 + 4 + 8 * 2 + 4 + 1, 4 + 3, u32(0));
  std::string file("BNSTATS\0", 8);
  file += u32(2) + u64(empty_id.size()) + u32(crc32c::Mask(crc32c::Value(empty_id))) + empty_id;
  ExpectDataLoss(DecodeStatsFile(file, kSource), "request_id: expected non-empty in a format 2 file");
}

TEST(StatsFileTest, RoundTripWithRequestId) {
  const StatsFileContents c = SampleContentsWithRequestId();
  auto bytes = EncodeStatsFile(c);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ((*bytes)[8], 2);
  auto decoded = DecodeStatsFile(*bytes, kSource);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameContents(*decoded, c);
}

TEST(StatsFileTest, EverySingleBitFlipIsDetected) {
  for (const StatsFileContents& contents : {SampleContents(), SampleContentsWithRequestId()}) {
    SCOPED_TRACE("request_id '" + contents.info.request_id + "'");
    auto bytes = EncodeStatsFile(contents);
    ASSERT_TRUE(bytes.ok());
    for (size_t i = 0; i < bytes->size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string damaged = *bytes;
        damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
        auto decoded = DecodeStatsFile(damaged, kSource);
        ASSERT_FALSE(decoded.ok()) << "flip of byte " << i << " bit " << bit << " of " << bytes->size()
                                   << " went undetected";
        ASSERT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << decoded.status();
      }
    }
  }
}

TEST(StatsFileTest, TruncationAtEveryLengthAndTrailingBytesAreDetected) {
  for (const StatsFileContents& contents : {SampleContents(), SampleContentsWithRequestId()}) {
    auto bytes = EncodeStatsFile(contents);
    ASSERT_TRUE(bytes.ok());
    for (size_t length = 0; length < bytes->size(); ++length) {
      auto decoded = DecodeStatsFile(absl::string_view(*bytes).substr(0, length), kSource);
      ASSERT_FALSE(decoded.ok()) << "truncation to " << length << " of " << bytes->size() << " bytes went undetected";
      ASSERT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << decoded.status();
    }
  }
  auto bytes = EncodeStatsFile(SampleContents());
  ASSERT_TRUE(bytes.ok());
  ExpectDataLoss(DecodeStatsFile(absl::string_view(*bytes).substr(0, 10), kSource), "truncated header");
  ExpectDataLoss(DecodeStatsFile(absl::string_view(*bytes).substr(0, bytes->size() - 1), kSource), "payload length");
  ExpectDataLoss(DecodeStatsFile(*bytes + "x", kSource), "payload length");
}

TEST(StatsFileTest, HeaderProblemsAreNamed) {
  auto bytes = EncodeStatsFile(SampleContents());
  ASSERT_TRUE(bytes.ok());
  std::string bad_magic = *bytes;
  bad_magic[0] = 'X';
  ExpectDataLoss(DecodeStatsFile(bad_magic, kSource), "bad magic");
  std::string bad_version = *bytes;
  bad_version[8] = 3;
  ExpectDataLoss(DecodeStatsFile(bad_version, kSource), "unsupported format version: expected 1 to 2, got 3");
  bad_version[8] = 0;
  ExpectDataLoss(DecodeStatsFile(bad_version, kSource), "unsupported format version: expected 1 to 2, got 0");
  std::string bad_payload = *bytes;
  bad_payload[kStatsFileHeaderSize + 3] ^= 0x10;
  ExpectDataLoss(DecodeStatsFile(bad_payload, kSource), "checksum mismatch");
  ExpectDataLoss(DecodeStatsFile(std::string(64, '\0'), kSource), "bad magic");
}

TEST(StatsFileTest, ResealedGarbageIsRejectedWithoutHugeAllocations) {
  auto bytes = EncodeStatsFile(SampleContents());
  ASSERT_TRUE(bytes.ok());
  const size_t layer_count_at = LayerCountOffset();
  ASSERT_EQ(static_cast<uint8_t>((*bytes)[layer_count_at]), 3u);

  std::string many_layers = *bytes;
  for (int i = 0; i < 4; ++i) many_layers[layer_count_at + i] = '\xff';
  ExpectDataLoss(DecodeStatsFile(Reseal(many_layers), kSource), "layer_count 4294967295 cannot fit");

  // First layer's channel count (after its 4 + 13 byte name) set to 2^62.
  const size_t channels_at = layer_count_at + 4 + 4 + 13;
  ASSERT_EQ(static_cast<uint8_t>((*bytes)[channels_at]), 3u);
  std::string many_channels = *bytes;
  many_channels[channels_at] = 0;
  many_channels[channels_at + 7] = 0x40;
  ExpectDataLoss(DecodeStatsFile(Reseal(many_channels), kSource), "layers[0].channels");

  std::string long_origin = *bytes;
  long_origin[kStatsFileHeaderSize + 24 + 3] = 0x7f;
  ExpectDataLoss(DecodeStatsFile(Reseal(long_origin), kSource), "field 'origin'");

  ExpectDataLoss(DecodeStatsFile(Reseal(*bytes + std::string(3, '\0')), kSource), "3 unexpected trailing bytes");
}

TEST(StatsFileTest, DecoderEnforcesTheValueRules) {
  auto bytes = EncodeStatsFile(SampleContents());
  ASSERT_TRUE(bytes.ok());
  const size_t layer_count_at = LayerCountOffset();
  const size_t mean1_at = layer_count_at + 4 + 4 + 13 + 8 + 8;  // layers[0].mean[1]
  std::string nan_mean = *bytes;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(&nan_mean[mean1_at], &nan, 8);  // host order: the tests run on little-endian machines
  ExpectDataLoss(DecodeStatsFile(Reseal(nan_mean), kSource), "layers[0] ('features.0.bn').mean[1]: expected finite");

  std::string bad_parent = *bytes;
  bad_parent[kStatsFileHeaderSize + 8] = 3;  // parent 3 of version 3
  ExpectDataLoss(DecodeStatsFile(Reseal(bad_parent), kSource), "parent: expected in [0, 3), got 3");
}

TEST(StatsFileTest, EncoderRejectsWhatTheDecoderWould) {
  auto expect_invalid = [](const StatsFileContents& c, const std::string& needle) {
    auto bytes = EncodeStatsFile(c);
    ASSERT_FALSE(bytes.ok());
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument) << bytes.status();
    EXPECT_NE(bytes.status().message().find(needle), std::string::npos) << bytes.status();
  };
  StatsFileContents c = SampleContents();
  c.snapshot.layers[2].var[4] = std::numeric_limits<double>::infinity();
  expect_invalid(c, "layers[2] ('layer3.1.bn2').var[4]: expected finite, got inf");
  c = SampleContents();
  c.snapshot.layers[1].var.push_back(1.0);
  expect_invalid(c, "expected mean and var of equal length, got 1 and 2");
  c = SampleContents();
  c.layer_names.pop_back();
  expect_invalid(c, "layer_names: expected one per layer (3), got 2");
  c = SampleContents();
  c.snapshot.version = 7;
  expect_invalid(c, "snapshot.version: expected 3");
  c = SampleContents();
  c.info.request_digest = 5;
  expect_invalid(c, "request_digest: expected 0 without a request_id, got 5");
  c = SampleContents();
  c.info.parent = -1;
  expect_invalid(c, "parent: expected in [0, 3), got -1");
  c = SampleContents();
  c.info.samples = -2;
  expect_invalid(c, "samples: expected >= 0, got -2");
  c = SampleContents();
  c.layer_names[1].clear();
  expect_invalid(c, "layers[1].name: expected non-empty");
}

}  // namespace
}  // namespace bnserve
