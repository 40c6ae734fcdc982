// Memory bounds of the serving path (issue 5, target 5), measured in
// process with a counting operator new (live bytes and their peak, sized
// with malloc_usable_size), which is deterministic where RSS is not:
// - loading a model holds at most k x its weight bytes + C, with k the
//   copies the design needs (below) and C a fixed allowance for graph
//   structure, names, op objects and the protobuf skeleton;
// - a statistics plan shares the weights it does not pack (Gemm/MatMul);
// - a recalibration stream of 10,000 batches peaks no higher than one of 10
//   and leaves nothing behind.
// Loading goes through ModelManager, as the server does. One-off costs
// (protobuf descriptors, the op registry, the logger) are paid by a warm-up
// load before anything is measured.
#include <malloc.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "core/serving/model_manager.h"
#include "gtest/gtest.h"
#include "tests/test_util/onnx_builder.h"
#include "tests/test_util/scoped_temp_dir.h"
#include "tests/test_util/test_util.h"

namespace {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void Count(void* p) {
  const int64_t live =
      g_live.fetch_add(static_cast<int64_t>(malloc_usable_size(p))) + static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
}

void Uncount(void* p) {
  if (p != nullptr) g_live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)));
}

}  // namespace

// The replacements pair malloc with free, which GCC cannot see through.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  Count(p);
  return p;
}
void operator delete(void* p) noexcept {
  Uncount(p);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  Uncount(p);
  std::free(p);
}
#pragma GCC diagnostic pop

namespace bnserve {
namespace {

using testing::OnnxBuilder;

constexpr int64_t kKiB = 1024;

// Live bytes now, and a fresh peak window starting now.
int64_t LiveBytes() { return g_live.load(); }
void ResetPeak() { g_peak.store(g_live.load()); }
int64_t PeakBytes() { return g_peak.load(); }

std::vector<float> Wave(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.7f * static_cast<float>(i) + 0.3f);
  return v;
}

std::vector<float> Filled(int64_t n, float value) { return std::vector<float>(static_cast<size_t>(n), value); }

// x[batch, width] -> (Gemm -> BN -> Relu) x 2: two width x width weights.
std::string GemmModel(int64_t width) {
  OnnxBuilder b(15);
  b.Input("x", {"batch", width}).Output("y", {"batch", width});
  const std::string in[2] = {"x", "r1"};
  for (int l = 0; l < 2; ++l) {
    const std::string n = std::to_string(l + 1);
    b.Initializer("fc" + n + ".weight", {width, width}, Wave(width * width, 0.05f));
    b.Initializer("fc" + n + ".bias", {width}, Wave(width, 0.1f));
    b.Node("Gemm", {in[l], "fc" + n + ".weight", "fc" + n + ".bias"}, {"g" + n}, "fc" + n).AttrInt("transB", 1);
    b.BatchNorm("bn" + n, "g" + n, "b" + n, Filled(width, 1.5f), Filled(width, 0.1f), Wave(width, 0.2f),
                Filled(width, 2.0f));
    b.Node("Relu", {"b" + n}, {l == 0 ? "r1" : "y"}, "relu" + n);
  }
  return b.Bytes();
}

// x[batch, c, 16, 16] -> (Conv3x3 pad 1 -> BN -> Relu) x 2, c -> c channels.
std::string ConvModel(int64_t c) {
  OnnxBuilder b(15);
  b.Input("x", {"batch", c, 16, 16}).Output("y", {"batch", c, 16, 16});
  const std::string in[2] = {"x", "r1"};
  for (int l = 0; l < 2; ++l) {
    const std::string n = std::to_string(l + 1);
    b.Initializer("conv" + n + ".weight", {c, c, 3, 3}, Wave(c * c * 9, 0.05f));
    b.Node("Conv", {in[l], "conv" + n + ".weight"}, {"c" + n}, "conv" + n)
        .AttrInts("kernel_shape", {3, 3})
        .AttrInts("pads", {1, 1, 1, 1});
    b.BatchNorm("bn" + n, "c" + n, "b" + n, Filled(c, 1.5f), Filled(c, 0.1f), Wave(c, 0.2f), Filled(c, 2.0f));
    b.Node("Relu", {"b" + n}, {l == 0 ? "r1" : "y"}, "relu" + n);
  }
  return b.Bytes();
}

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelManagerOptions options;
    options.repository = dir_.path();
    auto manager = ModelManager::Create(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    // Warm-up: pays the process's one-off allocations.
    AddModel("warmup", GemmModel(8));
    ASSERT_TRUE(manager_->Load("warmup").ok());
  }

