// End to end: the real bnserve binary on a free loopback port, serving a
// temporary copy of deploy/examples/repository, driven by the real bnctl
// binary as a subprocess. Checks bnctl's --json output against the core
// engine run in-process on the same model files and data, plus exit codes
// and error lines.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "client/file_bytes.h"
#include "client/npy.h"
#include "core/engine/inference_plan.h"
#include "core/model/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util/live_server.h"
#include "tests/test_util/subprocess_util.h"
#include "tests/test_util/test_certs.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kExamples = BNSERVE_EXAMPLES_DIR;
const std::string kData = kExamples + "/data/";

// Health SERVING and every example model AVAILABLE, asked through a client
// with `probe_options` (TLS, token) at `host`:<port>: LiveServer's readiness.
std::function<bool(int)> ServingProbe(std::string host, client::ClientOptions probe_options) {
  probe_options.timeout = absl::Seconds(2);
  return [host = std::move(host), probe_options](int port) mutable {
    probe_options.address = absl::StrCat(host, ":", port);
    client::Client probe(probe_options);
    auto health = probe.CheckHealth("");
    auto models = probe.ListModels();
    if (!health.ok() || *health != "SERVING" || !models.ok() || models->models_size() < 2) return false;
    for (const auto& m : models->models()) {
      if (m.state() != v1::MODEL_STATE_AVAILABLE) return false;
    }
    return true;
  };
}

// One server for the whole suite (starting it per test would dominate the
// run time); tests that change state pin versions or measure relative to
// what they found, so their order does not matter.
class BnctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new std::string(testing::MakeTempDir("bnctl_test"));
    ASSERT_FALSE(scratch_->empty());
    const std::string repository = *scratch_ + "/repository";
    fs::copy(kExamples + "/repository", repository, fs::copy_options::recursive);
    auto server = std::make_unique<testing::LiveServer>(BNSERVE_BINARY, repository, *scratch_ + "/bnserve.log",
                                                        std::vector<std::string>{"--drain-seconds", "1"});
    if (server->Start({}, ServingProbe("127.0.0.1", {}))) {
      address_ = new std::string(absl::StrCat("127.0.0.1:", server->port()));
      server_ = server.release();
    }
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) server_->Stop();  // a graceful drain, as in production
    delete server_;
    server_ = nullptr;
    if (scratch_ != nullptr) fs::remove_all(*scratch_);
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "bnserve did not become ready; its output:\n"
                                << testing::ReadWholeFile(*scratch_ + "/bnserve.log");
  }

  // bnctl --server <ours> ARGS...
  static testing::CommandOutput Bnctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BNCTL_BINARY, "--server", *address_, "--timeout", "60"});
    return testing::RunCommand(args, *scratch_);
  }

  // bnctl --json ARGS...; fails the test unless it exits 0 with JSON.
  static json BnctlJson(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    testing::CommandOutput run = Bnctl(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    json parsed = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << run.out;
    return parsed;
  }

  static std::string Scratch(const std::string& name) { return *scratch_ + "/" + name; }

  static std::string* scratch_;
  static std::string* address_;
  static testing::LiveServer* server_;
};

std::string* BnctlTest::scratch_ = nullptr;
std::string* BnctlTest::address_ = nullptr;
testing::LiveServer* BnctlTest::server_ = nullptr;

std::shared_ptr<const Model> LoadExampleModel(const std::string& name) {
  auto model = Model::LoadFromFile(kExamples + "/repository/" + name + "/model.onnx");
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

// The engine's output for `data` with the statistics stored in the file.
std::vector<float> EngineOutputs(const std::shared_ptr<const Model>& model, const client::FloatArray& data) {
  auto plan = InferencePlan::Build(model, model->file_stats());
  EXPECT_TRUE(plan.ok()) << plan.status();
  auto shape = Shape::FromDims(data.shape);
  EXPECT_TRUE(shape.ok()) << shape.status();
  TensorView view{*shape, data.values.data()};
  auto outputs = (*plan)->Run(absl::MakeConstSpan(&view, 1));
  EXPECT_TRUE(outputs.ok()) << outputs.status();
  return outputs.ok() ? (*outputs)[0].ToVector() : std::vector<float>{};
}

client::FloatArray ReadFloats(const std::string& path) {
  auto array = client::ReadNpyFloat(path);
  EXPECT_TRUE(array.ok()) << array.status();
  return array.ok() ? *array : client::FloatArray{};
}

// The first `rows` instances of `array`.
client::FloatArray Head(const client::FloatArray& array, int64_t rows) {
  client::FloatArray head = array;
  head.shape[0] = rows;
  head.values.resize(static_cast<size_t>(rows * array.row_size()));
  return head;
}

void ExpectNear(const json& actual, const std::vector<float>& expected, double tolerance, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(actual[i].get<double>(), expected[i], tolerance * (1 + std::abs(expected[i])))
        << what << "[" << i << "]";
  }
}

