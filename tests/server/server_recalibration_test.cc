// Recalibrate, ListVersions, Rollback and Export over gRPC: PyTorch update_bn
// parity, the prior and alpha modes against torch's batch statistics and
// their option errors, dry runs, optimistic concurrency, streams that must
// commit nothing (cancelled, NaN batch, bad order), limits, durability across
// a restart, and export round trips.
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/engine/inference_plan.h"
#include "core/model/model.h"
#include "core/stats/channel_moments.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

// The pooled mean and unbiased variance of one BN layer over the fixture's
// train batches, from torch's per-batch (n, mean, M2) (Chan's merge).
class ChannelMomentsOfTorch {
 public:
  ChannelMomentsOfTorch(const nlohmann::json& steps, int layer) {
    for (const nlohmann::json& step : steps) {
      const nlohmann::json& batch = step["bn"][layer]["batch_stats"];
      const std::vector<double> mean = batch["mean"], m2 = batch["m2"];
      const int64_t n = batch["n"];
      pool_.resize(mean.size());
      for (size_t c = 0; c < mean.size(); ++c) pool_[c].Merge(ChannelMoments{n, mean[c], m2[c]});
    }
  }
  double mean(int c) const { return pool_[c].mean; }
  double var(int c) const { return pool_[c].VarUnbiased(); }

 private:
  std::vector<ChannelMoments> pool_;
};

class RecalibrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    repo_.AddModelBytes("gemm", GemmOnlyModelBytes());
    fixture_ = LoadJsonFixture("torch/mlp_bn1d.json");
    server_ = std::make_unique<TestServer>(repo_.path());
  }

  // The three train batches of the fixture (N = 4, 6, 5).
  std::vector<v1::Tensor> TrainBatches() const {
    std::vector<v1::Tensor> batches;
    for (const nlohmann::json& batch : fixture_["train"]["batches"]) {
      batches.push_back(MakeTensor(JsonShape(batch), JsonFloats(batch)));
    }
    return batches;
  }

  static v1::RecalibrationConfig UpdateBnConfig() {
    v1::RecalibrationConfig config;
    config.set_model("mlp");
    config.set_mode(v1::RECALIBRATION_MODE_CUMULATIVE);
    config.set_reset(true);
    config.set_forward_mode(v1::FORWARD_MODE_TRAIN);
    return config;
  }

  v1::GetRunningStatsResponse RunningStats(int64_t version = 0) {
    v1::GetRunningStatsRequest request;
    request.set_model("mlp");
    request.set_statistics_version(version);
    v1::GetRunningStatsResponse response;
    EXPECT_TRUE(server_->stub().GetRunningStats(NewContext().get(), request, &response).ok());
    return response;
  }

  v1::ListVersionsResponse Versions() { return ListVersions(server_->stub(), "mlp"); }

  std::vector<float> PredictEvalInput(int64_t version = 0) {
    const nlohmann::json& input = fixture_["eval"]["input"];
    v1::PredictResponse response;
    EXPECT_TRUE(
        Predict(server_->stub(), "mlp", MakeTensor(JsonShape(input), JsonFloats(input)), &response, version).ok());
    return response.outputs_size() == 1 ? TensorValues(response.outputs(0)) : std::vector<float>{};
  }

  // Asserts that nothing was committed: still version 1 with the file's
  // statistics.
  void ExpectUnchanged() {
    const v1::ListVersionsResponse versions = Versions();
    EXPECT_EQ(versions.current_version(), 1);
    EXPECT_EQ(versions.versions_size(), 1);
    EXPECT_EQ(RunningStats().SerializeAsString(), initial_stats_);
  }

  TempRepository repo_;
  nlohmann::json fixture_;
  std::unique_ptr<TestServer> server_;
  std::string initial_stats_;
};

