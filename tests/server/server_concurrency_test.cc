// Hot swap under load: predictions from several threads while statistics
// versions are committed. Every prediction must succeed, report a version
// that existed, never go back in time on one thread, and carry exactly the
// outputs of the version it reports.
#include <atomic>
#include <map>
#include <thread>

#include "core/engine/inference_plan.h"
#include "core/model/model.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve::testing {
namespace {

struct Observation {
  int64_t version = 0;
  std::vector<float> output;
};

// The output of `input` under statistics version `version` as reported by
// GetRunningStats, computed with a plan built in the test.
std::vector<float> ComputeLocally(TestServer& server, const std::string& model_path, int64_t version,
                                  const v1::Tensor& input) {
  v1::GetRunningStatsRequest request;
  request.set_model("mlp");
  request.set_statistics_version(version);
  v1::GetRunningStatsResponse response;
  EXPECT_TRUE(server.stub().GetRunningStats(NewContext().get(), request, &response).ok());
  auto snapshot = std::make_shared<StatsSnapshot>();
  snapshot->version = version;
  for (const v1::LayerRunningStats& layer : response.layers()) {
    LayerStats stats;
    stats.mean.assign(layer.mean().begin(), layer.mean().end());
    stats.var.assign(layer.var().begin(), layer.var().end());
    stats.num_batches_tracked = layer.num_batches_tracked();
    stats.sample_count = layer.sample_count();
    snapshot->layers.push_back(std::move(stats));
  }
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::LoadFromFile(model_path);
  EXPECT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::shared_ptr<const InferencePlan>> plan = InferencePlan::Build(*model, snapshot);
  EXPECT_TRUE(plan.ok()) << plan.status();
  const std::vector<float> values = TensorValues(input);
  absl::StatusOr<std::vector<Tensor>> outputs = (*plan)->Run({TensorView{Shape{5, 20}, values.data()}});
  EXPECT_TRUE(outputs.ok()) << outputs.status();
  return outputs.ok() ? (*outputs)[0].ToVector() : std::vector<float>{};
}

class ConcurrencyTest : public ::testing::TestWithParam<int> {};

TEST_P(ConcurrencyTest, PredictionsDuringCommitsSeeOldOrNewVersionExactly) {
  TempRepository repo;
  repo.AddModel("mlp", "torch/mlp_bn1d.onnx");
  TestServerOptions options;
  options.worker_threads = GetParam();
  TestServer server(repo.path(), options);
  const int kThreads = 4;
  const int kCommits = 3;
  const v1::Tensor input = MakeTensor({5, 20}, GridValues(100, 31));

  std::atomic<int> started{0};
  std::atomic<int64_t> final_version{0};
  std::vector<std::vector<Observation>> seen(kThreads);
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t last = 0;;) {
        v1::PredictResponse response;
        const grpc::Status status = Predict(server.stub(), "mlp", input, &response);
        if (!status.ok()) {
          failures[t] = status.error_message();
          return;
        }
        seen[t].push_back({response.statistics_version(), TensorValues(response.outputs(0))});
        if (seen[t].size() == 1) started.fetch_add(1);
        last = response.statistics_version();
        // Stop once this thread has seen the last committed version.
        if (final_version.load() != 0 && last == final_version.load()) return;
      }
    });
  }
  // Commits start only once every thread is predicting.
  while (started.load() < kThreads) std::this_thread::yield();
  int64_t version = 1;
  for (int k = 0; k < kCommits; ++k) {
    v1::RecalibrationConfig config;
    config.set_model("mlp");
    config.set_mode(v1::RECALIBRATION_MODE_EMA);
    config.set_momentum(0.5);
    const RecalibrateResult result = Recalibrate(server.stub(), config, {MakeTensor({6, 20}, GridValues(120, 40 + k))});
    if (!result.status.ok()) {
      ADD_FAILURE() << "commit " << k << ": " << result.status.error_message();
      break;  // the threads still stop at the last version served
    }
    version = result.response.new_version().version();
  }
  final_version.store(version);
  for (std::thread& thread : threads) thread.join();

  // The reference output of each version, asked for by pinning it.
  std::map<int64_t, std::vector<float>> reference;
  for (int64_t v = 1; v <= version; ++v) {
    v1::PredictResponse response;
    ASSERT_TRUE(Predict(server.stub(), "mlp", input, &response, v).ok());
    reference[v] = TensorValues(response.outputs(0));
  }
  for (int64_t v = 2; v <= version; ++v) EXPECT_NE(reference[v], reference[v - 1]) << "version " << v;
  // ... and each agrees with a plan built here from the statistics the
  // server reports for that version.
  for (int64_t v = 1; v <= version; ++v) {
    EXPECT_EQ(ComputeLocally(server, repo.ModelDir("mlp") + "/model.onnx", v, input), reference[v]) << "version " << v;
  }

  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], "") << "thread " << t;
    int64_t previous = 1;
    for (size_t i = 0; i < seen[t].size(); ++i) {
      const Observation& observation = seen[t][i];
      ASSERT_TRUE(reference.count(observation.version)) << "thread " << t << " saw version " << observation.version;
      EXPECT_GE(observation.version, previous) << "thread " << t << " went back in time at request " << i;
      previous = observation.version;
      EXPECT_EQ(observation.output, reference[observation.version])
          << "thread " << t << " request " << i << " version " << observation.version;
    }
    // Each thread predicted before the first commit and until the last.
    EXPECT_EQ(seen[t].front().version, 1);
    EXPECT_EQ(seen[t].back().version, version);
  }
}

// One worker thread serializes everything; several let predictions and
// commits overlap.
INSTANTIATE_TEST_SUITE_P(WorkerThreads, ConcurrencyTest, ::testing::Values(1, 3));

}  // namespace
}  // namespace bnserve::testing