  void AddModel(const std::string& name, const std::string& bytes) {
    std::filesystem::create_directories(dir_.path() + "/" + name);
    testing::WriteTestFile(dir_.path() + "/" + name + "/model.onnx", bytes);
  }

  // Live bytes the loaded model holds (load minus the state before it);
  // prints them and the peak during the load next to `weights`.
  int64_t LoadGrowth(const std::string& name, int64_t weights) {
    const int64_t before = LiveBytes();
    ResetPeak();
    auto status = manager_->Load(name);
    EXPECT_TRUE(status.ok()) << status.status();
    const int64_t peak = PeakBytes() - before;
    const int64_t growth = LiveBytes() - before;
    std::printf("%s model: weights %lld KiB, held after load %lld KiB (%.2fx), peak during load %lld KiB (%.2fx)\n",
                name.c_str(), static_cast<long long>(weights / kKiB), static_cast<long long>(growth / kKiB),
                static_cast<double>(growth) / weights, static_cast<long long>(peak / kKiB),
                static_cast<double>(peak) / weights);
    return growth;
  }

  testing::ScopedTempDir dir_;
  std::unique_ptr<ModelManager> manager_;
};

// Gemm weights are held twice: unfolded in the model's graph (new
// statistics are folded from it at every commit; statistics passes and
// export read it) and folded into the plan. Before the weights were shared
// this model held about 7 copies (protobuf, graph, the plan's graph copy,
// the folded float32 + float64 values, the Gemm op's own copy).
TEST_F(MemoryTest, GemmModelHoldsTwoCopiesOfItsWeights) {
  constexpr int64_t kWidth = 768;
  const int64_t weights = 2 * kWidth * kWidth * 4;  // 4.5 MiB; BN and bias vectors are 1/768 of it
  AddModel("gemm", GemmModel(kWidth));
  const int64_t growth = LoadGrowth("gemm", weights);
  // C = 256 KiB: graph and node structures, names, op objects, the protobuf
  // skeleton, BN vectors (tens of KiB here); the weights dominate k.
  EXPECT_LE(growth, 2 * weights + 256 * kKiB);
}

// Conv weights: the model's unfolded copy, plus the plan's packed folded
// copies: the direct window GEMM's (W, padded to whole tiles) and, for 3x3
// stride-1 convolutions, Winograd's transformed U (16/9 of W): k = 1 + 1 +
// 16/9, about 3.8.
TEST_F(MemoryTest, ConvModelHoldsItsPackedCopiesOnly) {
  constexpr int64_t kChannels = 128;
  const int64_t weights = 2 * kChannels * kChannels * 9 * 4;  // 1.1 MiB
  AddModel("conv", ConvModel(kChannels));
  const int64_t growth = LoadGrowth("conv", weights);
  EXPECT_LE(growth, 4 * weights + 256 * kKiB);
}

