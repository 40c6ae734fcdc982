// client/npy: round trips, every header version and dtype, the example data
// shipped in deploy/examples/data, and hostile files (bad lengths, shapes,
// dtypes, truncations and random byte flips) that must give errors, never
// crashes.
#include "client/npy.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "client/file_bytes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve::client {
namespace {

using ::testing::HasSubstr;

// An .npy file built by hand: magic, version, header length of the
// version's width, the dict text (padded as given), then the data bytes.
std::string MakeNpy(int major, const std::string& dict, const std::string& data) {
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t width = major == 1 ? 2 : 4;
  for (size_t i = 0; i < width; ++i) out.push_back(static_cast<char>((dict.size() >> (8 * i)) & 0xff));
  return out + dict + data;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

TEST(NpyTest, FloatRoundTripKeepsShapeAndValues) {
  FloatArray array;
  array.shape = {3, 1, 5, 7};  // odd sizes
  for (int i = 0; i < 105; ++i) array.values.push_back(std::sin(0.37f * i) * 1e3f + 1e-7f * i);
  const std::string bytes = SerializeNpy(array);
  // numpy's alignment rule: data starts on a multiple of 64 bytes.
  auto header = ParseNpyHeader(bytes, "mem");
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->data_offset % 64, 0u);
  EXPECT_EQ(header->descr, "<f4");
  auto parsed = ParseNpyFloat(bytes, "mem");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->shape, array.shape);
  EXPECT_EQ(parsed->values, array.values);
}

TEST(NpyTest, LabelRoundTripAndScalarAndOneDimShapes) {
  LabelArray labels{{7}, {0, 9, 3, -1, 1LL << 40, 5, 2}};
  auto parsed = ParseNpyLabels(SerializeNpy(labels), "mem");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->shape, labels.shape);
  EXPECT_EQ(parsed->values, labels.values);

  FloatArray scalar{{}, {2.5f}};
  auto s = ParseNpyFloat(SerializeNpy(scalar), "mem");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->values, std::vector<float>{2.5f});
}

TEST(NpyTest, ReadsVersions2And3WithFourByteHeaderLength) {
  const std::vector<float> values = {1.5f, -2.25f, 3.0f};
  for (int major : {2, 3}) {
    auto parsed = ParseNpyFloat(
        MakeNpy(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }          \n", Bytes(values)), "v");
    ASSERT_TRUE(parsed.ok()) << "version " << major << ": " << parsed.status();
    EXPECT_EQ(parsed->values, values);
  }
}

TEST(NpyTest, Float64IsNarrowedToFloat32) {
  const std::vector<double> values = {0.1, -1e-300, 1e300, 3.0};
  auto parsed =
      ParseNpyFloat(MakeNpy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }\n", Bytes(values)), "f8");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->values.size(), 4u);
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(parsed->values[i], static_cast<float>(values[i])) << i;
}

TEST(NpyTest, Int32LabelsAreWidened) {
  const std::vector<int32_t> values = {4, -7, 2147483647};
  auto parsed =
      ParseNpyLabels(MakeNpy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n", Bytes(values)), "i4");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->values, (std::vector<int64_t>{4, -7, 2147483647}));
}

TEST(NpyTest, AcceptsKeyOrderQuotesSpacesAndPython2Longs) {
  const std::vector<float> values(6, 1.0f);
  auto parsed = ParseNpyFloat(
      MakeNpy(1, "{ \"shape\" : ( 2L , 3L ) ,'fortran_order':False,  'descr':\"<f4\"}\n", Bytes(values)), "odd");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->shape, (std::vector<int64_t>{2, 3}));
}

TEST(NpyTest, ReadsTheShippedExampleData) {
  const std::string dir = std::string(BNSERVE_SOURCE_DIR) + "/deploy/examples/data/";
  auto images = ReadNpyFloat(dir + "digits_test.npy");
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->shape, (std::vector<int64_t>{600, 1, 8, 8}));
  // Pixel values were divided by 16 (README): all in [0, 1], multiples of 1/16.
  for (float v : images->values) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 1.0f);
    ASSERT_EQ(v * 16.0f, std::round(v * 16.0f));
  }
  // The same bytes read independently of the parser: the last 4 * N bytes.
  auto raw = ReadFileBytes(dir + "digits_test.npy");
  ASSERT_TRUE(raw.ok());
  std::vector<float> tail(images->values.size());
  std::memcpy(tail.data(), raw->data() + raw->size() - tail.size() * 4, tail.size() * 4);
  EXPECT_EQ(tail, images->values);

  auto labels = ReadNpyLabels(dir + "digits_test_labels.npy");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->shape, (std::vector<int64_t>{600}));
  for (int64_t label : labels->values) {
    ASSERT_GE(label, 0);
    ASSERT_LE(label, 9);
  }
}

// Errors: each case names the problem in the message.
struct BadCase {
  const char* name;
  std::string bytes;
  absl::StatusCode code;
  const char* message;
};

