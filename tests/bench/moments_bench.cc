// ComputeMoments on the two layouts the service reduces most (NHWC over
// {0,1,2} and NCHW over {0,2,3}, 33.5 MB each), next to a "read once"
// baseline: a vectorizable float32 sum of the same tensor. The ratio of the
// two is the figure of merit (target <= 2x, ideally 1.5x).
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/graph/tensor.h"
#include "core/stats/channel_moments.h"
#include "core/stats/moment_reduction.h"
#include "core/stats/moments.h"

namespace bnserve {
namespace {

Tensor MakeTensor(const Shape& shape) {
  Tensor t(shape);
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(3.0f, 2.0f);
  for (float& v : t.data) v = dist(rng);
  return t;
}

const Tensor& Nhwc() {
  static const Tensor* t = new Tensor(MakeTensor(Shape{128, 32, 32, 64}));
  return *t;
}

const Tensor& Nchw() {
  static const Tensor* t = new Tensor(MakeTensor(Shape{128, 64, 32, 32}));
  return *t;
}

void SetBytes(benchmark::State& state, const Tensor& t) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * t.size() * static_cast<int64_t>(sizeof(float)));
}

// Lower bound: one pass over the tensor doing the least useful work. Sixteen
// independent float32 lanes so the compiler vectorizes it without -ffast-math.
void BM_ReadOnceSum(benchmark::State& state) {
  const Tensor& t = Nhwc();
  constexpr int kLanes = 16;
  for (auto _ : state) {
    float acc[kLanes] = {};
    const float* x = t.data.data();
    const int64_t n = t.size();
    for (int64_t i = 0; i + kLanes <= n; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];
    }
    float total = 0.0f;
    for (float a : acc) total += a;
    benchmark::DoNotOptimize(total);
  }
  SetBytes(state, t);
}
BENCHMARK(BM_ReadOnceSum)->Unit(benchmark::kMillisecond);

void BM_MomentsNhwc(benchmark::State& state) {
  const Tensor& t = Nhwc();
  const std::vector<int64_t> axes = {0, 1, 2};
  for (auto _ : state) {
    auto result = ComputeMoments(t.view(), axes, /*keep_dims=*/false);
    benchmark::DoNotOptimize(result);
  }
  SetBytes(state, t);
}
BENCHMARK(BM_MomentsNhwc)->Unit(benchmark::kMillisecond);

void BM_MomentsNchw(benchmark::State& state) {
  const Tensor& t = Nchw();
  const std::vector<int64_t> axes = {0, 2, 3};
  for (auto _ : state) {
    auto result = ComputeMoments(t.view(), axes, /*keep_dims=*/false);
    benchmark::DoNotOptimize(result);
  }
  SetBytes(state, t);
}
BENCHMARK(BM_MomentsNchw)->Unit(benchmark::kMillisecond);

// BatchNorm input with a small spatial extent ([N,C,2,2] after a few
// poolings), which takes the column path instead of contiguous runs.
void BM_ChannelMomentsSmallSpatial(benchmark::State& state) {
  static const Tensor* t = new Tensor(MakeTensor(Shape{8192, 256, 2, 2}));
  std::vector<ChannelMoments> moments;
  for (auto _ : state) {
    ComputeChannelMoments(t->view(), &moments);
    benchmark::DoNotOptimize(moments.data());
  }
  SetBytes(state, *t);
}
BENCHMARK(BM_ChannelMomentsSmallSpatial)->Unit(benchmark::kMillisecond);

// The same two reductions through each instruction-set variant this CPU
// runs (argument: MomentKernelIsa), to see what machines without AVX-512 get.
void BM_ReduceNhwcByIsa(benchmark::State& state) {
  const auto isa = static_cast<MomentKernelIsa>(state.range(0));
  if (!MomentKernelsSupported(isa)) {
    state.SkipWithError("instruction set not supported here");
    return;
  }
  const Tensor& t = Nhwc();
  std::vector<ChannelMoments> moments;
  for (auto _ : state) {
    ReduceMoments(t.view(), /*reduced_axes=*/0b0111, GetMomentKernels(isa), &moments);
    benchmark::DoNotOptimize(moments.data());
  }
  SetBytes(state, t);
}
BENCHMARK(BM_ReduceNhwcByIsa)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

void BM_ReduceNchwByIsa(benchmark::State& state) {
  const auto isa = static_cast<MomentKernelIsa>(state.range(0));
  if (!MomentKernelsSupported(isa)) {
    state.SkipWithError("instruction set not supported here");
    return;
  }
  const Tensor& t = Nchw();
  std::vector<ChannelMoments> moments;
  for (auto _ : state) {
    ReduceMoments(t.view(), /*reduced_axes=*/0b1101, GetMomentKernels(isa), &moments);
    benchmark::DoNotOptimize(moments.data());
  }
  SetBytes(state, t);
}
BENCHMARK(BM_ReduceNchwByIsa)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bnserve

BENCHMARK_MAIN();
