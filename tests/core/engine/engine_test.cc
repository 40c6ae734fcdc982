// Engine behaviour beyond PyTorch parity: bad input gets a clear error and
// never a crash, failed recalibrations change nothing, plans are safe to share
// between threads, and the estimator modes differ the way bn-semantics §6
// says they should.
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/engine/inference_plan.h"
#include "core/engine/op.h"
#include "core/engine/statistics_plan.h"
#include "core/model/model.h"
#include "core/serving/recalibrator.h"
#include "core/stats/moments.h"
#include "core/util/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/onnx_builder.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;
using testing::OnnxBuilder;

std::shared_ptr<const Model> LoadFixture(const std::string& name) {
  auto model = Model::LoadFromFile(testing::FixturePath("torch/" + name + ".onnx"));
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

Tensor RandomInput(const Shape& shape, uint32_t seed, float offset = 0.0f, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Tensor t(shape);
  for (float& v : t.data) v = offset + scale * dist(rng);
  return t;
}

TEST(EngineTest, UnknownOperatorFailsNamingOperatorNodeAndOpset) {
  const std::string bytes =
      OnnxBuilder(13).Input("x", {"batch", 4}).Output("y", {"batch", 4}).Node("Erf", {"x"}, {"y"}, "my_erf").Bytes();
  // Reading the file is the model's business; running it, the engine's.
  auto model = Model::LoadFromBytes(bytes, ".");
  ASSERT_TRUE(model.ok()) << model.status();
  const absl::Status status = OpRegistry::Builtin().CheckGraph((*model)->graph());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.message()), HasSubstr("Erf"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("my_erf"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("opset 13"));
  EXPECT_EQ(InferencePlan::Build(*model, (*model)->file_stats()).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(EngineTest, CorruptOrTruncatedFileIsAnErrorNotACrash) {
  std::ifstream in(testing::FixturePath("torch/cnn_bn2d.onnx"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t cut : {size_t{1}, size_t{17}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 5}) {
    EXPECT_FALSE(Model::LoadFromBytes(bytes.substr(0, cut), ".").ok()) << "cut at " << cut;
  }
  EXPECT_FALSE(Model::LoadFromBytes("definitely not a protobuf", ".").ok());
  auto missing = Model::LoadFromFile("/nonexistent/model.onnx");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(EngineTest, WrongInputShapeNamesInputExpectedAndReceived) {
  auto model = LoadFixture("cnn_bn2d");
  auto plan = InferencePlan::Build(model, model->file_stats()).value();
  const Tensor bad = RandomInput(Shape{2, 3, 15, 16}, 1);
  const TensorView view = bad.view();
  auto out = plan->Run({&view, 1});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("input 'input'"));
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("[batch,3,16,16]"));
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("[2,3,15,16]"));
}

TEST(EngineTest, NanBatchIsRejectedAndNothingChanges) {
  auto model = LoadFixture("mlp_bn1d");
  auto recal = Recalibrator::Create(model, model->file_stats(), {}).value();
  const Tensor good = RandomInput(Shape{8, 20}, 2);
  Tensor bad = good;
  bad.data[37] = std::numeric_limits<float>::quiet_NaN();
  const TensorView good_view = good.view(), bad_view = bad.view();
  ASSERT_TRUE(recal->AddBatch({&good_view, 1}).ok());
  const StatsSnapshot before = recal->Finish(nullptr).value();
  absl::Status st = recal->AddBatch({&bad_view, 1});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("flat index 37"));
  EXPECT_EQ(recal->batches(), 1);
  const StatsSnapshot after = recal->Finish(nullptr).value();
  for (size_t l = 0; l < before.layers.size(); ++l) {
    EXPECT_EQ(before.layers[l].mean, after.layers[l].mean);
    EXPECT_EQ(before.layers[l].var, after.layers[l].var);
  }
  // Infinity too, and the model's own statistics never move.
  bad.data[37] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(recal->AddBatch({&bad_view, 1}).ok());
  EXPECT_EQ(model->file_stats()->version, 1);
}

TEST(EngineTest, OneValuePerChannelIsRejectedNamingTheLayer) {
  auto model = LoadFixture("mlp_bn1d");
  auto recal = Recalibrator::Create(model, model->file_stats(), {}).value();
  const Tensor one = RandomInput(Shape{1, 20}, 3);
  const TensorView view = one.view();
  absl::Status st = recal->AddBatch({&view, 1});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("/bn1/BatchNormalization"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("more than 1 value per channel"));
  EXPECT_EQ(recal->batches(), 0);
  EXPECT_EQ(recal->Finish(nullptr).status().code(), absl::StatusCode::kFailedPrecondition);
  // The check is on values per channel, not batch size: (1, C, L) with L > 1 is fine.
  auto ncl = LoadFixture("bn1d_ncl");
  auto recal_ncl = Recalibrator::Create(ncl, ncl->file_stats(), {}).value();
  const Tensor single = RandomInput(Shape{1, 4, 10}, 4);
  const TensorView single_view = single.view();
  EXPECT_TRUE(recal_ncl->AddBatch({&single_view, 1}).ok());
}

TEST(EngineTest, LayerSubsetLeavesOtherLayersUntouched) {
  auto model = LoadFixture("cnn_bn2d");
  RecalibrationOptions options;
  options.layers = {model->bn_layers()[1].name};
  options.mode = RecalibrationMode::kExact;
  auto recal = Recalibrator::Create(model, model->file_stats(), options).value();
  const Tensor batch = RandomInput(Shape{6, 3, 16, 16}, 5, 0.5f, 2.0f);
  const TensorView view = batch.view();
  ASSERT_TRUE(recal->AddBatch({&view, 1}).ok());
  RecalibrationSummary summary;
  const StatsSnapshot result = recal->Finish(&summary).value();
  for (size_t l = 0; l < result.layers.size(); ++l) {
    const bool selected = l == 1;
    EXPECT_EQ(summary.layers[l].updated, selected);
    EXPECT_EQ(result.layers[l].mean == model->file_stats()->layers[l].mean, !selected) << "layer " << l;
  }
  EXPECT_GT(summary.layers[1].mean_shift_rms, 0.0);
  options.layers = {"no_such_layer"};
  EXPECT_EQ(Recalibrator::Create(model, model->file_stats(), options).status().code(), absl::StatusCode::kNotFound);
}

// Exact pooled statistics equal the moments of the concatenated batches at
// the first BN (whose input does not depend on other BNs); the population
// estimate (Algorithm 2) averages per-batch variances and so misses the
// spread between batch means (bn-semantics §6).
TEST(EngineTest, ExactModePoolsSamplesWhilePopulationAveragesBatches) {
  auto model = LoadFixture("mlp_bn1d");
  std::vector<Tensor> batches = {RandomInput(Shape{5, 20}, 6, -3.0f), RandomInput(Shape{5, 20}, 7, 0.0f),
                                 RandomInput(Shape{5, 20}, 8, 3.0f)};
  auto run = [&](RecalibrationMode mode) {
    RecalibrationOptions options;
    options.mode = mode;
    options.reset = true;
    auto recal = Recalibrator::Create(model, model->file_stats(), options).value();
    for (const Tensor& b : batches) {
      const TensorView v = b.view();
      EXPECT_TRUE(recal->AddBatch({&v, 1}).ok());
    }
    return recal->Finish(nullptr).value();
  };
  const StatsSnapshot exact = run(RecalibrationMode::kExact);
  const StatsSnapshot population = run(RecalibrationMode::kPopulation);
  // BN1's input is Gemm(x): compute it through a statistics pass on the
  // concatenated batch, where BN1 sees all 15 rows at once.
  Tensor all(Shape{15, 20});
  for (int b = 0; b < 3; ++b) std::copy(batches[b].data.begin(), batches[b].data.end(), all.data.begin() + b * 100);
  auto plan = StatisticsPlan::Build(model, model->file_stats(), ForwardMode::kTrain).value();
  BatchStatsSink sink;
  const TensorView all_view = all.view();
  ASSERT_TRUE(plan->Run({&all_view, 1}, &sink).ok());
  double pooled_larger = 0;
  for (size_t c = 0; c < sink.layers[0].size(); ++c) {
    EXPECT_NEAR(exact.layers[0].mean[c], sink.layers[0][c].mean, 1e-9 * (1 + std::abs(sink.layers[0][c].mean)));
    EXPECT_NEAR(exact.layers[0].var[c], sink.layers[0][c].VarUnbiased(), 1e-9 * sink.layers[0][c].VarUnbiased());
    pooled_larger += exact.layers[0].var[c] > population.layers[0].var[c] ? 1 : 0;
  }
  // Batch means differ by 3 standard deviations: pooled variances are larger.
  EXPECT_GT(pooled_larger, 0.9 * sink.layers[0].size());
  EXPECT_EQ(exact.layers[0].sample_count, 15);
}

TEST(EngineTest, PlansAreSafeToShareBetweenThreads) {
  auto model = LoadFixture("resnet_block");
  auto plan = InferencePlan::Build(model, model->file_stats()).value();
  std::vector<Tensor> inputs;
  std::vector<std::vector<float>> expected;
  for (int i = 0; i < 4; ++i) {
    inputs.push_back(RandomInput(Shape{1 + i, 8, 12, 12}, 10 + i));
    const TensorView v = inputs.back().view();
    expected.push_back(plan->Run({&v, 1}).value()[0].ToVector());
  }
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int iter = 0; iter < 25; ++iter) {
        const int i = (t + iter) % 4;
        const TensorView v = inputs[i].view();
        auto out = plan->Run({&v, 1});
        if (!out.ok() || (*out)[0].ToVector() != expected[i]) ++mismatches;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// Threads split convolutions by image (batch >= threads) or inside an image
// (batch 1), and BN statistics by channel: no result may depend on it.
TEST(EngineTest, ThreadCountChangesNoStatisticNorOutput) {
  for (const std::string name : {"cnn_bn2d", "resnet_block", "mlp_bn1d"}) {
    auto model = LoadFixture(name);
    for (int64_t batch : {1, 2, 5}) {
      if (name == "mlp_bn1d" && batch == 1) continue;  // one value per channel: refused in train mode
      const Shape shape = name == "mlp_bn1d"   ? Shape{batch, 20}
                          : name == "cnn_bn2d" ? Shape{batch, 3, 16, 16}
                                               : Shape{batch, 8, 12, 12};
      const Tensor input = RandomInput(shape, 30 + static_cast<uint32_t>(batch));
      const TensorView view = input.view();
      for (ForwardMode mode : {ForwardMode::kTrain, ForwardMode::kEval}) {
        auto plan = StatisticsPlan::Build(model, model->file_stats(), mode).value();
        BatchStatsSink alone;
        WorkspacePool::Handle ws = plan->workspaces().Acquire();
        ASSERT_TRUE(plan->Run({&view, 1}, ws.get(), &alone).ok()) << name;
        const std::vector<float> alone_out = plan->output(*ws, 0).ToVector();
        for (int threads : {2, 3}) {
          const std::string label =
              absl::StrCat(name, " batch ", batch, " ", ForwardModeName(mode), " threads ", threads);
          ThreadPool pool(threads);
          BatchStatsSink split;
          WorkspacePool::Handle ws2 = plan->workspaces().Acquire();
          ASSERT_TRUE(plan->Run({&view, 1}, ws2.get(), &split, &pool).ok()) << label;
          EXPECT_EQ(plan->output(*ws2, 0).ToVector(), alone_out) << label;
          ASSERT_EQ(split.layers.size(), alone.layers.size()) << label;
          for (size_t l = 0; l < alone.layers.size(); ++l) {
            ASSERT_EQ(split.layers[l].size(), alone.layers[l].size()) << label;
            for (size_t c = 0; c < alone.layers[l].size(); ++c) {
              EXPECT_EQ(split.layers[l][c].count, alone.layers[l][c].count) << label << " layer " << l;
              EXPECT_EQ(split.layers[l][c].mean, alone.layers[l][c].mean) << label << " layer " << l;
              EXPECT_EQ(split.layers[l][c].m2, alone.layers[l][c].m2) << label << " layer " << l;
            }
          }
        }
      }
      auto plan = InferencePlan::Build(model, model->file_stats()).value();
      const std::vector<float> alone = plan->Run({&view, 1}).value()[0].ToVector();
      for (int threads : {2, 3}) {
        ThreadPool pool(threads);
        EXPECT_EQ(plan->Run({&view, 1}, &pool).value()[0].ToVector(), alone)
            << name << " batch " << batch << " threads " << threads;
      }
    }
  }
}

TEST(EngineTest, EachSampleOfABatchEqualsItsBatchOfOneOutput) {
  auto model = LoadFixture("cnn_bn2d");
  auto plan = InferencePlan::Build(model, model->file_stats()).value();
  const Tensor batch = RandomInput(Shape{5, 3, 16, 16}, 20);
  const TensorView bv = batch.view();
  const Tensor out = plan->Run({&bv, 1}).value()[0];
  const int64_t in_size = 3 * 16 * 16, out_size = out.size() / 5;
  for (int n = 0; n < 5; ++n) {
    const TensorView one{Shape{1, 3, 16, 16}, batch.data.data() + n * in_size};
    const Tensor single = plan->Run({&one, 1}).value()[0];
    for (int64_t k = 0; k < out_size; ++k) {
      EXPECT_NEAR(single.data[k], out.data[n * out_size + k], 1e-5 * (1 + std::abs(single.data[k])));
    }
  }
}

// x [N,3,4,6,5] -> BatchNorm3d "bn0" -> Conv3d 3x3x3 (pads 1, no bias) ->
// BatchNorm3d "bn1" -> Relu: the video networks' unit, small.
std::shared_ptr<const Model> Conv3dBnModel() {
  std::vector<float> w(4 * 3 * 27);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.2f * std::sin(0.7f * static_cast<float>(i));
  const std::string bytes =
      OnnxBuilder(13)
          .Input("x", {"batch", 3, 4, 6, 5})
          .Output("y", {"batch", 4, 4, 6, 5})
          .BatchNorm("bn0", "x", "n0", {1.2f, 0.8f, 1.1f}, {0.1f, -0.2f, 0.3f}, {0.5f, -0.4f, 0.2f}, {1.5f, 0.7f, 2.0f})
          .Initializer("w", {4, 3, 3, 3, 3}, w)
          .Node("Conv", {"n0", "w"}, {"c"}, "conv")
          .AttrInts("pads", {1, 1, 1, 1, 1, 1})
          .BatchNorm("bn1", "c", "n1", {0.9f, 1.3f, 0.6f, 1.0f}, {0.2f, 0.0f, -0.1f, 0.4f}, {0.3f, -0.6f, 0.1f, 0.0f},
                     {0.8f, 1.7f, 0.5f, 1.1f})
          .Node("Relu", {"n1"}, {"y"}, "relu")
          .Bytes();
  auto model = Model::LoadFromBytes(bytes, "");
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

TEST(EngineTest, Rank5BatchNormFoldsAndItsStatisticsCoverEveryFrame) {
  std::shared_ptr<const Model> model = Conv3dBnModel();
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(model->bn_layers().size(), 2u);
  const Tensor x = RandomInput(Shape{2, 3, 4, 6, 5}, 40, 0.5f, 2.0f);
  const TensorView view = x.view();

  // The folded plan (BN into the Conv, BN on the input as a channel affine)
  // computes what the plain one does.
  const Tensor folded =
      InferencePlan::Build(model, model->file_stats(), PlanOptions{true}).value()->Run({&view, 1}).value()[0];
  const Tensor plain =
      InferencePlan::Build(model, model->file_stats(), PlanOptions{false}).value()->Run({&view, 1}).value()[0];
  ASSERT_EQ(folded.shape, (Shape{2, 4, 4, 6, 5}));
  ASSERT_EQ(plain.shape, folded.shape);
  for (int64_t i = 0; i < folded.size(); ++i) {
    EXPECT_NEAR(folded.data[i], plain.data[i], 1e-5 * (1 + std::abs(plain.data[i]))) << i;
  }

  // bn0's batch statistics: every (image, frame, row, column) of a channel,
  // against a float64 two-pass loop; with threads, the same bits.
  auto plan = StatisticsPlan::Build(model, model->file_stats(), ForwardMode::kTrain).value();
  BatchStatsSink sink;
  WorkspacePool::Handle ws = plan->workspaces().Acquire();
  ASSERT_TRUE(plan->Run({&view, 1}, ws.get(), &sink).ok());
  ASSERT_EQ(sink.layers.size(), 2u);
  const int64_t volume = 4 * 6 * 5;
  for (int64_t c = 0; c < 3; ++c) {
    double mean = 0.0, m2 = 0.0;
    for (int64_t n = 0; n < 2; ++n) {
      for (int64_t i = 0; i < volume; ++i) mean += x.data[(n * 3 + c) * volume + i];
    }
    mean /= 2.0 * volume;
    for (int64_t n = 0; n < 2; ++n) {
      for (int64_t i = 0; i < volume; ++i) {
        const double d = x.data[(n * 3 + c) * volume + i] - mean;
        m2 += d * d;
      }
    }
    EXPECT_EQ(sink.layers[0][c].count, 2 * volume);
    EXPECT_NEAR(sink.layers[0][c].mean, mean, 1e-12 * (1 + std::abs(mean)));
    EXPECT_NEAR(sink.layers[0][c].m2, m2, 1e-10 * m2);
  }
  for (const ChannelMoments& m : sink.layers[1]) EXPECT_EQ(m.count, 2 * volume);
  ThreadPool pool(2);
  BatchStatsSink split;
  WorkspacePool::Handle ws2 = plan->workspaces().Acquire();
  ASSERT_TRUE(plan->Run({&view, 1}, ws2.get(), &split, &pool).ok());
  for (size_t l = 0; l < 2; ++l) {
    for (size_t c = 0; c < sink.layers[l].size(); ++c) {
      EXPECT_EQ(split.layers[l][c].mean, sink.layers[l][c].mean) << "layer " << l;
      EXPECT_EQ(split.layers[l][c].m2, sink.layers[l][c].m2) << "layer " << l;
    }
  }
}

TEST(EngineTest, MomentsOfTheSeedExampleAreFloat64Exact) {
  // NHWC [2,4,4,3] over axes {0,1,2}: 3 means and variances, compared with a
  // float64 two-pass loop. Data centered at 1e4 with std 1 (bn-semantics §7).
  const Tensor x = RandomInput(Shape{2, 4, 4, 3}, 30, 1e4f, 1.0f);
  auto m = ComputeMoments(x.view(), {0, 1, 2}, false).value();
  ASSERT_EQ(m.mean.size(), 3u);
  for (int c = 0; c < 3; ++c) {
    double mean = 0, m2 = 0;
    for (int i = 0; i < 32; ++i) mean += x.data[i * 3 + c];
    mean /= 32;
    for (int i = 0; i < 32; ++i) m2 += (x.data[i * 3 + c] - mean) * (x.data[i * 3 + c] - mean);
    EXPECT_NEAR(m.mean[c], mean, 1e-9 * mean);
    EXPECT_NEAR(m.variance[c], m2 / 32, 1e-6 * m2 / 32);
  }
}

}  // namespace
}  // namespace bnserve