TEST_F(RecalibrationTest, CumulativeFromResetReproducesUpdateBn) {
  const RecalibrateResult result = Recalibrate(server_->stub(), UpdateBnConfig(), TrainBatches());
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  const v1::RecalibrateResponse& summary = result.response;
  EXPECT_EQ(summary.model(), "mlp");
  EXPECT_EQ(summary.base_version(), 1);
  EXPECT_FALSE(summary.dry_run());
  EXPECT_EQ(summary.batches(), 3);
  EXPECT_EQ(summary.samples(), 15);
  ASSERT_EQ(summary.layers_size(), 2);
  EXPECT_TRUE(summary.layers(0).updated());
  EXPECT_GT(summary.layers(0).mean_shift_rms(), 0.0);
  EXPECT_EQ(summary.new_version().version(), 2);
  EXPECT_EQ(summary.new_version().parent(), 1);
  EXPECT_EQ(summary.new_version().origin(), "recalibrate");
  EXPECT_EQ(summary.new_version().mode(), "cumulative");
  EXPECT_EQ(summary.new_version().batches(), 3);
  EXPECT_GT(summary.new_version().created_unix_ms(), 0);

  const v1::GetRunningStatsResponse stats = RunningStats();
  EXPECT_EQ(stats.version().version(), 2);
  for (int l = 0; l < 2; ++l) {
    const nlohmann::json& expected = fixture_["update_bn"]["bn"][l];
    const std::vector<double> mean = expected["running_mean"], var = expected["running_var"];
    for (size_t c = 0; c < mean.size(); ++c) {
      // PyTorch accumulated in float32; we in float64.
      EXPECT_NEAR(stats.layers(l).mean(c), mean[c], 2e-6 * (1 + std::abs(mean[c]))) << "layer " << l << " c " << c;
      EXPECT_NEAR(stats.layers(l).var(c), var[c], 2e-6 * (1 + std::abs(var[c]))) << "layer " << l << " c " << c;
    }
    EXPECT_EQ(stats.layers(l).num_batches_tracked(), 3);
  }
  const std::vector<float> output = PredictEvalInput();
  const std::vector<float> expected_output = JsonFloats(fixture_["update_bn"]["eval_output"]);
  ASSERT_EQ(output.size(), expected_output.size());
  for (size_t i = 0; i < output.size(); ++i) {
    EXPECT_NEAR(output[i], expected_output[i], 1e-5 * (1 + std::abs(expected_output[i]))) << "output " << i;
  }
}

TEST_F(RecalibrationTest, DryRunReportsAndCommitsNothing) {
  initial_stats_ = RunningStats().SerializeAsString();
  v1::RecalibrationConfig config = UpdateBnConfig();
  config.set_dry_run(true);
  const RecalibrateResult result = Recalibrate(server_->stub(), config, TrainBatches());
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_TRUE(result.response.dry_run());
  EXPECT_EQ(result.response.batches(), 3);
  EXPECT_FALSE(result.response.has_new_version());
  ExpectUnchanged();
}

TEST_F(RecalibrationTest, LayerSelectionAndMomentumOverride) {
  const std::string bn2 = fixture_["bn_layers"][1]["node"];
  v1::RecalibrationConfig config;
  config.set_model("mlp");
  config.set_mode(v1::RECALIBRATION_MODE_EMA);
  config.set_momentum(1.0);  // keep only the last batch
  config.add_layers(bn2);
  const RecalibrateResult result = Recalibrate(server_->stub(), config, TrainBatches());
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_FALSE(result.response.layers(0).updated());
  EXPECT_TRUE(result.response.layers(1).updated());
  const v1::GetRunningStatsResponse before = RunningStats(1), after = RunningStats();
  EXPECT_EQ(after.layers(0).SerializeAsString(), before.layers(0).SerializeAsString());
  // Momentum 1: bn2's statistics are the last batch's (train-mode forward).
  const nlohmann::json& last = fixture_["train"]["momentum_configured"]["steps"][2]["bn"][1]["batch_stats"];
  const std::vector<double> mean = last["mean"], var = last["var_unbiased"];
  for (size_t c = 0; c < mean.size(); ++c) {
    EXPECT_NEAR(after.layers(1).mean(c), mean[c], 1e-5 * (1 + std::abs(mean[c])));
    EXPECT_NEAR(after.layers(1).var(c), var[c], 1e-5 * (1 + std::abs(var[c])));
  }
}

