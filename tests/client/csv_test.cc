// client/csv: header detection, number syntax, line ends, and errors that
// name the line and column of the bad cell.
#include "client/csv.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve::client {
namespace {

using ::testing::HasSubstr;

TEST(CsvTest, ParsesRowsWithoutHeader) {
  auto parsed = ParseCsv("1,2.5,-3\n4e-2, 5 ,6E1\n-0.5,.25,7.\n", "x.csv");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->shape, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(parsed->values, (std::vector<float>{1, 2.5f, -3, 0.04f, 5, 60, -0.5f, 0.25f, 7}));
}

TEST(CsvTest, SkipsAHeaderRowOfNames) {
  auto parsed = ParseCsv("f0,f1,\"f 2\"\n1,2,3\n", "x.csv");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(parsed->values, (std::vector<float>{1, 2, 3}));
}

TEST(CsvTest, AcceptsCrLfBlankLinesAndNoFinalNewline) {
  auto parsed = ParseCsv("\r\na,b\r\n1,2\r\n\r\n3,4", "x.csv");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(parsed->values, (std::vector<float>{1, 2, 3, 4}));
}

TEST(CsvTest, SingleColumnAndNonFiniteSpellings) {
  auto parsed = ParseCsv("value\nnan\ninf\n-inf\n1e-45\n", "x.csv");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->shape, (std::vector<int64_t>{4, 1}));
  EXPECT_TRUE(std::isnan(parsed->values[0]));
  EXPECT_EQ(parsed->values[1], INFINITY);
  EXPECT_EQ(parsed->values[2], -INFINITY);
  EXPECT_GT(parsed->values[3], 0.0f);  // a float32 denormal, not an error
}

TEST(CsvTest, BadCellNamesLineAndColumn) {
  auto parsed = ParseCsv("a,b,c\n1,2,3\n4,five,6\n", "data.csv");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(), "data.csv: line 3, column 2: expected a number, got 'five'");
}

TEST(CsvTest, LineNumbersCountBlankLines) {
  auto parsed = ParseCsv("1,2\n\n\n3,x\n", "d.csv");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("line 4, column 2"));
}

TEST(CsvTest, ATypoInTheFirstRowIsNotTakenForAHeader) {
  auto parsed = ParseCsv("1,2x,3\n4,5,6\n", "d.csv");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("line 1, column 2: expected a number, got '2x'"));
}

TEST(CsvTest, OtherErrors) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {Case{"1,2\n3\n", "line 2: expected 2 columns (as on the first line), got 1"},
                        Case{"1,2\n3,4,5\n", "line 2: expected 2 columns"},
                        Case{"1,,3\n", "line 1, column 2: expected a number, got ''"},
                        Case{"1e39,1\n", "line 1, column 1: expected a number, got '1e39'"}, Case{"", "no data rows"},
                        Case{"a,b\n\n", "no data rows"}}) {
    auto parsed = ParseCsv(c.text, "e.csv");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("e.csv")) << c.text;
  }
}

TEST(CsvTest, MissingFileNamesThePath) {
  auto parsed = ReadCsv("/nonexistent/instances.csv");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("/nonexistent/instances.csv"));
}

}  // namespace
}  // namespace bnserve::client
