// Engine benchmarks (Google Benchmark): folded inference at batch 1 and 64
// with 1 and 2 intra-op threads, the train-mode statistics pass and one
// recalibration step, GetBatchStats' query with and without the bundle's
// cached statistics plan, on the models tests/bench/gen_bench_models.py writes
// to tests/bench/models/ (MLP, CIFAR CNN, resnet18, r3d_18; mobilenet_v3_large,
// efficientnet_b0 and deeplabv3_mobilenet_v3_large at batch 1 inference
// only, issue 12's rows). A model file that is missing is skipped with a
// note.
//   build/tests/bench/engine_bench [--benchmark_repetitions=3]
// With threads:2, compare real time (CPU time counts the calling thread only).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/engine/inference_plan.h"
#include "core/engine/statistics_plan.h"
#include "core/model/model.h"
#include "core/serving/batch_stats_query.h"
#include "core/serving/recalibrator.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace {

std::string ModelPath(const std::string& name) {
  return std::string(BNSERVE_SOURCE_DIR) + "/tests/bench/models/" + name + ".onnx";
}

// Input shape with the batch dimension set to `batch`.
Shape InputShape(const Model& model, int64_t batch) {
  Shape shape;
  for (const Dim& d : model.graph().inputs[0].dims) shape.push_back(d.symbolic() ? batch : d.size);
  shape[0] = batch;
  return shape;
}

Tensor MakeInput(const Shape& shape) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t.data[i] = 0.5f * std::sin(0.37f * static_cast<float>(i));
  return t;
}

// A pool only above one thread, as ModelManager does.
std::unique_ptr<ThreadPool> MakePool(int threads) {
  return threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
}

void BM_Predict(benchmark::State& state, std::shared_ptr<const Model> model, int64_t batch, int threads) {
  auto plan = InferencePlan::Build(model, model->file_stats()).value();
  const std::unique_ptr<ThreadPool> pool = MakePool(threads);
  const Tensor input = MakeInput(InputShape(*model, batch));
  const TensorView view = input.view();
  WorkspacePool::Handle ws = plan->workspaces().Acquire();
  for (auto _ : state) {
    absl::Status st = plan->Run({&view, 1}, ws.get(), pool.get());
    if (!st.ok()) state.SkipWithError(std::string(st.message()).c_str());
    benchmark::ClobberMemory();
  }
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_StatisticsPass(benchmark::State& state, std::shared_ptr<const Model> model, int64_t batch, int threads) {
  auto plan = StatisticsPlan::Build(model, model->file_stats(), ForwardMode::kTrain).value();
  std::unique_ptr<ThreadPool> pool = MakePool(threads);
  const Tensor input = MakeInput(InputShape(*model, batch));
  const TensorView view = input.view();
  WorkspacePool::Handle ws = plan->workspaces().Acquire();
  BatchStatsSink sink;
  for (auto _ : state) {
    absl::Status st = plan->Run({&view, 1}, ws.get(), &sink, pool.get());
    if (!st.ok()) state.SkipWithError(std::string(st.message()).c_str());
  }
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_RecalibrationStep(benchmark::State& state, std::shared_ptr<const Model> model, int64_t batch, int threads) {
  std::unique_ptr<ThreadPool> pool = MakePool(threads);
  auto recal = Recalibrator::Create(model, model->file_stats(), RecalibrationOptions{}, nullptr, pool.get()).value();
  const Tensor input = MakeInput(InputShape(*model, batch));
  const TensorView view = input.view();
  for (auto _ : state) {
    absl::Status st = recal->AddBatch({&view, 1});
    if (!st.ok()) state.SkipWithError(std::string(st.message()).c_str());
  }
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// GetBatchStats' core (ComputeBatchStats) on a served bundle. cached: the
// bundle's statistics plan is built once and reused, as served now;
// uncached: a fresh copy of the bundle per query (a copy's plan cache starts
// empty), i.e. the plan is built for every request as before the cache.
void BM_BatchStatsQuery(benchmark::State& state, std::shared_ptr<const Model> model, int64_t batch, bool cached) {
  auto plan = InferencePlan::Build(model, model->file_stats()).value();
  const ServingBundle bundle{model, model->file_stats(), plan, VersionInfo{}};
  const Tensor input = MakeInput(InputShape(*model, batch));
  const TensorView view = input.view();
  for (auto _ : state) {
    absl::StatusOr<BatchStatsReport> report;
    if (cached) {
      report = ComputeBatchStats(bundle, {&view, 1}, ForwardMode::kTrain, true);
    } else {
      const ServingBundle fresh = bundle;
      report = ComputeBatchStats(fresh, {&view, 1}, ForwardMode::kTrain, true);
    }
    if (!report.ok()) state.SkipWithError(std::string(report.status().message()).c_str());
    benchmark::DoNotOptimize(report);
  }
}

void RegisterAll() {
  for (const std::string name : {"mlp", "cnn", "resnet18", "r3d_18", "mobilenet_v3_large", "efficientnet_b0",
                                 "deeplabv3_mobilenet_v3_large"}) {
    auto model = Model::LoadFromFile(ModelPath(name));
    if (!model.ok()) {
      std::fprintf(stderr, "skipping %s: %s (run tests/bench/gen_bench_models.py)\n", name.c_str(),
                   std::string(model.status().message()).c_str());
      continue;
    }
    std::shared_ptr<const Model> m = *model;
    if (name == "r3d_18") {  // a video clip: prediction at batch 1 only, which already takes a second
      for (int threads : {1, 2}) {
        benchmark::RegisterBenchmark(("predict/r3d_18/batch:1/threads:" + std::to_string(threads)).c_str(),
                                     BM_Predict, m, 1, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
      continue;
    }
    // The torchvision architectures: their batch-1 forward next to ONNX
    // Runtime's, nothing else.
    const bool batch1_only = name != "mlp" && name != "cnn" && name != "resnet18";
    for (int threads : {1, 2}) {
      for (int64_t batch : {int64_t{1}, int64_t{64}}) {
        if (name == "resnet18" && batch == 64) batch = 16;  // keeps a run short; still reports samples/s
        if (batch1_only && batch != 1) continue;
        const std::string label =
            "predict/" + name + "/batch:" + std::to_string(batch) + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(label.c_str(), BM_Predict, m, batch, threads)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
    for (int threads : {1, 2}) {
      if (name == "resnet18" || batch1_only) break;
      const std::string suffix = "/batch:64/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("statistics_pass/" + name + suffix).c_str(), BM_StatisticsPass, m, 64, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("recalibration_step/" + name + suffix).c_str(), BM_RecalibrationStep, m, 64,
                                   threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
    if (batch1_only) continue;
    for (bool cached : {false, true}) {
      const int64_t batch = name == "resnet18" ? 2 : 8;
      benchmark::RegisterBenchmark(("batch_stats_query/" + name + "/batch:" + std::to_string(batch) +
                                    (cached ? "/cached_plan" : "/plan_per_request"))
                                       .c_str(),
                                   BM_BatchStatsQuery, m, batch, cached)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace bnserve

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  bnserve::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