TEST_F(RecalibrationTest, ExpectedVersionRaceIsAbortedNamingTheCurrentVersion) {
  v1::RecalibrationConfig config = UpdateBnConfig();
  config.set_expected_version(1);
  ASSERT_TRUE(Recalibrate(server_->stub(), config, TrainBatches()).status.ok());  // -> 2
  // A client still believing version 1 is current.
  const RecalibrateResult stale = Recalibrate(server_->stub(), config, TrainBatches());
  EXPECT_EQ(stale.status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(stale.status.error_message(), HasSubstr("current version is 2"));
  EXPECT_EQ(Versions().current_version(), 2);
  config.set_expected_version(2);
  EXPECT_TRUE(Recalibrate(server_->stub(), config, TrainBatches()).status.ok());
  EXPECT_EQ(Versions().current_version(), 3);
}

TEST_F(RecalibrationTest, CommitRaceBetweenTwoOpenStreamsIsAborted) {
  // Both streams start at version 1; the second to commit loses.
  v1::RecalibrationConfig config = UpdateBnConfig();
  config.set_expected_version(1);
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  v1::RecalibrateResponse slow_response;
  auto slow = server_->stub().Recalibrate(context.get(), &slow_response);
  v1::RecalibrateRequest message;
  *message.mutable_config() = config;
  ASSERT_TRUE(slow->Write(message));
  for (const v1::Tensor& batch : TrainBatches()) {
    message.Clear();
    *message.mutable_batch()->add_inputs() = batch;
    ASSERT_TRUE(slow->Write(message));
  }
  ASSERT_TRUE(Recalibrate(server_->stub(), config, TrainBatches()).status.ok());
  slow->WritesDone();
  const grpc::Status status = slow->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(status.error_message(), HasSubstr("current version is 2"));
  EXPECT_EQ(Versions().current_version(), 2);
}

TEST_F(RecalibrationTest, CancelledStreamCommitsNothing) {
  initial_stats_ = RunningStats().SerializeAsString();
  grpc::ClientContext context;
  v1::RecalibrateResponse response;
  auto writer = server_->stub().Recalibrate(&context, &response);
  v1::RecalibrateRequest message;
  *message.mutable_config() = UpdateBnConfig();
  ASSERT_TRUE(writer->Write(message));
  for (const v1::Tensor& batch : TrainBatches()) {
    message.Clear();
    *message.mutable_batch()->add_inputs() = batch;
    ASSERT_TRUE(writer->Write(message));
  }
  context.TryCancel();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectUnchanged();
  // The stream's slot was released: a new recalibration can start.
  EXPECT_TRUE(Recalibrate(server_->stub(), UpdateBnConfig(), TrainBatches()).status.ok());
}

TEST_F(RecalibrationTest, NanBatchCommitsNothing) {
  initial_stats_ = RunningStats().SerializeAsString();
  std::vector<v1::Tensor> batches = TrainBatches();
  batches[1].set_values(7, std::nanf(""));
  const RecalibrateResult result = Recalibrate(server_->stub(), UpdateBnConfig(), batches);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("message 2 (batch)"));
  EXPECT_THAT(result.status.error_message(), HasSubstr("expected finite values"));
  ExpectUnchanged();
}