TEST_F(BnctlTest, ModelsListsTheExampleRepository) {
  json models = BnctlJson({"models"});
  EXPECT_GT(models["max_message_bytes"].get<int64_t>(), 0);
  std::vector<std::string> names;
  for (const auto& m : models["models"]) {
    names.push_back(m["name"]);
    EXPECT_EQ(m["state"], "available") << m;
    EXPECT_GE(m["statistics_version"].get<int64_t>(), 1) << m;
    EXPECT_EQ(m["error"], "") << m;
  }
  EXPECT_THAT(names, ::testing::ElementsAre("digits", "mlp"));
}

TEST_F(BnctlTest, DescribeMatchesTheEngineView) {
  json d = BnctlJson({"describe", "digits"});
  EXPECT_EQ(d["name"], "digits");
  EXPECT_EQ(d["state"], "available");
  ASSERT_EQ(d["inputs"].size(), 1u);
  EXPECT_EQ(d["inputs"][0]["name"], "input");
  EXPECT_EQ(d["inputs"][0]["shape"], json({-1, 1, 8, 8}));
  EXPECT_EQ(d["outputs"][0]["name"], "output");
  EXPECT_EQ(d["opset"], 13);
  EXPECT_GE(d["current_version"]["version"].get<int64_t>(), 1);
  auto model = LoadExampleModel("digits");
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(d["bn_layers"].size(), model->bn_layers().size());
  for (size_t i = 0; i < model->bn_layers().size(); ++i) {
    const auto& layer = model->bn_layers()[i];
    const json& j = d["bn_layers"][i];
    EXPECT_EQ(j["name"], layer.name);
    EXPECT_EQ(j["channels"], layer.channels);
    EXPECT_DOUBLE_EQ(j["epsilon"].get<double>(), layer.epsilon);
    EXPECT_EQ(j["cumulative"], !layer.torch_momentum.has_value());
    if (layer.torch_momentum) {
      EXPECT_DOUBLE_EQ(j["momentum"].get<double>(), *layer.torch_momentum);
    }
    EXPECT_EQ(j["input"], layer.input_name);
  }
}

TEST_F(BnctlTest, HealthOfServerAndModels) {
  EXPECT_EQ(BnctlJson({"health"})["status"], "SERVING");
  json digits = BnctlJson({"health", "digits"});
  EXPECT_EQ(digits["service"], "digits");
  EXPECT_EQ(digits["status"], "SERVING");
  EXPECT_NE(Bnctl({"health", "no-such-model"}).exit_code, 0);
}

TEST_F(BnctlTest, PredictFromNpyEqualsTheEngine) {
  // 37 instances in batches of 8: five requests, the last one partial.
  const client::FloatArray data = Head(ReadFloats(kData + "digits_shifted_test.npy"), 37);
  ASSERT_TRUE(client::WriteFileBytes(Scratch("predict37.npy"), client::SerializeNpy(data)).ok());
  json p = BnctlJson({"predict", "digits", "--input", Scratch("predict37.npy"), "--batch-size", "8", "--version", "1"});
  EXPECT_EQ(p["statistics_version"], 1);
  EXPECT_EQ(p["classifier"], true);
  ASSERT_EQ(p["instances"].size(), 37u);
  const std::vector<float> expected = EngineOutputs(LoadExampleModel("digits"), data);
  ASSERT_EQ(expected.size(), 37u * 10);
  for (int i = 0; i < 37; ++i) {
    const json& instance = p["instances"][i];
    EXPECT_EQ(instance["index"], i);
    std::vector<float> row(expected.begin() + 10 * i, expected.begin() + 10 * (i + 1));
    ExpectNear(instance["output"], row, 1e-5, absl::StrCat("instance ", i));
    const int64_t argmax = std::max_element(row.begin(), row.end()) - row.begin();
    EXPECT_EQ(instance["class"], argmax) << "instance " << i;
    EXPECT_GT(instance["probability"].get<double>(), 0.1);
    EXPECT_LE(instance["probability"].get<double>(), 1.0);
  }
}

TEST_F(BnctlTest, PredictFromCsvAndValuesEqualsTheEngine) {
  // A CSV of 64 columns with a header row is reshaped to [N,1,8,8].
  const client::FloatArray data = Head(ReadFloats(kData + "digits_test.npy"), 5);
  std::string csv;
  for (int c = 0; c < 64; ++c) absl::StrAppend(&csv, c ? "," : "", "p", c);
  csv += "\n";
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 64; ++c) absl::StrAppend(&csv, c ? "," : "", absl::StrFormat("%.9g", data.values[r * 64 + c]));
    csv += "\n";
  }
  ASSERT_TRUE(client::WriteFileBytes(Scratch("five.csv"), csv).ok());
  json p = BnctlJson({"predict", "digits", "--input", Scratch("five.csv"), "--version", "1"});
  const std::vector<float> expected = EngineOutputs(LoadExampleModel("digits"), data);
  ASSERT_EQ(p["instances"].size(), 5u);
  for (int i = 0; i < 5; ++i) {
    ExpectNear(p["instances"][i]["output"], {expected.begin() + 10 * i, expected.begin() + 10 * (i + 1)}, 1e-5,
               absl::StrCat("csv instance ", i));
  }

  // One mlp instance from --values.
  const client::FloatArray one{{1, 8}, {0.3f, -1.2f, 0.05f, 2.0f, -0.7f, 0.9f, 1.1f, -0.25f}};
  json m = BnctlJson({"predict", "mlp", "--values", "0.3,-1.2,0.05,2.0,-0.7,0.9,1.1,-0.25", "--version", "1"});
  ASSERT_EQ(m["instances"].size(), 1u);
  ExpectNear(m["instances"][0]["output"], EngineOutputs(LoadExampleModel("mlp"), one), 1e-5, "mlp --values");
}

