// bnctl's drift commands end to end: the real bnserve on a free loopback
// port over a temporary copy of deploy/examples/repository whose digits
// model is monitored (config.json: every sample, windows of 16; mlp is not),
// Predict traffic sent with the client library, and the real bnctl as a
// subprocess: drift (text, --json, --watch until SIGINT), recalibrate
// --stage, evaluate and predict --candidate, promote, discard, history.
// Every wait is for a count of served samples or printed updates, bounded
// only so that a hang fails the test.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "client/npy.h"
#include "client/tensor_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util/live_server.h"
#include "tests/test_util/subprocess_util.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kExamples = BNSERVE_EXAMPLES_DIR;
const std::string kData = kExamples + "/data/";
constexpr int kWindowSamples = 16;
constexpr int kReferenceWindows = 8;  // DriftConfig's default

// One server per test: promotions and candidates change what the next test
// would see.
class BnctlDriftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = testing::MakeTempDir("bnctl_drift_test");
    ASSERT_FALSE(scratch_.empty());
    const std::string repository = scratch_ + "/repository";
    fs::copy(kExamples + "/repository", repository, fs::copy_options::recursive);
    std::ofstream(repository + "/digits/config.json")
        << R"({"drift": {"sample_rate": 1.0, "window_samples": )" << kWindowSamples << "}}";
    server_ = std::make_unique<testing::LiveServer>(BNSERVE_BINARY, repository, scratch_ + "/bnserve.log",
                                                    std::vector<std::string>{"--drain-seconds", "1"});
    ASSERT_TRUE(server_->Start({}, "digits")) << testing::ReadWholeFile(scratch_ + "/bnserve.log");
    address_ = absl::StrCat("127.0.0.1:", server_->port());
    client::ClientOptions options;
    options.address = address_;
    client_ = std::make_unique<client::Client>(options);
    auto images = client::ReadNpyFloat(kData + "digits_test.npy");
    ASSERT_TRUE(images.ok()) << images.status();
    clean_ = *images;
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
    fs::remove_all(scratch_);
  }

  std::vector<std::string> BnctlArgs(std::vector<std::string> args) const {
    args.insert(args.begin(), {BNCTL_BINARY, "--server", address_, "--timeout", "60"});
    return args;
  }
  testing::CommandOutput Bnctl(std::vector<std::string> args) const {
    return testing::RunCommand(BnctlArgs(std::move(args)), scratch_);
  }
  json BnctlJson(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    testing::CommandOutput run = Bnctl(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    json parsed = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << run.out;
    return parsed;
  }

  // Predicts `samples` clean images on the served version, 8 per call (the
  // monitor sees only served-version predictions, so no pinning), starting
  // at image `first`.
  void SendTraffic(int64_t samples, int64_t first = 0) {
    const int64_t row = clean_.row_size();
    for (int64_t sent = 0; sent < samples; sent += 8) {
      const int64_t rows = std::min<int64_t>(8, samples - sent);
      const int64_t begin = (first + sent) % (clean_.rows() - 8);
      client::FloatArray batch{{rows, 1, 8, 8},
                               std::vector<float>(clean_.values.begin() + begin * row,
                                                  clean_.values.begin() + (begin + rows) * row)};
      v1::PredictRequest request;
      request.set_model("digits");
      *request.add_inputs() = client::ArrayToTensor(batch);
      auto response = client_->Predict(request);
      ASSERT_TRUE(response.ok()) << response.status();
    }
  }

  // The monitor's report once it processed every sample it took.
  v1::GetDriftResponse Drained() {
    v1::GetDriftRequest request;
    request.set_model("digits");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      auto drift = client_->GetDrift(request);
      EXPECT_TRUE(drift.ok()) << drift.status();
      if (!drift.ok()) return {};
      if (drift->samples_processed() + drift->samples_dropped() >= drift->samples_sampled()) return *drift;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the monitor did not catch up: " << drift->DebugString();
        return *drift;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::string scratch_;
  std::string address_;
  std::unique_ptr<testing::LiveServer> server_;
  std::unique_ptr<client::Client> client_;
  client::FloatArray clean_;
};

TEST_F(BnctlDriftTest, DriftShowsTheCalibratedAlarmAndEveryLayerOverTheWindows) {
  constexpr int64_t kSamples = 20 * kWindowSamples;
  SendTraffic(kSamples);
  const v1::GetDriftResponse served = Drained();
  EXPECT_EQ(served.samples_processed(), kSamples);

  const json drift = BnctlJson({"drift", "digits", "--windows", "64"});
  EXPECT_EQ(drift["model"], "digits");
  EXPECT_EQ(drift["statistics_version"], 1);
  EXPECT_EQ(drift["config"]["window_samples"], kWindowSamples);
  EXPECT_EQ(drift["samples_processed"], kSamples);
  EXPECT_EQ(drift["samples_dropped"], 0);
  EXPECT_EQ(drift["calibration"]["reference_windows"], kReferenceWindows);
  EXPECT_GT(drift["calibration"]["threshold"].get<double>(), 0.0);
  EXPECT_EQ(drift["alarm"], false) << drift["alarm_reason"];
  ASSERT_EQ(drift["windows"].size(), 20u);
  for (size_t i = 0; i < drift["windows"].size(); ++i) {
    const json& window = drift["windows"][i];
    EXPECT_EQ(window["index"], static_cast<int64_t>(i + 1));
    EXPECT_EQ(window["reference"], i < kReferenceWindows);
    EXPECT_EQ(window["samples"], kWindowSamples);
    ASSERT_EQ(window["layers"].size(), 3u);
    if (i >= kReferenceWindows) {
      EXPECT_GT(window["score"].get<double>(), 0.0);
    }
  }
  // --windows limits what is sent.
  EXPECT_EQ(BnctlJson({"drift", "digits", "--windows", "5"})["windows"].size(), 5u);

  const testing::CommandOutput text = Bnctl({"drift", "digits", "--windows", "64"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("digits: drift of statistics version 1 (policy monitoring, auto-adapt off)"));
  EXPECT_THAT(text.out, HasSubstr("alarm      off  "));
  EXPECT_THAT(text.out, HasSubstr("threshold  "));
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat(kSamples, " processed")));
  EXPECT_THAT(text.out, HasSubstr("last 20 windows"));
  // Each layer's row ends in its sparkline: 8 reference windows (·), then
  // 12 scored ones.
  for (const std::string layer : {"/bn1/BatchNormalization", "/bn2/BatchNormalization", "/bn3/BatchNormalization"}) {
    bool found = false;
    for (absl::string_view line : absl::StrSplit(text.out, '\n')) {
      if (!absl::StartsWith(line, layer)) continue;
      found = true;
      const std::vector<std::string> cells = absl::StrSplit(line, "  ", absl::SkipWhitespace());
      const std::string spark(absl::StripAsciiWhitespace(cells.back()));
      EXPECT_TRUE(absl::StartsWith(spark, "········")) << line;
      EXPECT_EQ(spark.find("·", std::string("········").size()), std::string::npos) << line;
    }
    EXPECT_TRUE(found) << layer << " missing from\n" << text.out;
  }
  EXPECT_THAT(text.out, HasSubstr("no staged candidates"));
  EXPECT_THAT(text.out, HasSubstr("reference"));  // the calibration's event
}