TEST_F(RecalibrationTest, StreamErrors) {
  initial_stats_ = RunningStats().SerializeAsString();
  std::vector<v1::Tensor> one_sample = {MakeTensor({1, 20}, GridValues(20, 21))};
  RecalibrateResult result = Recalibrate(server_->stub(), UpdateBnConfig(), one_sample);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // Eval mode takes one sample through the network, but no variance can be
  // estimated from it.
  v1::RecalibrationConfig eval = UpdateBnConfig();
  eval.set_forward_mode(v1::FORWARD_MODE_EVAL);
  result = Recalibrate(server_->stub(), eval, {TrainBatches()[0], one_sample[0]});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(result.status.error_message(), HasSubstr("message 2 (batch)"));

  std::vector<v1::Tensor> wrong_shape = {MakeTensor({4, 21}, GridValues(84, 21))};
  result = Recalibrate(server_->stub(), UpdateBnConfig(), wrong_shape);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("inputs[0].shape: expected [batch,20], got [4,21]"));

  result = Recalibrate(server_->stub(), UpdateBnConfig(), {});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(result.status.error_message(), HasSubstr("no batch"));

  v1::RecalibrationConfig config = UpdateBnConfig();
  config.set_model("gemm");
  result = Recalibrate(server_->stub(), config, {MakeTensor({4, 4}, GridValues(16, 21))});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(result.status.error_message(), HasSubstr("no BatchNormalization layer"));

  config = UpdateBnConfig();
  config.set_model("nope");
  EXPECT_EQ(Recalibrate(server_->stub(), config, TrainBatches()).status.error_code(), grpc::StatusCode::NOT_FOUND);

  config = UpdateBnConfig();
  config.add_layers("bn9");
  EXPECT_EQ(Recalibrate(server_->stub(), config, TrainBatches()).status.error_code(), grpc::StatusCode::NOT_FOUND);

  config = UpdateBnConfig();
  config.set_momentum(1.5);
  EXPECT_EQ(Recalibrate(server_->stub(), config, TrainBatches()).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // A batch before the config.
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  v1::RecalibrateResponse response;
  auto writer = server_->stub().Recalibrate(context.get(), &response);
  v1::RecalibrateRequest message;
  *message.mutable_batch()->add_inputs() = TrainBatches()[0];
  writer->Write(message);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("expected the config first"));
  ExpectUnchanged();
}

// prior and alpha (bn-semantics §12) mix version 1's statistics with the
// stream's pooled statistics. The target here comes from torch: its per-batch
// (n, mean, M2) of the three train batches (train forward, so they do not
// depend on the running statistics), merged with Chan's formula.
TEST_F(RecalibrationTest, PriorAndAlphaMixTheServedAndTheStreamedStatistics) {
  const v1::GetRunningStatsResponse served = RunningStats(1);
  struct Run {
    v1::RecalibrationMode mode;
    double parameter;
    double source_weight;
    std::string name;
  };
  // n = 4 + 6 + 5 = 15 rows.
  const std::vector<Run> runs = {{v1::RECALIBRATION_MODE_PRIOR, 16.0, 16.0 / 31, "prior"},
                                 {v1::RECALIBRATION_MODE_PRIOR, 0.0, 0.0, "prior"},
                                 {v1::RECALIBRATION_MODE_ALPHA, 0.9, 0.9, "alpha"},
                                 {v1::RECALIBRATION_MODE_ALPHA, 0.0, 0.0, "alpha"}};
  int64_t version = 1;
  for (const Run& run : runs) {
    SCOPED_TRACE(absl::StrCat(run.name, " ", run.parameter));
    v1::RecalibrationConfig config;
    config.set_model("mlp");
    config.set_mode(run.mode);
    if (run.mode == v1::RECALIBRATION_MODE_PRIOR) config.set_prior_strength(run.parameter);
    if (run.mode == v1::RECALIBRATION_MODE_ALPHA) config.set_alpha(run.parameter);
    config.set_expected_version(version);
    // Each run starts from version 1's statistics again.
    if (version > 1) {
      v1::RollbackRequest rollback;
      rollback.set_model("mlp");
      rollback.set_to_version(1);
      v1::RollbackResponse rolled;
      ASSERT_TRUE(server_->stub().Rollback(NewContext().get(), rollback, &rolled).ok());
      config.set_expected_version(rolled.new_version().version());
    }
    const RecalibrateResult result = Recalibrate(server_->stub(), config, TrainBatches());
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.response.new_version().mode(), run.name);
    EXPECT_EQ(result.response.samples(), 15);
    version = result.response.new_version().version();
    const v1::GetRunningStatsResponse stats = RunningStats(version);
    for (int l = 0; l < 2; ++l) {
      ChannelMomentsOfTorch target(fixture_["train"]["momentum_configured"]["steps"], l);
      for (int c = 0; c < stats.layers(l).mean_size(); ++c) {
        const double w = run.source_weight;
        const double mean = w * served.layers(l).mean(c) + (1 - w) * target.mean(c);
        const double var = w * served.layers(l).var(c) + (1 - w) * target.var(c);
        // torch computed its batch statistics in float32.
        EXPECT_NEAR(stats.layers(l).mean(c), mean, 2e-6 * (1 + std::abs(mean))) << "layer " << l << " c " << c;
        EXPECT_NEAR(stats.layers(l).var(c), var, 2e-6 * (1 + std::abs(var))) << "layer " << l << " c " << c;
      }
      EXPECT_EQ(stats.layers(l).num_batches_tracked(), served.layers(l).num_batches_tracked() + 3);
    }
  }
}