TEST_F(BnctlTest, EvaluateMatchesAccuracyComputedWithTheEngine) {
  const client::FloatArray images = ReadFloats(kData + "digits_test.npy");
  auto labels = client::ReadNpyLabels(kData + "digits_test_labels.npy");
  ASSERT_TRUE(labels.ok()) << labels.status();
  const std::vector<float> logits = EngineOutputs(LoadExampleModel("digits"), images);
  ASSERT_EQ(logits.size(), labels->values.size() * 10);
  int64_t correct = 0;
  double cross_entropy = 0;
  for (size_t i = 0; i < labels->values.size(); ++i) {
    const float* row = logits.data() + 10 * i;
    const int64_t argmax = std::max_element(row, row + 10) - row;
    correct += argmax == labels->values[i];
    double sum = 0;  // naive log-softmax: these logits are small
    for (int k = 0; k < 10; ++k) sum += std::exp(static_cast<double>(row[k]));
    cross_entropy += std::log(sum) - row[labels->values[i]];
  }
  json e = BnctlJson({"evaluate", "digits", "--input", kData + "digits_test.npy", "--labels",
                      kData + "digits_test_labels.npy", "--version", "1", "--batch-size", "128"});
  EXPECT_EQ(e["samples"], 600);
  EXPECT_EQ(e["correct"], correct);
  EXPECT_DOUBLE_EQ(e["accuracy"].get<double>(), static_cast<double>(correct) / 600);
  EXPECT_NEAR(e["mean_cross_entropy"].get<double>(), cross_entropy / 600, 1e-5);
}

