// bnserve's counterpart of tests/bench/ort/ort_bench.js: the median (and
// 10th/90th percentile) wall-clock latency of one InferencePlan::Run on one
// model at a given batch size and intra-op thread count, measured the same
// way (20 warm-up runs, then runs for SECONDS, per-run times sorted), so the
// two can be compared line for line on a noisy machine. engine_bench
// reports a mean over iterations instead, which a single preemption skews.
//   build/tests/bench/latency_bench MODEL.onnx BATCH THREADS [SECONDS]
// Prints one JSON line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/inference_plan.h"
#include "core/model/model.h"

namespace bnserve {
namespace {

int Main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.onnx BATCH THREADS [SECONDS]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int64_t batch = std::atoll(argv[2]);
  const int threads = std::atoi(argv[3]);
  const double seconds = argc > 4 ? std::atof(argv[4]) : 2.0;
  auto model = Model::LoadFromFile(path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  auto plan = InferencePlan::Build(*model, (*model)->file_stats());
  // Intra-op threads as bnserve's --intra-op-threads gives them.
  std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  if (!plan.ok()) {
    std::fprintf(stderr, "%s\n", std::string(plan.status().message()).c_str());
    return 1;
  }
  // Input as ort_bench.js builds it: the declared shape with the batch dim
  // set, filled with sin(0.37 i) / 2.
  Shape shape;
  for (const Dim& d : (*model)->graph().inputs[0].dims) shape.push_back(d.symbolic() ? batch : d.size);
  shape[0] = batch;
  Tensor input(shape);
  for (int64_t i = 0; i < input.size(); ++i) input.data[i] = 0.5f * std::sin(0.37f * static_cast<float>(i));
  const TensorView view = input.view();
  WorkspacePool::Handle ws = (*plan)->workspaces().Acquire();

  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 20; ++i) {
    if (!(*plan)->Run({&view, 1}, ws.get(), pool.get()).ok()) return 1;
  }
  std::vector<double> times_us;
  const Clock::time_point end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end || times_us.size() < 10) {
    const Clock::time_point t0 = Clock::now();
    if (!(*plan)->Run({&view, 1}, ws.get(), pool.get()).ok()) return 1;
    times_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(times_us.begin(), times_us.end());
  auto quantile = [&](double q) {
    return times_us[std::min(times_us.size() - 1, static_cast<size_t>(q * static_cast<double>(times_us.size())))];
  };
  std::printf(
      "{\"peer\":\"bnserve\",\"model\":\"%s\",\"batch\":%lld,\"threads\":%d,\"runs\":%zu,\"median_us\":%.3f,"
      "\"p10_us\":%.3f,\"p90_us\":%.3f}\n",
      path.c_str(), static_cast<long long>(batch), threads, times_us.size(), quantile(0.5), quantile(0.1),
      quantile(0.9));
  return 0;
}

}  // namespace
}  // namespace bnserve

int main(int argc, char** argv) { return bnserve::Main(argc, argv); }