TEST_F(RecalibrationTest, BadPriorAlphaOrCombinationIsInvalidArgumentNamingTheField) {
  initial_stats_ = RunningStats().SerializeAsString();
  struct Bad {
    v1::RecalibrationConfig config;
    std::string message;
  };
  auto config = [](v1::RecalibrationMode mode, auto set) {
    v1::RecalibrationConfig c;
    c.set_model("mlp");
    c.set_mode(mode);
    set(&c);
    return c;
  };
  const auto prior = v1::RECALIBRATION_MODE_PRIOR;
  const auto alpha = v1::RECALIBRATION_MODE_ALPHA;
  const std::vector<Bad> bad = {
      {config(prior, [](auto* c) { c->set_prior_strength(-3); }),
       "config.prior_strength: expected a finite value >= 0, got -3"},
      {config(prior, [](auto* c) { c->set_prior_strength(std::numeric_limits<double>::infinity()); }),
       "config.prior_strength: expected a finite value >= 0, got inf"},
      {config(alpha, [](auto* c) { c->set_alpha(1.25); }), "config.alpha: expected a value in [0, 1], got 1.25"},
      {config(alpha, [](auto* c) { c->set_alpha(std::nan("")); }), "config.alpha: expected a value in [0, 1], got nan"},
      {config(prior, [](auto* c) { c->set_reset(true); }), "config.reset: expected false with mode prior"},
      {config(alpha, [](auto* c) { c->set_reset(true); }), "config.reset: expected false with mode alpha"},
      {config(alpha, [](auto* c) { c->set_momentum(0.5); }), "config.momentum: expected unset with mode alpha"},
      {config(v1::RECALIBRATION_MODE_EMA, [](auto* c) { c->set_prior_strength(4); }),
       "config.prior_strength: expected only with mode prior, got it with mode ema"},
      {config(prior, [](auto* c) { c->set_alpha(0.5); }),
       "config.alpha: expected only with mode alpha, got it with mode prior"},
  };
  for (const Bad& b : bad) {
    const RecalibrateResult result = Recalibrate(server_->stub(), b.config, TrainBatches());
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.message;
    EXPECT_THAT(result.status.error_message(), HasSubstr(b.message));
  }
  ExpectUnchanged();
}