TEST_F(BnctlTest, StatsOfVersionOneAreTheFileStatistics) {
  auto model = LoadExampleModel("digits");
  ASSERT_NE(model, nullptr);
  json s = BnctlJson({"stats", "digits", "--version", "1"});
  EXPECT_EQ(s["version"]["version"], 1);
  EXPECT_EQ(s["version"]["origin"], "onnx");
  ASSERT_EQ(s["layers"].size(), model->bn_layers().size());
  for (size_t l = 0; l < model->bn_layers().size(); ++l) {
    const LayerStats& stats = model->file_stats()->layers[l];
    const json& layer = s["layers"][l];
    EXPECT_EQ(layer["name"], model->bn_layers()[l].name);
    ASSERT_EQ(layer["mean"].size(), stats.mean.size());
    for (size_t c = 0; c < stats.mean.size(); ++c) {
      EXPECT_DOUBLE_EQ(layer["mean"][c].get<double>(), stats.mean[c]);
      EXPECT_DOUBLE_EQ(layer["var"][c].get<double>(), stats.var[c]);
    }
  }
  const std::string bn2 = model->bn_layers()[1].name;
  json only = BnctlJson({"stats", "digits", "--version", "1", "--layer", bn2});
  ASSERT_EQ(only["layers"].size(), 1u);
  EXPECT_EQ(only["layers"][0]["name"], bn2);

  testing::CommandOutput unknown = Bnctl({"stats", "digits", "--layer", "no-such-layer"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, ::testing::StartsWith("error: NOT_FOUND: "));

  // The human views render.
  testing::CommandOutput table = Bnctl({"stats", "digits"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("bn3"));
  testing::CommandOutput plot = Bnctl({"stats", "digits", "--plot", "--layer", model->bn_layers()[0].name});
  EXPECT_EQ(plot.exit_code, 0) << plot.err;
  EXPECT_THAT(plot.out, HasSubstr("█"));
}

TEST_F(BnctlTest, BatchStatsPutsTheMostDriftedLayerFirst) {
  json b = BnctlJson({"batch-stats", "digits", "--input", kData + "digits_shifted_calib.npy", "--version", "1"});
  EXPECT_EQ(b["samples"], 300);
  EXPECT_EQ(b["forward_mode"], "train");
  EXPECT_EQ(b["statistics_version"], 1);
  ASSERT_EQ(b["layers"].size(), 3u);
  for (size_t i = 1; i < b["layers"].size(); ++i) {
    EXPECT_GE(b["layers"][i - 1]["mean_kl"].get<double>(), b["layers"][i]["mean_kl"].get<double>());
  }
  // The first conv (3x3, no padding) sees the brightness shift directly:
  // bn1 leads, and its count is 300 images x 6x6 positions.
  EXPECT_THAT(b["layers"][0]["name"].get<std::string>(), HasSubstr("bn1"));
  EXPECT_EQ(b["layers"][0]["count"], 300 * 6 * 6);
  for (const auto& layer : b["layers"]) {
    EXPECT_EQ(layer["kl"].size(), layer["mean"].size());
    EXPECT_EQ(layer["mean_shift"].size(), layer["mean"].size());
  }
  testing::CommandOutput plot =
      Bnctl({"batch-stats", "digits", "--input", kData + "digits_shifted_calib.npy", "--plot", "--forward", "eval"});
  EXPECT_EQ(plot.exit_code, 0) << plot.err;
  EXPECT_THAT(plot.out, HasSubstr("bn1"));
}

TEST_F(BnctlTest, MomentsEqualNaiveFloat64Loops) {
  client::FloatArray x{{3, 5, 2}, {}};
  for (int i = 0; i < 30; ++i) x.values.push_back(std::sin(1.7f * i) * 3 + 0.1f * i);
  ASSERT_TRUE(client::WriteFileBytes(Scratch("moments.npy"), client::SerializeNpy(x)).ok());
  json m = BnctlJson({"moments", "--input", Scratch("moments.npy"), "--axes", "0,2"});
  EXPECT_EQ(m["shape"], json({5}));
  for (int c = 0; c < 5; ++c) {
    double sum = 0;
    for (int n = 0; n < 3; ++n) {
      for (int k = 0; k < 2; ++k) sum += x.values[n * 10 + c * 2 + k];
    }
    const double mean = sum / 6;
    double m2 = 0;
    for (int n = 0; n < 3; ++n) {
      for (int k = 0; k < 2; ++k) m2 += std::pow(x.values[n * 10 + c * 2 + k] - mean, 2);
    }
    EXPECT_NEAR(m["mean"][c].get<double>(), mean, 1e-12) << "channel " << c;
    EXPECT_NEAR(m["variance"][c].get<double>(), m2 / 6, 1e-12) << "channel " << c;
  }
  EXPECT_EQ(BnctlJson({"moments", "--input", Scratch("moments.npy"), "--axes", "0,2", "--keep-dims"})["shape"],
            json({1, 5, 1}));
}

// History, dry run, commit, stale expected version and rollback, in one
// sequence on the digits model (the numbers are PyTorch's update_bn).
TEST_F(BnctlTest, RecalibrateDryRunCommitAndRollback) {
  const std::string calib = kData + "digits_shifted_calib.npy";
  json before = BnctlJson({"history", "digits"});
  const int64_t base = before["current_version"];
  const size_t length = before["versions"].size();
  json base_stats = BnctlJson({"stats", "digits"});

  json dry = BnctlJson({"recalibrate", "digits", "--input", calib, "--batch-size", "32", "--mode", "cumulative",
                        "--reset", "--dry-run"});
  EXPECT_EQ(dry["dry_run"], true);
  EXPECT_TRUE(dry["new_version"].is_null());
  EXPECT_EQ(dry["batches"], 10);
  EXPECT_EQ(dry["samples"], 300);
  EXPECT_EQ(BnctlJson({"history", "digits"}), before);
  EXPECT_EQ(BnctlJson({"stats", "digits"})["layers"], base_stats["layers"]);

  json done = BnctlJson({"recalibrate", "digits", "--input", calib, "--batch-size", "32", "--mode", "cumulative",
                         "--reset", "--expect-version", std::to_string(base)});
  EXPECT_EQ(done["base_version"], base);
  ASSERT_TRUE(done["new_version"].is_object()) << done;
  const int64_t recalibrated = done["new_version"]["version"];
  EXPECT_GT(recalibrated, base);
  EXPECT_EQ(done["new_version"]["origin"], "recalibrate");
  EXPECT_EQ(done["new_version"]["mode"], "cumulative");
  ASSERT_EQ(done["layers"].size(), 3u);
  for (const auto& layer : done["layers"]) {
    EXPECT_EQ(layer["updated"], true);
    EXPECT_GT(layer["mean_shift_rms"].get<double>(), 0.0) << layer;
  }
  json after = BnctlJson({"history", "digits"});
  EXPECT_EQ(after["versions"].size(), length + 1);
  EXPECT_EQ(after["current_version"], recalibrated);

  // The new statistics are PyTorch's update_bn on the same batches.
  json expected = json::parse(testing::ReadWholeFile(kData + "digits_expected.json"));
  json stats = BnctlJson({"stats", "digits"});
  EXPECT_EQ(stats["version"]["version"], recalibrated);
  for (size_t l = 0; l < 3; ++l) {
    const json& reference = expected["update_bn"][l];
    const json& layer = stats["layers"][l];
    // PyTorch module "bn1" is ONNX node "/bn1/BatchNormalization".
    EXPECT_THAT(layer["name"].get<std::string>(), HasSubstr(reference["module"].get<std::string>()));
    EXPECT_EQ(layer["num_batches_tracked"], reference["num_batches_tracked"]);
    for (size_t c = 0; c < reference["running_mean"].size(); ++c) {
      EXPECT_NEAR(layer["mean"][c].get<double>(), reference["running_mean"][c].get<double>(), 1e-4) << l << "," << c;
      EXPECT_NEAR(layer["var"][c].get<double>(), reference["running_var"][c].get<double>(), 1e-4) << l << "," << c;
    }
  }

  // A stale --expect-version is refused and commits nothing.
  testing::CommandOutput stale = Bnctl(
      {"recalibrate", "digits", "--input", calib, "--batch-size", "32", "--expect-version", std::to_string(base)});
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_THAT(stale.err, ::testing::StartsWith("error: ABORTED: "));
  EXPECT_EQ(BnctlJson({"history", "digits"})["versions"].size(), length + 1);

  json rollback = BnctlJson({"rollback", "digits", "--to", std::to_string(base)});
  EXPECT_EQ(rollback["new_version"]["origin"], "rollback");
  EXPECT_GT(rollback["new_version"]["version"].get<int64_t>(), recalibrated);
  json restored = BnctlJson({"stats", "digits"});
  EXPECT_EQ(restored["layers"].size(), base_stats["layers"].size());
  for (size_t l = 0; l < restored["layers"].size(); ++l) {
    EXPECT_EQ(restored["layers"][l]["mean"], base_stats["layers"][l]["mean"]);
    EXPECT_EQ(restored["layers"][l]["var"], base_stats["layers"][l]["var"]);
  }
  EXPECT_EQ(BnctlJson({"history", "digits"})["versions"].size(), length + 2);
}

TEST_F(BnctlTest, RecalibrateWithARequestIdIsAppliedOnce) {
  const std::string calib = kData + "digits_shifted_calib.npy";
  const std::vector<std::string> args = {"recalibrate",  "digits", "--input",      calib,
                                         "--batch-size", "64",     "--request-id", "bnctl-test-once"};
  const size_t length = BnctlJson({"history", "digits"})["versions"].size();
  json first = BnctlJson(args);
  ASSERT_TRUE(first["new_version"].is_object()) << first;
  EXPECT_EQ(first["deduplicated"], false);
  EXPECT_EQ(first["new_version"]["request_id"], "bnctl-test-once");

  // Running the same command again (a manual retry) commits nothing.
  testing::CommandOutput again = Bnctl(args);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("request bnctl-test-once was already committed as version " +
                                   std::to_string(first["new_version"]["version"].get<int64_t>())));
  json history = BnctlJson({"history", "digits"});
  EXPECT_EQ(history["versions"].size(), length + 1);
  EXPECT_EQ(history["versions"].back()["request_id"], "bnctl-test-once");

  // The same key with other data is refused.
  std::vector<std::string> other = args;
  other[5] = "32";
  testing::CommandOutput refused = Bnctl(other);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, ::testing::StartsWith("error: ALREADY_EXISTS: "));

  // Without --request-id every run is a new recalibration with a fresh key.
  json fresh = BnctlJson({"recalibrate", "digits", "--input", calib, "--batch-size", "64"});
  EXPECT_EQ(fresh["deduplicated"], false);
  EXPECT_EQ(fresh["new_version"]["request_id"].get<std::string>().size(), 36u);
  EXPECT_EQ(BnctlJson({"history", "digits"})["versions"].size(), length + 2);
}