TEST_F(BnctlDriftTest, WatchPrintsEachUpdateUntilInterrupted) {
  const std::string out = scratch_ + "/watch.out";
  const std::string err = scratch_ + "/watch.err";
  const pid_t watch = testing::Spawn(BnctlArgs({"drift", "digits", "--watch", "--windows", "4"}), out, err);
  ASSERT_GT(watch, 0);
  // Traffic until the watch printed its first state and two later updates.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int64_t sent = 0;
  while (testing::ReadWholeFile(out).find("--- update 3") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << testing::ReadWholeFile(out) << testing::ReadWholeFile(err);
    SendTraffic(kWindowSamples, sent);
    sent += kWindowSamples;
  }
  ASSERT_EQ(kill(watch, SIGINT), 0);
  EXPECT_EQ(testing::WaitBounded(watch, std::chrono::seconds(30)), 0) << testing::ReadWholeFile(err);
  const std::string printed = testing::ReadWholeFile(out);
  EXPECT_THAT(printed, ::testing::StartsWith("--- update 1 at "));
  EXPECT_THAT(printed, HasSubstr("\n--- update 2 at "));
  EXPECT_EQ(printed.find("\x1b["), std::string::npos) << "no terminal control codes into a file";
  size_t headers = 0;
  for (size_t at = printed.find("digits: drift of"); at != std::string::npos;
       at = printed.find("digits: drift of", at + 1)) {
    ++headers;
  }
  EXPECT_GE(headers, 3u);
  EXPECT_EQ(testing::ReadWholeFile(err), "");

  // --json: one object per line. (A file of its own: the child truncates
  // its file only once it runs.)
  const std::string json_out = scratch_ + "/watch.jsonl";
  const pid_t json_watch = testing::Spawn(BnctlArgs({"--json", "drift", "digits", "--watch"}), json_out, err);
  ASSERT_GT(json_watch, 0);
  auto lines = [&] {
    std::vector<std::string> complete = absl::StrSplit(testing::ReadWholeFile(json_out), '\n');
    complete.pop_back();  // the part after the last newline
    return complete;
  };
  while (lines().size() < 2) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << testing::ReadWholeFile(err);
    SendTraffic(kWindowSamples, sent);
    sent += kWindowSamples;
  }
  ASSERT_EQ(kill(json_watch, SIGINT), 0);
  EXPECT_EQ(testing::WaitBounded(json_watch, std::chrono::seconds(30)), 0) << testing::ReadWholeFile(err);
  for (const std::string& line : lines()) {
    const json update = json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(update.is_discarded()) << line;
    EXPECT_EQ(update["model"], "digits");
  }
}