std::vector<BadCase> BadCases() {
  const std::string f4x3 = Bytes(std::vector<float>{1, 2, 3});
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n";
  std::string huge_len = MakeNpy(2, good_dict, f4x3);
  huge_len[8] = huge_len[9] = huge_len[10] = huge_len[11] = '\xff';
  std::string past_end = MakeNpy(1, good_dict, "");
  past_end[8] = '\xff';
  past_end[9] = '\x7f';
  return {
      {"empty", "", absl::StatusCode::kInvalidArgument, "magic"},
      {"bad magic", "\x93NUMPX\x01\x00\x10\x00", absl::StatusCode::kInvalidArgument, "magic"},
      {"version 4", MakeNpy(4, good_dict, f4x3), absl::StatusCode::kInvalidArgument, "format version 4"},
      {"truncated preamble", std::string("\x93NUMPY\x02\x00\x10", 9), absl::StatusCode::kDataLoss, "preamble"},
      {"header length 4 GiB", huge_len, absl::StatusCode::kInvalidArgument, "exceeds the limit"},
      {"header past end", past_end, absl::StatusCode::kDataLoss, "past the end"},
      {"fortran order", MakeNpy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", f4x3),
       absl::StatusCode::kInvalidArgument, "Fortran"},
      {"big endian", MakeNpy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", f4x3),
       absl::StatusCode::kInvalidArgument, "unsupported dtype '>f4'"},
      {"float16", MakeNpy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", f4x3),
       absl::StatusCode::kInvalidArgument, "unsupported dtype '<f2'"},
      {"labels as floats", MakeNpy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", "12345678"),
       absl::StatusCode::kInvalidArgument, "expected float32"},
      {"structured dtype", MakeNpy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", f4x3),
       absl::StatusCode::kInvalidArgument, "malformed"},
      {"shape overflow",
       MakeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", f4x3),
       absl::StatusCode::kInvalidArgument, "overflows"},
      {"byte count overflow",
       MakeNpy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", f4x3),
       absl::StatusCode::kInvalidArgument, "overflows"},
      {"dim overflows int64",
       MakeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", f4x3),
       absl::StatusCode::kInvalidArgument, "overflows int64"},
      {"negative dim", MakeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", f4x3),
       absl::StatusCode::kInvalidArgument, "non-negative integer"},
      {"data too short", MakeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f4x3),
       absl::StatusCode::kDataLoss, "needs 16 data bytes, the file has 12"},
      {"data too long", MakeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x3),
       absl::StatusCode::kDataLoss, "needs 8 data bytes, the file has 12"},
      {"missing key", MakeNpy(1, "{'descr': '<f4', 'shape': (3,), }", f4x3), absl::StatusCode::kInvalidArgument,
       "must have the keys"},
      {"duplicate key", MakeNpy(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", f4x3),
       absl::StatusCode::kInvalidArgument, "duplicate key"},
      {"trailing junk", MakeNpy(1, good_dict + "x", f4x3), absl::StatusCode::kInvalidArgument, "after the header"},
      {"unterminated string", MakeNpy(1, "{'descr: 3", f4x3), absl::StatusCode::kInvalidArgument, "unterminated"},
      {"shape not a tuple", MakeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': '3', }", f4x3),
       absl::StatusCode::kInvalidArgument, "'shape' is not a tuple"},
      {"65 dims",
       MakeNpy(
           1,
           "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
               [] {
                 std::string dims;
                 for (int i = 0; i < 65; ++i) dims += "1,";
                 return dims;
               }() +
               "), }",
           Bytes(std::vector<float>{1})),
       absl::StatusCode::kInvalidArgument, "more than 64 dims"},
  };
}

TEST(NpyTest, HostileFilesGiveClearErrors) {
  for (const BadCase& bad : BadCases()) {
    auto parsed = ParseNpyFloat(bad.bytes, "bad.npy");
    ASSERT_FALSE(parsed.ok()) << bad.name;
    EXPECT_EQ(parsed.status().code(), bad.code) << bad.name << ": " << parsed.status();
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(bad.message)) << bad.name;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("bad.npy")) << bad.name;
  }
}

TEST(NpyTest, FloatFileReadAsLabelsNamesTheDtype) {
  auto parsed = ParseNpyLabels(SerializeNpy(FloatArray{{2}, {1, 2}}), "x.npy");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("'<f4'"));
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("int64"));
}

TEST(NpyTest, MissingFileIsNotFoundNamingThePath) {
  auto parsed = ReadNpyFloat("/nonexistent/dir/x.npy");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("/nonexistent/dir/x.npy"));
}

// Every truncation and many random corruptions of a valid file: the parser
// returns a value or an error, and a value always has consistent sizes.
TEST(NpyTest, TruncationsAndByteFlipsNeverCrash) {
  FloatArray array{{5, 3}, std::vector<float>(15, 0.5f)};
  const std::string good = SerializeNpy(array);
  for (size_t len = 0; len < good.size(); ++len) {
    auto parsed = ParseNpyFloat(good.substr(0, len), "cut");
    EXPECT_FALSE(parsed.ok()) << "truncated to " << len << " bytes";
  }
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 20000; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the header, where the parsing happens.
      const size_t pos = rng() % (trial % 2 == 0 ? 80 : bytes.size());
      bytes[pos] = static_cast<char>(rng() & 0xff);
    }
    auto parsed = ParseNpyFloat(bytes, "flip");
    if (parsed.ok()) {
      int64_t count = 1;
      for (int64_t d : parsed->shape) count *= d;
      ASSERT_EQ(static_cast<int64_t>(parsed->values.size()), count) << "trial " << trial;
    }
  }
}

}  // namespace
}  // namespace bnserve::client