// --mode prior / alpha with their parameters (bn-semantics §12): prior
// strength 0 is the pooled statistics of the stream alone (what exact
// --reset computes), alpha 1 keeps the served statistics; the history records
// the mode and bnctl's note the parameter.
TEST_F(BnctlTest, RecalibrateWithThePriorAndAlphaModes) {
  const std::string calib = kData + "digits_shifted_calib.npy";
  const std::vector<std::string> base_args = {"recalibrate", "digits", "--input", calib, "--batch-size", "32"};
  auto with = [&base_args](std::vector<std::string> more) {
    std::vector<std::string> args = base_args;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  json exact = BnctlJson(with({"--mode", "exact", "--reset"}));
  ASSERT_TRUE(exact["new_version"].is_object()) << exact;
  const json exact_stats = BnctlJson({"stats", "digits"})["layers"];

  testing::CommandOutput prior = Bnctl(with({"--mode", "prior", "--prior-strength", "0"}));
  ASSERT_EQ(prior.exit_code, 0) << prior.err;
  EXPECT_THAT(prior.out, HasSubstr("digits: prior recalibration (prior strength 0) over 10 batches, 300 samples"));
  json history = BnctlJson({"history", "digits"});
  EXPECT_EQ(history["versions"].back()["mode"], "prior");
  EXPECT_EQ(history["versions"].back()["note"], "bnctl recalibrate --input " + calib + ", prior strength 0");
  const json prior_stats = BnctlJson({"stats", "digits"})["layers"];
  ASSERT_EQ(prior_stats.size(), exact_stats.size());
  for (size_t l = 0; l < prior_stats.size(); ++l) {
    EXPECT_EQ(prior_stats[l]["mean"], exact_stats[l]["mean"]) << l;
    EXPECT_EQ(prior_stats[l]["var"], exact_stats[l]["var"]) << l;
    EXPECT_EQ(prior_stats[l]["num_batches_tracked"], exact_stats[l]["num_batches_tracked"].get<int64_t>() + 10) << l;
  }

  json alpha = BnctlJson(with({"--mode", "alpha", "--alpha", "1"}));
  EXPECT_EQ(alpha["new_version"]["mode"], "alpha");
  EXPECT_EQ(BnctlJson({"history", "digits"})["versions"].back()["note"],
            "bnctl recalibrate --input " + calib + ", alpha 1");
  const json alpha_stats = BnctlJson({"stats", "digits"})["layers"];
  for (size_t l = 0; l < alpha_stats.size(); ++l) {
    EXPECT_EQ(alpha_stats[l]["mean"], prior_stats[l]["mean"]) << l;
    EXPECT_EQ(alpha_stats[l]["var"], prior_stats[l]["var"]) << l;
  }

  // Out of range: refused by bnctl itself; a bad combination by the server,
  // naming the field. Both exit 2 and commit nothing.
  const size_t length = BnctlJson({"history", "digits"})["versions"].size();
  EXPECT_EQ(Bnctl(with({"--mode", "alpha", "--alpha", "1.5"})).exit_code, 2);
  EXPECT_EQ(Bnctl(with({"--mode", "prior", "--prior-strength", "-1"})).exit_code, 2);
  testing::CommandOutput reset = Bnctl(with({"--mode", "prior", "--reset"}));
  EXPECT_EQ(reset.exit_code, 2);
  EXPECT_THAT(reset.err, HasSubstr("INVALID_ARGUMENT: config.reset: expected false with mode prior"));
  testing::CommandOutput other_mode = Bnctl(with({"--mode", "ema", "--alpha", "0.5"}));
  EXPECT_EQ(other_mode.exit_code, 2);
  EXPECT_THAT(other_mode.err, HasSubstr("config.alpha: expected only with mode alpha, got it with mode ema"));
  EXPECT_EQ(BnctlJson({"history", "digits"})["versions"].size(), length);
}

TEST_F(BnctlTest, ExportWritesALoadableOnnxWithTheVersionStatistics) {
  const std::string path = Scratch("digits_v1.onnx");
  json e = BnctlJson({"export", "digits", "--version", "1", "-o", path});
  EXPECT_EQ(e["statistics_version"], 1);
  EXPECT_EQ(e["path"], path);
  EXPECT_EQ(e["bytes"].get<uint64_t>(), fs::file_size(path));
  auto exported = Model::LoadFromFile(path);
  ASSERT_TRUE(exported.ok()) << exported.status();
  auto original = LoadExampleModel("digits");
  ASSERT_NE(original, nullptr);
  ASSERT_EQ((*exported)->file_stats()->layers.size(), original->file_stats()->layers.size());
  for (size_t l = 0; l < original->file_stats()->layers.size(); ++l) {
    // Written as float32, as the file had them.
    EXPECT_EQ((*exported)->file_stats()->layers[l].mean, original->file_stats()->layers[l].mean) << l;
    EXPECT_EQ((*exported)->file_stats()->layers[l].var, original->file_stats()->layers[l].var) << l;
  }
}

TEST_F(BnctlTest, BadInputFilesFailWithAMessageNamingTheFile) {
  ASSERT_TRUE(client::WriteFileBytes(Scratch("garbage.npy"), "this is not numpy").ok());
  testing::CommandOutput garbage = Bnctl({"predict", "digits", "--input", Scratch("garbage.npy")});
  EXPECT_EQ(garbage.exit_code, 2);
  EXPECT_THAT(garbage.err, HasSubstr(Scratch("garbage.npy")));

  testing::CommandOutput missing =
      Bnctl({"evaluate", "digits", "--input", Scratch("missing.npy"), "--labels", kData + "digits_test_labels.npy"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr(Scratch("missing.npy")));

  ASSERT_TRUE(client::WriteFileBytes(Scratch("bad.csv"), "1,2,3\n4,oops,6\n").ok());
  testing::CommandOutput bad_cell = Bnctl({"predict", "mlp", "--input", Scratch("bad.csv")});
  EXPECT_EQ(bad_cell.exit_code, 2);
  EXPECT_THAT(bad_cell.err, HasSubstr("bad.csv: line 2, column 2"));

  ASSERT_TRUE(client::WriteFileBytes(Scratch("narrow.csv"), "1,2,3\n4,5,6\n").ok());
  testing::CommandOutput narrow = Bnctl({"recalibrate", "mlp", "--input", Scratch("narrow.csv"), "--batch-size", "2"});
  EXPECT_EQ(narrow.exit_code, 2);
  EXPECT_THAT(narrow.err, HasSubstr("narrow.csv: data of shape [2,3] does not fit model input"));

  testing::CommandOutput labels = Bnctl({"evaluate", "digits", "--input", kData + "digits_test.npy", "--labels",
                                         kData + "digits_shifted_test_labels.npy"});
  EXPECT_EQ(labels.exit_code, 2);
  EXPECT_THAT(labels.err, HasSubstr("300 labels for 600 instances"));

  for (const auto* run : {&garbage, &missing, &bad_cell, &narrow, &labels}) {
    EXPECT_THAT(run->err, ::testing::StartsWith("error: "));
    EXPECT_EQ(std::count(run->err.begin(), run->err.end(), '\n'), 1) << run->err;
  }
}

TEST_F(BnctlTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(Bnctl({"predict"}).exit_code, 2);
  EXPECT_EQ(Bnctl({"recalibrate", "digits", "--input", kData + "digits_test.npy"}).exit_code, 2);  // no batch size
  EXPECT_EQ(Bnctl({"batch-stats", "digits", "--input", "x.npy", "--forward", "sideways"}).exit_code, 2);
  EXPECT_EQ(Bnctl({"predict", "mlp", "--values", "1,2"}).exit_code, 2);  // 2 values for 8 features
}

// A second bnserve with mutual TLS, tokens and --read-auth token, driven by
// bnctl with its --tls-* and --token* options.
constexpr char kAdminToken[] = "bnctl-admin-2f4e6a8c0b1d3f5a7c9e1b3d5f7a9c0e";
constexpr char kReadToken[] = "bnctl-read-8d6b4f2a0e9c7a5b3d1f0e8c6a4b2d9f";

class BnctlSecureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new std::string(testing::MakeTempDir("bnctl_secure_test"));
    ASSERT_FALSE(scratch_->empty());
    certs_ = new testing::TestCerts(testing::MakeTestCerts(*scratch_));
    if (!certs_->error.empty()) return;
    const std::string repository = *scratch_ + "/repository";
    fs::copy(kExamples + "/repository", repository, fs::copy_options::recursive);
    const std::string tokens = *scratch_ + "/tokens.txt";
    std::ofstream(tokens) << "# bnctl_test\nadmin " << kAdminToken << "\nread " << kReadToken << "\n";
    fs::permissions(tokens, fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream(*scratch_ + "/admin.token") << kAdminToken << "\n";
    auto server = std::make_unique<testing::LiveServer>(
        BNSERVE_BINARY, repository, *scratch_ + "/bnserve.log",
        std::vector<std::string>{"--drain-seconds", "1", "--tls-cert", certs_->server_cert, "--tls-key",
                                 certs_->server_key, "--tls-client-ca", certs_->ca, "--token-file", tokens,
                                 "--read-auth", "token"});
    client::ClientOptions probe;
    probe.use_tls = true;
    probe.tls_root_certs_pem = testing::ReadWholeFile(certs_->ca);
    probe.tls_client_cert_pem = testing::ReadWholeFile(certs_->client_cert);
    probe.tls_client_key_pem = testing::ReadWholeFile(certs_->client_key);
    probe.bearer_token = kReadToken;
    // By name: the certificate is for localhost (and 127.0.0.1).
    if (server->Start({}, ServingProbe("localhost", probe))) {
      address_ = new std::string(absl::StrCat("localhost:", server->port()));
      server_ = server.release();
    }
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) server_->Stop();  // a graceful drain, as in production
    delete server_;
    server_ = nullptr;
    delete certs_;
    certs_ = nullptr;
    if (scratch_ != nullptr) fs::remove_all(*scratch_);
  }

  void SetUp() override {
    ASSERT_TRUE(certs_->error.empty()) << certs_->error;
    ASSERT_NE(server_, nullptr) << "bnserve did not become ready; its output:\n"
                                << testing::ReadWholeFile(*scratch_ + "/bnserve.log");
  }

  // bnctl --server <ours> [mutual TLS options] ARGS...
  static testing::CommandOutput Bnctl(std::vector<std::string> args, bool with_client_certificate = true) {
    std::vector<std::string> argv = {BNCTL_BINARY, "--server", *address_, "--timeout", "30", "--tls-ca", certs_->ca};
    if (with_client_certificate) {
      argv.insert(argv.end(), {"--tls-cert", certs_->client_cert, "--tls-key", certs_->client_key});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunCommand(argv, *scratch_);
  }

  static std::string* scratch_;
  static std::string* address_;
  static testing::TestCerts* certs_;
  static testing::LiveServer* server_;
};

std::string* BnctlSecureTest::scratch_ = nullptr;
std::string* BnctlSecureTest::address_ = nullptr;
testing::TestCerts* BnctlSecureTest::certs_ = nullptr;
testing::LiveServer* BnctlSecureTest::server_ = nullptr;

TEST_F(BnctlSecureTest, ReadTokenListsModelsOverMutualTls) {
  testing::CommandOutput run = Bnctl({"--json", "--token", kReadToken, "models"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json models = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(models.is_discarded()) << run.out;
  std::vector<std::string> names;
  for (const auto& m : models["models"]) names.push_back(m["name"]);
  EXPECT_THAT(names, ::testing::ElementsAre("digits", "mlp"));
}

TEST_F(BnctlSecureTest, WithoutATokenReadsAreRefusedButHealthIsOpen) {
  testing::CommandOutput models = Bnctl({"models"});
  EXPECT_EQ(models.exit_code, 1);
  EXPECT_THAT(models.err, HasSubstr("error: UNAUTHENTICATED: ListModels requires a bearer token"));
  testing::CommandOutput health = Bnctl({"health"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
}

TEST_F(BnctlSecureTest, ReadTokenCannotMutate) {
  testing::CommandOutput rollback = Bnctl({"--token", kReadToken, "rollback", "digits", "--to", "1"});
  EXPECT_EQ(rollback.exit_code, 1);
  EXPECT_EQ(rollback.err,
            "error: PERMISSION_DENIED: Rollback requires role 'admin'; the token presented has role 'read'\n");
  testing::CommandOutput reload = Bnctl({"--token", kReadToken, "reload", "mlp"});
  EXPECT_THAT(reload.err, HasSubstr("PERMISSION_DENIED: ReloadModel requires role 'admin'"));
  EXPECT_THAT(reload.err, Not(HasSubstr(kReadToken)));
}

TEST_F(BnctlSecureTest, AdminTokenFromAFileOrTheEnvironmentMayMutate) {
  testing::CommandOutput from_file = Bnctl({"--token-file", *scratch_ + "/admin.token", "reload", "mlp"});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.out, "mlp: available\n");
  ASSERT_EQ(setenv("BNSERVE_TOKEN", kAdminToken, 1), 0);
  testing::CommandOutput from_env = Bnctl({"reload", "mlp"});
  // --token wins over the environment.
  testing::CommandOutput overridden = Bnctl({"--token", kReadToken, "reload", "mlp"});
  unsetenv("BNSERVE_TOKEN");
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_THAT(overridden.err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(Bnctl({"--token", kAdminToken, "--token-file", *scratch_ + "/admin.token", "models"}).exit_code, 2);
}

TEST_F(BnctlSecureTest, PlaintextOrCertificateLessClientsAreRefused) {
  testing::CommandOutput plaintext = testing::RunCommand(
      {BNCTL_BINARY, "--server", *address_, "--timeout", "10", "--token", kReadToken, "models"}, *scratch_);
  EXPECT_NE(plaintext.exit_code, 0);
  testing::CommandOutput no_certificate = Bnctl({"--timeout", "10", "--token", kReadToken, "models"},
                                                /*with_client_certificate=*/false);
  EXPECT_NE(no_certificate.exit_code, 0);
  EXPECT_EQ(no_certificate.out, "");
}

TEST_F(BnctlSecureTest, ServerRejectsABadTokenFileNamingTheLine) {
  const std::string bad = *scratch_ + "/bad_tokens.txt";
  std::ofstream(bad) << "admin " << kAdminToken << "\nroot " << kReadToken << "\n";
  testing::CommandOutput run = testing::RunCommand(
      {BNSERVE_BINARY, "--listen", "127.0.0.1:0", "--model-repository", *scratch_ + "/repository", "--token-file", bad},
      *scratch_);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.out, HasSubstr(bad + ":2: role: expected 'admin' or 'read', got 'root'"));
  EXPECT_THAT(run.out + run.err, Not(HasSubstr(kReadToken)));

  testing::CommandOutput help = testing::RunCommand({BNSERVE_BINARY, "--help"}, *scratch_);
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag : {"--tls-cert", "--tls-key", "--tls-client-ca", "--token-file", "--read-auth", "Bearer"}) {
    EXPECT_THAT(help.out, HasSubstr(flag));
  }
}

// No server at all: one line, exit code 3. Runs without the fixture's server.
TEST(BnctlStandaloneTest, UnreachableServerIsOneLine) {
  const std::string scratch = testing::MakeTempDir("bnctl_unreachable");
  ASSERT_FALSE(scratch.empty());
  const std::string address = absl::StrCat("127.0.0.1:", testing::FreeLoopbackPort());
  testing::CommandOutput run = testing::RunCommand({BNCTL_BINARY, "--server", address, "models"}, scratch);
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.err,
            absl::StrCat("error: cannot reach bnserve at ", address, " (UNAVAILABLE): is the server running?\n"));
  EXPECT_EQ(run.out, "");
  fs::remove_all(scratch);
}

}  // namespace
}  // namespace bnserve
