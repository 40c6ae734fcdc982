// The drift loop end to end over gRPC, on the bundled digits model and its
// shifted data (deploy/examples/data): clean Predict traffic raises no alarm,
// the shifted sensor is detected within 300 samples, the automatic policy
// promotes statistics as good as a recalibration on the calibration file
// without a label or a Recalibrate call, refuses a label shift, and staged
// candidates can be pinned, promoted and discarded. Traffic is paced so that
// the monitor never drops a sample: every figure counts served samples, and
// nothing depends on the machine's speed.
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string ExampleData(const std::string& name) {
  return std::string(BNSERVE_SOURCE_DIR) + "/deploy/examples/data/" + name;
}

struct Images {
  client::FloatArray x;
  std::vector<int64_t> labels;
};

Images LoadImages(const std::string& images, const std::string& labels) {
  Images out;
  absl::StatusOr<client::FloatArray> x = client::ReadNpyFloat(ExampleData(images));
  EXPECT_TRUE(x.ok()) << x.status();
  out.x = *x;
  if (!labels.empty()) {
    absl::StatusOr<client::LabelArray> y = client::ReadNpyLabels(ExampleData(labels));
    EXPECT_TRUE(y.ok()) << y.status();
    out.labels = y->values;
  }
  return out;
}

v1::Tensor Rows(const Images& images, const std::vector<int64_t>& rows) {
  std::vector<int64_t> shape = images.x.shape;
  shape[0] = static_cast<int64_t>(rows.size());
  std::vector<float> values;
  const int64_t row_size = images.x.row_size();
  for (int64_t r : rows) {
    values.insert(values.end(), images.x.values.begin() + r * row_size, images.x.values.begin() + (r + 1) * row_size);
  }
  return MakeTensor(shape, values, /*raw=*/true);
}

class DriftLoopTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& drift_json) {
    repo_.AddModelBytes("digits", ReadBytes(std::string(BNSERVE_SOURCE_DIR) +
                                            "/deploy/examples/repository/digits/model.onnx"));
    std::ofstream(repo_.ModelDir("digits") + "/config.json") << "{\"drift\": " << drift_json << "}";
    clean_ = LoadImages("digits_test.npy", "digits_test_labels.npy");
    shifted_ = LoadImages("digits_shifted_test.npy", "digits_shifted_test_labels.npy");
    server_ = std::make_unique<TestServer>(repo_.path());
  }

  v1::GetDriftResponse Drift(int windows = 1) {
    v1::GetDriftRequest request;
    request.set_model("digits");
    request.set_windows(windows);
    v1::GetDriftResponse response;
    const grpc::Status status = server_->stub().GetDrift(NewContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Waits until the monitor has processed every sample it took, so that the
  // test's counts are served samples whatever the machine's speed.
  v1::GetDriftResponse Drained() {
    for (;;) {
      v1::GetDriftResponse drift = Drift();
      if (drift.samples_processed() + drift.samples_dropped() >= drift.samples_sampled()) return drift;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Sends `count` samples of `images` as Predict calls of 1 to 8 samples,
  // rows drawn by `next_row`; after each call, `stop` may end the traffic.
  // Returns the samples sent.
  int64_t Traffic(const Images& images, int64_t count, const std::function<int64_t()>& next_row,
                  const std::function<bool(const v1::GetDriftResponse&)>& stop = nullptr) {
    int64_t sent = 0;
    while (sent < count) {
      const int64_t batch = std::min<int64_t>(count - sent, 1 + static_cast<int64_t>(random_() % 8));
      std::vector<int64_t> rows;
      for (int64_t i = 0; i < batch; ++i) rows.push_back(next_row());
      v1::PredictResponse response;
      const grpc::Status status = Predict(server_->stub(), "digits", Rows(images, rows), &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      sent += batch;
      const v1::GetDriftResponse drift = Drained();
      if (stop && stop(drift)) break;
    }
    return sent;
  }

  std::function<int64_t()> RandomRows(const Images& images) {
    return [this, n = images.x.rows()] { return static_cast<int64_t>(random_() % n); };
  }

  // Top-1 accuracy of `images` with a version or a candidate, pinned so that
  // the evaluation is not itself monitored traffic.
  double Accuracy(const Images& images, int64_t version, int64_t candidate = 0) {
    int64_t correct = 0;
    for (int64_t begin = 0; begin < images.x.rows(); begin += 64) {
      std::vector<int64_t> rows;
      for (int64_t r = begin; r < std::min(begin + 64, images.x.rows()); ++r) rows.push_back(r);
      v1::PredictRequest request;
      request.set_model("digits");
      if (candidate != 0) {
        request.set_candidate_id(candidate);
      } else {
        request.set_statistics_version(version);
      }
      *request.add_inputs() = Rows(images, rows);
      v1::PredictResponse response;
      const grpc::Status status = server_->stub().Predict(NewContext().get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      const std::vector<float> logits = TensorValues(response.outputs(0));
      const int64_t classes = response.outputs(0).shape(1);
      for (size_t i = 0; i < rows.size(); ++i) {
        const auto begin_row = logits.begin() + static_cast<int64_t>(i) * classes;
        correct += (std::max_element(begin_row, begin_row + classes) - begin_row) == images.labels[rows[i]];
      }
    }
    return static_cast<double>(correct) / static_cast<double>(images.x.rows());
  }

  int64_t CurrentVersion() { return ListVersions(server_->stub(), "digits").current_version(); }

  // What `bnctl recalibrate --mode cumulative --reset` on the calibration
  // file reaches, staged (not committed) so it changes nothing served.
  int64_t StageCalibrationFileRecalibration() {
    const Images calib = LoadImages("digits_shifted_calib.npy", "");
    v1::RecalibrationConfig config;
    config.set_model("digits");
    config.set_mode(v1::RECALIBRATION_MODE_CUMULATIVE);
    config.set_reset(true);
    config.set_stage(true);
    std::vector<v1::Tensor> batches;
    for (int64_t begin = 0; begin < calib.x.rows(); begin += 32) {
      std::vector<int64_t> rows;
      for (int64_t r = begin; r < std::min(begin + 32, calib.x.rows()); ++r) rows.push_back(r);
      batches.push_back(Rows(calib, rows));
    }
    const RecalibrateResult result = Recalibrate(server_->stub(), config, batches);
    EXPECT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_FALSE(result.response.has_new_version());
    return result.response.candidate_id();
  }

  std::unique_ptr<grpc::ClientReader<v1::GetDriftResponse>> Watch(grpc::ClientContext* context) {
    v1::GetDriftRequest request;
    request.set_model("digits");
    return server_->stub().WatchDrift(context, request);
  }

  static bool HasEvent(const v1::GetDriftResponse& drift, const std::string& kind) {
    for (const v1::DriftEvent& event : drift.events()) {
      if (event.kind() == kind) return true;
    }
    return false;
  }
  static std::string Events(const v1::GetDriftResponse& drift) {
    std::string text;
    for (const v1::DriftEvent& event : drift.events()) text += event.kind() + ": " + event.reason() + "\n";
    return text;
  }

  std::mt19937 random_{20261208};
  TempRepository repo_;
  Images clean_;
  Images shifted_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(DriftLoopTest, CleanTrafficRaisesNoAlarmAndTheShiftedSensorIsDetectedWithin300Samples) {
  StartServer(R"({"sample_rate": 1.0, "window_samples": 64})");
  const int64_t clean = Traffic(clean_, 10000, RandomRows(clean_));
  v1::GetDriftResponse drift = Drift(/*windows=*/256);
  EXPECT_EQ(clean, 10000);
  EXPECT_EQ(drift.samples_dropped(), 0);
  EXPECT_EQ(drift.samples_processed(), 10000);
  EXPECT_GT(drift.calibration().threshold(), 0.0);
  EXPECT_FALSE(drift.alarm()) << drift.alarm_reason();
  EXPECT_FALSE(HasEvent(drift, "alarm")) << Events(drift);
  int64_t scored = 0;
  int64_t above = 0;
  double worst = 0.0;
  for (const v1::DriftWindow& window : drift.windows()) {
    if (window.reference()) continue;
    ++scored;
    above += window.above_threshold();
    worst = std::max(worst, window.score());
  }
  EXPECT_GE(scored, 140);  // 156 windows of 64, 8 of them the reference
  std::cout << "clean: " << scored << " scored windows, " << above << " above the threshold "
            << drift.calibration().threshold() << ", largest score " << worst << "\n";

  const int64_t until_alarm =
      Traffic(shifted_, 300, RandomRows(shifted_), [](const v1::GetDriftResponse& d) { return d.alarm(); });
  drift = Drift();
  EXPECT_TRUE(drift.alarm()) << "no alarm within 300 shifted samples: " << drift.alarm_reason();
  EXPECT_THAT(drift.alarm_reason(), HasSubstr("above the threshold"));
  std::cout << "alarm after " << until_alarm << " shifted samples: " << drift.alarm_reason() << "\n";
}

TEST_F(DriftLoopTest, AutomaticPolicyPromotesWithoutLabelsAsWellAsRecalibratingOnTheCalibrationFile) {
  StartServer(R"({"sample_rate": 1.0, "window_samples": 64, "auto_adapt": true})");
  Traffic(clean_, 1000, RandomRows(clean_));
  const double frozen = Accuracy(shifted_, 1);
  const int64_t sent = Traffic(shifted_, 3000, RandomRows(shifted_),
                               [](const v1::GetDriftResponse& d) { return HasEvent(d, "promote"); });
  v1::GetDriftResponse drift = Drift();
  ASSERT_TRUE(HasEvent(drift, "promote")) << Events(drift);
  const int64_t promoted = CurrentVersion();
  EXPECT_GE(promoted, 2);
  const v1::ListVersionsResponse history = ListVersions(server_->stub(), "digits");
  EXPECT_EQ(history.versions().rbegin()->origin(), "adapt");
  EXPECT_THAT(history.versions().rbegin()->note(), HasSubstr("auto-adapt"));

  const double adapted = Accuracy(shifted_, promoted);
  const double reference = Accuracy(shifted_, 0, StageCalibrationFileRecalibration());
  std::cout << "shifted accuracy: frozen " << frozen << ", auto-adapted after " << sent << " shifted samples "
            << adapted << ", recalibrated on the calibration file " << reference << "\n";
  EXPECT_GE(adapted, 0.95 * reference);
  EXPECT_LT(frozen, 0.5);

  // The promotion is watched, and holds on the traffic that asked for it.
  Traffic(shifted_, 1000, RandomRows(shifted_),
          [](const v1::GetDriftResponse& d) { return HasEvent(d, "confirm") || HasEvent(d, "rollback"); });
  drift = Drift();
  EXPECT_TRUE(HasEvent(drift, "confirm")) << Events(drift);
  EXPECT_FALSE(HasEvent(drift, "rollback")) << Events(drift);
  EXPECT_EQ(CurrentVersion(), promoted);
}

TEST_F(DriftLoopTest, ThePriorModeMixesTheServedStatisticsIntoTheCandidate) {
  StartServer(R"({"sample_rate": 1.0, "window_samples": 64, "auto_adapt": true, "adapt_mode": "prior",
                  "prior_strength": 16})");
  Traffic(clean_, 1000, RandomRows(clean_));
  Traffic(shifted_, 3000, RandomRows(shifted_),
          [](const v1::GetDriftResponse& d) { return HasEvent(d, "promote") || HasEvent(d, "refuse"); });
  const v1::GetDriftResponse drift = Drift();
  ASSERT_TRUE(HasEvent(drift, "promote")) << Events(drift);
  const v1::ListVersionsResponse history = ListVersions(server_->stub(), "digits");
  EXPECT_EQ(history.versions().rbegin()->mode(), "prior");
  // 256 target images against a prior of 16: nearly the target statistics.
  EXPECT_GT(Accuracy(shifted_, CurrentVersion()), 0.9);
}

TEST_F(DriftLoopTest, LabelShiftInsideTheWindowIsRefusedAndAccuracyDoesNotDrop) {
  StartServer(R"({"sample_rate": 1.0, "window_samples": 64, "auto_adapt": true})");
  Traffic(clean_, 1000, RandomRows(clean_));
  const double before = Accuracy(shifted_, 1);
  // The shifted images sorted by class, over and over: each window holds
  // two or three classes.
  std::vector<int64_t> order(shifted_.x.rows());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return shifted_.labels[a] < shifted_.labels[b]; });
  size_t next = 0;
  Traffic(shifted_, 3000, [&] { return order[next++ % order.size()]; },
          [](const v1::GetDriftResponse& d) { return HasEvent(d, "refuse"); });
  const v1::GetDriftResponse drift = Drift();
  ASSERT_TRUE(HasEvent(drift, "refuse")) << Events(drift);
  EXPECT_FALSE(HasEvent(drift, "promote")) << Events(drift);
  bool said_why = false;
  for (const v1::DriftEvent& event : drift.events()) {
    if (event.kind() == "refuse") said_why = absl::StrContains(event.reason(), "not diverse");
  }
  EXPECT_TRUE(said_why) << Events(drift);
  EXPECT_EQ(CurrentVersion(), 1);
  EXPECT_GE(Accuracy(shifted_, 0), before);
}

TEST_F(DriftLoopTest, StagedCandidatesArePinnedPromotedAndDiscardedByRpc) {
  StartServer(R"({"sample_rate": 1.0, "window_samples": 64})");
  const int64_t id = StageCalibrationFileRecalibration();
  ASSERT_GE(id, 1);
  EXPECT_EQ(CurrentVersion(), 1);  // staged, not served
  EXPECT_GT(Accuracy(shifted_, 0, id), 0.95);
  EXPECT_LT(Accuracy(shifted_, 1), 0.5);

  // The monitor shadows it on live traffic.
  Traffic(shifted_, 200, RandomRows(shifted_));
  v1::GetDriftResponse drift = Drift();
  ASSERT_EQ(drift.candidates_size(), 1);
  EXPECT_EQ(drift.candidates(0).source(), "client");
  EXPECT_EQ(drift.candidates(0).shadow().samples(), 200);
  EXPECT_LT(drift.candidates(0).shadow().candidate_entropy(), drift.candidates(0).shadow().served_entropy());

  v1::PredictRequest unknown;
  unknown.set_model("digits");
  unknown.set_candidate_id(id + 7);
  *unknown.add_inputs() = Rows(shifted_, {0});
  v1::PredictResponse response;
  grpc::Status status = server_->stub().Predict(NewContext().get(), unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("candidate_id " + std::to_string(id + 7)));

  v1::PromoteCandidateRequest promote;
  promote.set_model("digits");
  promote.set_candidate_id(id);
  promote.set_note("A/B looked good");
  v1::PromoteCandidateResponse promoted;
  status = server_->stub().PromoteCandidate(NewContext().get(), promote, &promoted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(promoted.statistics_version(), 2);
  EXPECT_EQ(CurrentVersion(), 2);
  EXPECT_EQ(ListVersions(server_->stub(), "digits").versions().rbegin()->origin(), "adapt");
  EXPECT_GT(Accuracy(shifted_, 0), 0.95);

  // Promoted candidates are gone; discarding one is NOT_FOUND.
  v1::DiscardCandidateRequest discard;
  discard.set_model("digits");
  discard.set_candidate_id(id);
  v1::DiscardCandidateResponse discarded;
  status = server_->stub().DiscardCandidate(NewContext().get(), discard, &discarded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  const int64_t second = StageCalibrationFileRecalibration();
  discard.set_candidate_id(second);
  EXPECT_TRUE(server_->stub().DiscardCandidate(NewContext().get(), discard, &discarded).ok());
  EXPECT_EQ(Drift().candidates_size(), 0);

  // stage excludes dry_run.
  v1::RecalibrationConfig config;
  config.set_model("digits");
  config.set_stage(true);
  config.set_dry_run(true);
  const RecalibrateResult refused = Recalibrate(server_->stub(), config, {Rows(shifted_, {0, 1})});
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("config.stage"));
}

TEST_F(DriftLoopTest, WatchDriftStreamsEachWindowUntilCancelled) {
  StartServer(R"({"sample_rate": 1.0, "window_samples": 16})");
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::GetDriftResponse>> reader = Watch(&context);
  v1::GetDriftResponse update;
  ASSERT_TRUE(reader->Read(&update));  // the state at once
  int64_t last_index = 0;
  std::thread traffic([&] { Traffic(clean_, 200, RandomRows(clean_)); });
  int updates = 0;
  while (updates < 3 && reader->Read(&update)) {
    if (update.windows_size() > 0) {
      EXPECT_GE(update.windows().rbegin()->index(), last_index);
      last_index = update.windows().rbegin()->index();
    }
    ++updates;
  }
  traffic.join();
  EXPECT_EQ(updates, 3);
  context.TryCancel();
  while (reader->Read(&update)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(DriftLoopTest, AReloadAppliesAChangedConfigurationWhileAWatchIsOpen) {
  StartServer(R"({"sample_rate": 1.0, "window_samples": 16})");
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::GetDriftResponse>> reader = Watch(&context);
  v1::GetDriftResponse update;
  ASSERT_TRUE(reader->Read(&update));
  Traffic(clean_, 40, RandomRows(clean_));
  EXPECT_EQ(Drift().config().window_samples(), 16);

  std::ofstream(repo_.ModelDir("digits") + "/config.json") << R"({"drift": {"sample_rate": 0.5, "window_samples": 32}})";
  v1::ReloadModelRequest reload;
  reload.set_model("digits");
  v1::ReloadModelResponse reloaded;
  ASSERT_TRUE(server_->stub().ReloadModel(NewContext().get(), reload, &reloaded).ok());
  Traffic(clean_, 40, RandomRows(clean_));
  const v1::GetDriftResponse drift = Drift();
  EXPECT_EQ(drift.config().window_samples(), 32);
  EXPECT_DOUBLE_EQ(drift.config().sample_rate(), 0.5);
  context.TryCancel();
  while (reader->Read(&update)) {
  }
  reader->Finish();
}

TEST_F(DriftLoopTest, ModelsWithoutMonitoringSayHowToSwitchItOn) {
  StartServer(R"({"sample_rate": 0})");
  v1::GetDriftRequest request;
  request.set_model("digits");
  v1::GetDriftResponse response;
  grpc::Status status = server_->stub().GetDrift(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("--drift-sample-rate"));
  request.set_model("nope");
  status = server_->stub().GetDrift(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DriftLoopTest, ABadDriftConfigFailsTheLoadNamingTheKey) {
  StartServer(R"({"sample_rate": 2})");
  const v1::ListModelsResponse models = [&] {
    v1::ListModelsResponse response;
    EXPECT_TRUE(server_->stub().ListModels(NewContext().get(), v1::ListModelsRequest(), &response).ok());
    return response;
  }();
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).state(), v1::MODEL_STATE_ERROR);
  EXPECT_THAT(models.models(0).error(), HasSubstr("drift.sample_rate: expected a number in [0, 1], got 2"));
}

}  // namespace
}  // namespace bnserve::testing