TEST(RecalibrationLimitTest, ConcurrentStreamsBeyondTheLimitAreResourceExhausted) {
  TempRepository repo;
  repo.AddModel("mlp", "torch/mlp_bn1d.onnx");
  TestServerOptions options;
  options.max_recalibration_streams = 1;
  TestServer server(repo.path(), options);
  v1::RecalibrationConfig config;
  config.set_model("mlp");

  std::unique_ptr<grpc::ClientContext> first_context = NewContext();
  v1::RecalibrateResponse first_response;
  auto first = server.stub().Recalibrate(first_context.get(), &first_response);
  v1::RecalibrateRequest message;
  *message.mutable_config() = config;
  ASSERT_TRUE(first->Write(message));
  // Wait (without sleeping) until the server has opened the first stream's
  // session, as ListModels reports.
  for (int polls = 0;; ++polls) {
    ASSERT_LT(polls, 100000) << "the first stream never opened";
    v1::ListModelsResponse models;
    ASSERT_TRUE(server.stub().ListModels(NewContext().get(), {}, &models).ok());
    if (models.models(0).active_recalibrations() == 1) break;
  }
  const RecalibrateResult second = Recalibrate(server.stub(), config, {MakeTensor({4, 20}, GridValues(80, 23))});
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(second.status.error_message(), HasSubstr("limit 1"));
  message.Clear();
  *message.mutable_batch()->add_inputs() = MakeTensor({4, 20}, GridValues(80, 22));
  ASSERT_TRUE(first->Write(message));
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
  EXPECT_TRUE(Recalibrate(server.stub(), config, {MakeTensor({4, 20}, GridValues(80, 23))}).status.ok());
}