// A statistics plan (GetBatchStats, recalibration) is built once per
// version and mode; for a Gemm model it shares every weight with the model.
TEST_F(MemoryTest, StatisticsPlanSharesGemmWeights) {
  constexpr int64_t kWidth = 768;
  const int64_t weights = 2 * kWidth * kWidth * 4;
  AddModel("gemm", GemmModel(kWidth));
  ASSERT_TRUE(manager_->Load("gemm").ok());
  Tensor x(Shape{4, kWidth}, Wave(4 * kWidth, 1.0f));
  const TensorView view = x.view();
  // A query on a twin model first: it grows the calling thread's GEMM
  // packing buffer (core/engine/kernels/sgemm.cc), whose size follows the
  // CPU's cache sizes and belongs to the thread, not to any plan.
  AddModel("twin", GemmModel(kWidth));
  ASSERT_TRUE(manager_->Load("twin").ok());
  ASSERT_TRUE(
      manager_->BatchStatistics("twin", VersionRequest::Current(), {&view, 1}, ForwardMode::kTrain, false).ok());
  // The first query builds the plan (and a workspace for a batch of 4).
  const int64_t before = LiveBytes();
  auto first = manager_->BatchStatistics("gemm", VersionRequest::Current(), {&view, 1}, ForwardMode::kTrain, false);
  ASSERT_TRUE(first.ok()) << first.status();
  first = absl::InternalError("released");
  const int64_t plan_bytes = LiveBytes() - before;
  std::printf("statistics plan of the gemm model: %lld KiB for %lld KiB of weights\n",
              static_cast<long long>(plan_bytes / kKiB), static_cast<long long>(weights / kKiB));
  EXPECT_LE(plan_bytes, weights / 8 + 256 * kKiB);
  // Later queries reuse it: nothing more is held.
  const int64_t after_first = LiveBytes();
  for (int i = 0; i < 5; ++i) {
    auto report = manager_->BatchStatistics("gemm", VersionRequest::Current(), {&view, 1}, ForwardMode::kTrain, false);
    ASSERT_TRUE(report.ok()) << report.status();
  }
  EXPECT_EQ(LiveBytes(), after_first);
}

// One recalibration stream of `batches` batches of 8, dry run; returns the
// peak live-byte growth while it ran and sets *held to what it left behind.
int64_t StreamPeak(ModelManager* manager, const Shape& batch_shape, int batches, int64_t* held) {
  Tensor x(batch_shape);
  const int64_t before = LiveBytes();
  ResetPeak();
  {
    RecalibrationRequest request;
    request.dry_run = true;
    auto session = manager->StartRecalibration("mlp", request);
    EXPECT_TRUE(session.ok()) << session.status();
    if (!session.ok()) return -1;
    for (int b = 0; b < batches; ++b) {
      for (int64_t i = 0; i < x.size(); ++i) x.data[i] = std::sin(0.37f * static_cast<float>(i) + 0.01f * b);
      const TensorView view = x.view();
      absl::Status s = (*session)->AddBatch({&view, 1});
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return -1;
    }
    auto outcome = (*session)->Finish();
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(outcome->summary.batches, batches);
  }
  *held = LiveBytes() - before;
  return PeakBytes() - before;
}

TEST_F(MemoryTest, RecalibrationStreamMemoryDoesNotGrowWithBatches) {
  std::filesystem::create_directories(dir_.path() + "/mlp");
  std::filesystem::copy_file(testing::FixturePath("torch/mlp_bn1d.onnx"), dir_.path() + "/mlp/model.onnx");
  ASSERT_TRUE(manager_->Load("mlp").ok());
  auto description = manager_->Describe("mlp");
  ASSERT_TRUE(description.ok()) << description.status();
  Shape shape{8};
  for (const Dim& d : description->bundle->model->graph().inputs[0].dims) {
    if (!d.symbolic()) shape.push_back(d.size);
  }
  int64_t held = 0;
  StreamPeak(manager_.get(), shape, 10, &held);  // warm-up: builds the bundle's statistics plan
  int64_t held_10 = 0, held_10000 = 0;
  const int64_t peak_10 = StreamPeak(manager_.get(), shape, 10, &held_10);
  const int64_t peak_10000 = StreamPeak(manager_.get(), shape, 10000, &held_10000);
  std::printf("recalibration stream: peak growth %lld bytes for 10 batches, %lld bytes for 10,000\n",
              static_cast<long long>(peak_10), static_cast<long long>(peak_10000));
  EXPECT_EQ(peak_10000, peak_10);
  EXPECT_EQ(held_10, 0);
  EXPECT_EQ(held_10000, 0);
}

}  // namespace
}  // namespace bnserve