TEST_F(BnctlDriftTest, AModelWithoutMonitoringIsAClearError) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"drift", "mlp"}, std::vector<std::string>{"drift", "mlp", "--watch"}}) {
    const testing::CommandOutput run = Bnctl(args);
    EXPECT_EQ(run.exit_code, 1) << run.out;
    EXPECT_THAT(run.err, ::testing::StartsWith("error: FAILED_PRECONDITION: model 'mlp': drift monitoring is off"));
    EXPECT_THAT(run.err, HasSubstr("--drift-sample-rate"));
  }
  const testing::CommandOutput unknown = Bnctl({"drift", "no-such-model"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, ::testing::StartsWith("error: NOT_FOUND: "));
}

TEST_F(BnctlDriftTest, AStagedCandidateIsEvaluatedPromotedOrDiscarded) {
  const std::vector<std::string> stage = {"recalibrate", "digits", "--input", kData + "digits_shifted_calib.npy",
                                          "--batch-size", "32", "--mode", "cumulative", "--reset", "--stage"};
  const testing::CommandOutput staged = Bnctl(stage);
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_THAT(staged.out, HasSubstr("staged candidate 1 (not served)"));
  EXPECT_THAT(staged.out, HasSubstr("bnctl promote digits --candidate 1"));
  EXPECT_EQ(BnctlJson({"history", "digits"})["current_version"], 1);  // nothing committed

  // Shadowed on live traffic.
  SendTraffic(48);
  Drained();
  const json drift = BnctlJson({"drift", "digits"});
  ASSERT_EQ(drift["candidates"].size(), 1u);
  EXPECT_EQ(drift["candidates"][0]["candidate_id"], 1);
  EXPECT_EQ(drift["candidates"][0]["source"], "client");
  EXPECT_EQ(drift["candidates"][0]["mode"], "cumulative");
  EXPECT_EQ(drift["candidates"][0]["samples"], 300);
  EXPECT_EQ(drift["candidates"][0]["shadow"]["samples"], 48);
  EXPECT_THAT(Bnctl({"drift", "digits"}).out, HasSubstr("client"));

  // The A/B on labelled shifted images: the README's recalibrated accuracy
  // (296/300) from the candidate, while version 1 stays served.
  const std::vector<std::string> shifted = {"--input", kData + "digits_shifted_test.npy", "--labels",
                                            kData + "digits_shifted_test_labels.npy"};
  std::vector<std::string> evaluate = {"evaluate", "digits", "--candidate", "1"};
  evaluate.insert(evaluate.end(), shifted.begin(), shifted.end());
  const json candidate = BnctlJson(evaluate);
  EXPECT_EQ(candidate["candidate_id"], 1);
  EXPECT_EQ(candidate["statistics_version"], 1);
  EXPECT_NEAR(candidate["accuracy"].get<double>(), 0.987, 0.01);
  evaluate[2] = "--version";
  const json served = BnctlJson(evaluate);
  EXPECT_EQ(served["candidate_id"], nullptr);
  EXPECT_LT(served["accuracy"].get<double>(), 0.5);
  evaluate[2] = "--candidate";
  const testing::CommandOutput text = Bnctl(evaluate);
  EXPECT_THAT(text.out, ::testing::StartsWith("digits candidate 1 (from statistics version 1): accuracy 0.98"));
  const json predicted =
      BnctlJson({"predict", "digits", "--candidate", "1", "--input", kData + "digits_shifted_test.npy"});
  EXPECT_EQ(predicted["candidate_id"], 1);
  EXPECT_EQ(predicted["instances"].size(), 300u);
  EXPECT_EQ(Bnctl({"predict", "digits", "--candidate", "1", "--version", "1", "--values", "0"}).exit_code, 2);
  EXPECT_EQ(Bnctl({"evaluate", "digits", "--candidate", "9", "--input", kData + "digits_shifted_test.npy", "--labels",
                   kData + "digits_shifted_test_labels.npy"})
                .exit_code,
            1);

  // Promote: a version with origin "adapt" and the note.
  const testing::CommandOutput promoted = Bnctl({"promote", "digits", "--candidate", "1", "--note", "A/B: 0.987"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.err;
  EXPECT_EQ(promoted.out, "digits: candidate 1 committed as version 2 (now served)\n");
  const json history = BnctlJson({"history", "digits"});
  EXPECT_EQ(history["current_version"], 2);
  EXPECT_EQ(history["versions"].back()["origin"], "adapt");
  EXPECT_EQ(history["versions"].back()["mode"], "cumulative");
  EXPECT_EQ(history["versions"].back()["note"], "A/B: 0.987");
  EXPECT_THAT(Bnctl({"history", "digits"}).out, HasSubstr("adapt"));
  const json now = BnctlJson({"evaluate", "digits", "--input", kData + "digits_shifted_test.npy", "--labels",
                              kData + "digits_shifted_test_labels.npy"});
  EXPECT_EQ(now["statistics_version"], 2);
  EXPECT_EQ(now["accuracy"], candidate["accuracy"]);

  // Discard: gone from drift, and a second discard names it.
  const json second = [&] {
    std::vector<std::string> args = stage;
    args.insert(args.begin(), "--json");
    const testing::CommandOutput run = Bnctl(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return json::parse(run.out, nullptr, false);
  }();
  const int64_t id = second["candidate_id"].get<int64_t>();
  EXPECT_EQ(id, 2);
  EXPECT_EQ(second["new_version"], nullptr);
  EXPECT_EQ(BnctlJson({"drift", "digits"})["candidates"].size(), 1u);
  const json discarded = BnctlJson({"discard", "digits", "--candidate", absl::StrCat(id)});
  EXPECT_EQ(discarded["discarded"], true);
  EXPECT_EQ(BnctlJson({"drift", "digits"})["candidates"].size(), 0u);
  const testing::CommandOutput again = Bnctl({"discard", "digits", "--candidate", absl::StrCat(id)});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, ::testing::StartsWith("error: NOT_FOUND: "));
  EXPECT_THAT(again.err, HasSubstr(absl::StrCat(id)));

  // --stage takes neither --dry-run nor --request-id.
  std::vector<std::string> dry = stage;
  dry.push_back("--dry-run");
  EXPECT_EQ(Bnctl(dry).exit_code, 2);
}

}  // namespace
}  // namespace bnserve