TEST_F(RecalibrationTest, HistoryAndRollback) {
  v1::RecalibrationConfig config = UpdateBnConfig();
  config.set_note("first");
  ASSERT_TRUE(Recalibrate(server_->stub(), config, TrainBatches()).status.ok());  // 2
  config.set_mode(v1::RECALIBRATION_MODE_EXACT);
  config.set_note("second");
  ASSERT_TRUE(Recalibrate(server_->stub(), config, TrainBatches()).status.ok());  // 3
  const std::vector<float> output_v1 = PredictEvalInput(1);
  const std::vector<float> output_v2 = PredictEvalInput(2);
  EXPECT_NE(output_v1, output_v2);

  v1::ListVersionsResponse versions = Versions();
  ASSERT_EQ(versions.versions_size(), 3);
  EXPECT_EQ(versions.current_version(), 3);
  EXPECT_EQ(versions.versions(0).origin(), "onnx");
  EXPECT_EQ(versions.versions(1).note(), "first");
  EXPECT_EQ(versions.versions(1).mode(), "cumulative");
  EXPECT_EQ(versions.versions(2).mode(), "exact");
  EXPECT_EQ(versions.versions(2).parent(), 2);
  EXPECT_EQ(versions.versions(2).samples(), 15);

  v1::RollbackRequest rollback;
  rollback.set_model("mlp");
  rollback.set_to_version(1);
  rollback.set_expected_version(2);  // stale
  v1::RollbackResponse rolled;
  grpc::Status status = server_->stub().Rollback(NewContext().get(), rollback, &rolled);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(status.error_message(), HasSubstr("current version is 3"));
  rollback.set_expected_version(3);
  ASSERT_TRUE(server_->stub().Rollback(NewContext().get(), rollback, &rolled).ok());
  EXPECT_EQ(rolled.new_version().version(), 4);
  EXPECT_EQ(rolled.new_version().origin(), "rollback");
  EXPECT_EQ(PredictEvalInput(), output_v1);  // version 1's statistics served again
  EXPECT_EQ(RunningStats().layers(0).mean_size(), RunningStats(1).layers(0).mean_size());
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(RunningStats().layers(l).SerializeAsString(), RunningStats(1).layers(l).SerializeAsString());
  }

  rollback.set_to_version(42);
  rollback.set_expected_version(0);
  EXPECT_EQ(server_->stub().Rollback(NewContext().get(), rollback, &rolled).error_code(), grpc::StatusCode::NOT_FOUND);
  rollback.set_to_version(0);
  EXPECT_EQ(server_->stub().Rollback(NewContext().get(), rollback, &rolled).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(RecalibrationTest, CommitSurvivesARestart) {
  ASSERT_TRUE(Recalibrate(server_->stub(), UpdateBnConfig(), TrainBatches()).status.ok());
  const std::string stats_before = RunningStats().SerializeAsString();
  const std::vector<float> output_before = PredictEvalInput();
  server_.reset();  // shuts the server down; the repository stays
  server_ = std::make_unique<TestServer>(repo_.path());
  EXPECT_EQ(Versions().current_version(), 2);
  EXPECT_EQ(RunningStats().SerializeAsString(), stats_before);
  EXPECT_EQ(PredictEvalInput(), output_before);
}

// Runs `model` on `input` with the statistics it carries (version 1 for a
// file we wrote ourselves = the exported statistics).
std::vector<float> RunLocally(const std::shared_ptr<const Model>& model, const std::vector<int64_t>& shape,
                              const std::vector<float>& input) {
  absl::StatusOr<std::shared_ptr<const InferencePlan>> plan = InferencePlan::Build(model, model->file_stats());
  EXPECT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<Shape> dims = Shape::FromDims(shape);
  absl::StatusOr<std::vector<Tensor>> outputs = (*plan)->Run({TensorView{*dims, input.data()}});
  EXPECT_TRUE(outputs.ok()) << outputs.status();
  return outputs.ok() ? (*outputs)[0].ToVector() : std::vector<float>{};
}

std::string ExportBytes(v1::BnServe::Stub& stub, int64_t version, int64_t* exported_version, int* chunks) {
  v1::ExportRequest request;
  request.set_model("mlp");
  request.set_statistics_version(version);
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  auto reader = stub.Export(context.get(), request);
  std::string bytes;
  int64_t total = -1;
  v1::ExportChunk chunk;
  *chunks = 0;
  while (reader->Read(&chunk)) {
    if (*chunks == 0) {
      total = chunk.total_bytes();
      *exported_version = chunk.statistics_version();
    }
    bytes += chunk.data();
    ++*chunks;
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(static_cast<int64_t>(bytes.size()), total);
  return bytes;
}

TEST_F(RecalibrationTest, ExportCarriesTheVersionsStatistics) {
  ASSERT_TRUE(Recalibrate(server_->stub(), UpdateBnConfig(), TrainBatches()).status.ok());
  const nlohmann::json& input = fixture_["eval"]["input"];
  for (int64_t version : {0, 1, 2}) {
    SCOPED_TRACE(version);
    int64_t exported_version = 0;
    int chunks = 0;
    const std::string bytes = ExportBytes(server_->stub(), version, &exported_version, &chunks);
    EXPECT_EQ(exported_version, version == 0 ? 2 : version);
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::LoadFromBytes(bytes, repo_.ModelDir("mlp"));
    ASSERT_TRUE(model.ok()) << model.status();
    const std::vector<float> local = RunLocally(*model, JsonShape(input), JsonFloats(input));
    const std::vector<float> served = PredictEvalInput(exported_version);
    ASSERT_EQ(local.size(), served.size());
    // The file stores the float64 statistics as float32, so the folded
    // scale/shift may differ in the last bits.
    for (size_t i = 0; i < local.size(); ++i) EXPECT_NEAR(local[i], served[i], 1e-5 * (1 + std::abs(served[i])));
  }
  v1::ExportRequest request;
  request.set_model("mlp");
  request.set_statistics_version(7);
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  auto reader = server_->stub().Export(context.get(), request);
  v1::ExportChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(ExportChunkTest, LargeExportsComeInSeveralChunks) {
  TempRepository repo;
  repo.AddModel("mlp", "torch/mlp_bn1d.onnx");
  TestServerOptions options;
  options.max_message_bytes = 3072;  // chunks of 2048 bytes for a ~7 KB file
  TestServer server(repo.path(), options);
  int64_t version = 0;
  int chunks = 0;
  const std::string bytes = ExportBytes(server.stub(), 0, &version, &chunks);
  EXPECT_EQ(version, 1);
  EXPECT_GE(chunks, 3);
  EXPECT_TRUE(Model::LoadFromBytes(bytes, repo.ModelDir("mlp")).ok());
}

}  // namespace
}  // namespace bnserve::testing
