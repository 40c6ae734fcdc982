// Throughput of the compute kernels: Sgemm at the shapes the target models
// produce (MLP 784-512-256-10 layers, im2col products of 3x3 convolutions),
// each instruction-set variant of it, and whole Conv ops built through
// the registry. Single-threaded, batch 1 unless named. Reports GFLOP/s.
//
//   build/tests/bench/kernels_bench --benchmark_repetitions=3
//     --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "core/engine/kernels/conv_kernel.h"
#include "core/engine/kernels/sgemm.h"
#include "core/engine/kernels/sgemm_kernel.h"
#include "core/engine/op.h"
#include "core/engine/ops/conv_geometry.h"
#include "core/engine/ops/direct_conv.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/winograd_conv.h"
#include "core/graph/graph.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace {

std::vector<float> Filled(int64_t count, float seed) {
  std::vector<float> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[i] = static_cast<float>((i * 7919 + 13) % 1000) / 1000.0f - 0.5f + seed;
  return v;
}

void SetFlops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOPS"] = benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::OneK::kIs1000);
  state.counters["GFLOPS"].value /= 1e9;
}

// Args: m, n, k, trans_b.
void BM_Sgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const bool trans_b = state.range(3) != 0;
  const std::vector<float> a = Filled(m * k, 0.0f), b = Filled(k * n, 0.1f);
  std::vector<float> c(static_cast<size_t>(m * n));
  for (auto _ : state) {
    Sgemm(false, trans_b, m, n, k, 1.0f, a.data(), k, b.data(), trans_b ? k : n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(SgemmIsa());
  SetFlops(state, 2.0 * m * n * k);
}
// MLP 784-512-256-10 with nn.Linear weights ([out, in], transB = 1), batch 1 and 32.
BENCHMARK(BM_Sgemm)
    ->ArgNames({"m", "n", "k", "tb"})
    ->Args({1, 512, 784, 1})
    ->Args({1, 256, 512, 1})
    ->Args({1, 10, 256, 1})
    ->Args({1, 512, 784, 0})
    ->Args({32, 512, 784, 1})
    ->Args({32, 256, 512, 1})
    // im2col products: 3x3 conv 32->32 at 32x32, and 64->64 at 56x56.
    ->Args({32, 1024, 288, 0})
    ->Args({64, 3136, 576, 0});

// Each compiled variant this CPU supports. Args: variant index, m, n, k.
void BM_SgemmVariant(benchmark::State& state) {
  const sgemm_internal::KernelTable* tables[3];
  int count = 0;
  sgemm_internal::SupportedKernels(tables, &count);
  if (state.range(0) >= count) {
    state.SkipWithError("variant not supported on this CPU");
    return;
  }
  const sgemm_internal::KernelTable& table = *tables[state.range(0)];
  const int64_t m = state.range(1), n = state.range(2), k = state.range(3);
  const std::vector<float> a = Filled(m * k, 0.0f), b = Filled(k * n, 0.1f);
  std::vector<float> c(static_cast<size_t>(m * n));
  for (auto _ : state) {
    sgemm_internal::SgemmWith(table, false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(table.isa);
  SetFlops(state, 2.0 * m * n * k);
}
BENCHMARK(BM_SgemmVariant)
    ->ArgNames({"isa", "m", "n", "k"})
    ->ArgsProduct({{0, 1, 2}, {1}, {512}, {784}})
    ->ArgsProduct({{0, 1, 2}, {32}, {1024}, {288}});

Attribute Ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

// Runs a Conv (bias, fused Relu) built through the registry.
// Args: channels in, channels out, spatial size, kernel, stride, group.
void BM_Conv(benchmark::State& state) {
  const int64_t c_in = state.range(0), c_out = state.range(1), size = state.range(2);
  const int64_t kernel = state.range(3), stride = state.range(4), group = state.range(5);
  Graph graph;
  graph.opset = 13;
  ConstantTensor w_init;
  w_init.shape = Shape{c_out, c_in / group, kernel, kernel};
  w_init.floats = Filled(c_out * c_in / group * kernel * kernel, 0.0f);
  graph.SetInitializer("w", std::move(w_init));
  ConstantTensor b_init;
  b_init.shape = Shape{c_out};
  b_init.floats = Filled(c_out, 0.0f);
  graph.SetInitializer("b", std::move(b_init));
  Node node;
  node.name = "conv";
  node.op_type = "Conv";
  node.inputs = {"x", "w", "b"};
  node.outputs = {"y"};
  const int64_t pad = kernel / 2;
  node.attributes["pads"] = Ints({pad, pad, pad, pad});
  node.attributes["strides"] = Ints({stride, stride});
  node.attributes["group"].i = group;
  node.attributes[kFusedActivationAttr].kind = Attribute::Kind::kString;
  node.attributes[kFusedActivationAttr].s = "Relu";
  OpRegistry registry;
  RegisterConvOps(&registry);
  auto op = registry.Create(OpBuildContext{node, graph});
  if (!op.ok()) {
    state.SkipWithError(std::string(op.status().message()).c_str());
    return;
  }
  const Tensor x(Shape{1, c_in, size, size}, Filled(c_in * size * size, 0.0f));
  const ConstantTensor& w = *graph.FindInitializer("w");
  const ConstantTensor& b = *graph.FindInitializer("b");
  const TensorView inputs[3] = {x.view(), TensorView{w.shape, w.floats.data()}, TensorView{b.shape, b.floats.data()}};
  Tensor y;
  Tensor* outputs[1] = {&y};
  std::vector<float> scratch;
  OpContext ctx(inputs, 3, outputs, 1, &scratch, nullptr);
  for (auto _ : state) {
    if (!(*op)->Run(ctx).ok()) state.SkipWithError("Conv failed");
    benchmark::DoNotOptimize(y.data.data());
  }
  const int64_t out = (size + 2 * pad - kernel) / stride + 1;
  SetFlops(state, 2.0 * c_out * out * out * (c_in / group) * kernel * kernel);
}
BENCHMARK(BM_Conv)
    ->ArgNames({"cin", "cout", "hw", "k", "s", "g"})
    ->Args({3, 32, 32, 3, 1, 1})     // CIFAR CNN first layer
    ->Args({32, 32, 32, 3, 1, 1})    // CIFAR CNN 32 -> 32
    ->Args({32, 64, 16, 3, 1, 1})    // CIFAR CNN 32 -> 64 after pooling
    ->Args({64, 64, 56, 3, 1, 1})    // resnet18 layer1
    ->Args({3, 64, 224, 7, 2, 1})    // resnet18 stem
    ->Args({64, 128, 56, 1, 2, 1})   // resnet18 downsample 1x1 stride 2
    ->Args({64, 128, 56, 3, 2, 1})   // resnet18 layer2, first conv
    ->Args({128, 128, 28, 3, 1, 1})  // resnet18 layer2
    ->Args({256, 256, 14, 3, 1, 1})  // resnet18 layer3
    ->Args({256, 512, 14, 3, 2, 1})  // resnet18 layer4, first conv
    ->Args({512, 512, 7, 3, 1, 1})   // resnet18 layer4
    ->Args({256, 256, 14, 1, 1, 1})  // pointwise
    ->Args({64, 64, 56, 3, 1, 64});  // depthwise

// DirectConv against WinogradConv on one 3x3 stride-1 pad-1 image, with 1
// or 2 threads. Args: channels in, channels out, spatial size, algorithm (0
// direct, 1 Winograd), threads.
void BM_Conv3x3Algorithm(benchmark::State& state) {
  const int64_t c_in = state.range(0), c_out = state.range(1), size = state.range(2);
  const bool winograd = state.range(3) != 0;
  const int threads = static_cast<int>(state.range(4));
  const conv_internal::ConvKernels& kernels = conv_internal::SelectedConvKernels();
  if (winograd && !WinogradConv::Supported(kernels)) {
    state.SkipWithError("no Winograd transforms on this CPU");
    return;
  }
  const std::vector<float> w = Filled(c_out * c_in * 9, 0.0f), b = Filled(c_out, 0.0f);
  const std::vector<float> x = Filled(c_in * size * size, 0.0f);
  std::vector<float> y(static_cast<size_t>(c_out * size * size));
  WindowAttributes attrs;
  attrs.kernel[0] = attrs.kernel[1] = 3;
  attrs.pad_begin[0] = attrs.pad_begin[1] = attrs.pad_end[0] = attrs.pad_end[1] = 1;
  WindowGeometry g;
  const int64_t dims[2] = {size, size};
  if (!ComputeWindowGeometry(attrs, dims, &g).ok()) return;
  FusedActivation relu;
  relu.kind = FusedActivation::Kind::kRelu;
  std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  const DirectConv direct(w.data(), b.data(), c_out, c_in, 1, attrs.kernel, attrs.stride, attrs.dilation, attrs.depth,
                          relu);
  const WinogradConv wino(w.data(), b.data(), c_out, c_in, relu);
  std::vector<float> scratch(
      static_cast<size_t>(winograd ? wino.ScratchFloats(g, NumSlots(pool.get())) : direct.ScratchFloats(g)));
  for (auto _ : state) {
    if (winograd) {
      wino.Run(x.data(), g, y.data(), scratch.data(), pool.get());
    } else {
      direct.Run(x.data(), g, y.data(), scratch.data(), pool.get());
    }
    benchmark::DoNotOptimize(y.data());
  }
  SetFlops(state, 2.0 * c_out * c_in * 9 * size * size);
}
BENCHMARK(BM_Conv3x3Algorithm)
    ->ArgNames({"cin", "cout", "hw", "wino", "t"})
    ->ArgsProduct({{3, 8, 16}, {32}, {32}, {0, 1}, {1}})
    ->ArgsProduct({{32}, {32}, {32}, {0, 1}, {1, 2}})
    ->ArgsProduct({{32}, {64}, {16}, {0, 1}, {1, 2}})
    ->ArgsProduct({{64}, {64}, {16, 56}, {0, 1}, {1, 2}})
    ->ArgsProduct({{128}, {128}, {28}, {0, 1}, {1}})
    ->ArgsProduct({{256}, {256}, {14}, {0, 1}, {1}})
    ->ArgsProduct({{512}, {512}, {7}, {0, 1}, {1}})
    ->UseRealTime();

// Runs a MaxPool built through the registry on [1, C, size, size].
// Args: channels, spatial size, kernel, stride, pad.
void BM_MaxPool(benchmark::State& state) {
  const int64_t channels = state.range(0), size = state.range(1);
  const int64_t kernel = state.range(2), stride = state.range(3), pad = state.range(4);
  Graph graph;
  graph.opset = 13;
  Node node;
  node.name = "pool";
  node.op_type = "MaxPool";
  node.inputs = {"x"};
  node.outputs = {"y"};
  node.attributes["kernel_shape"] = Ints({kernel, kernel});
  node.attributes["strides"] = Ints({stride, stride});
  node.attributes["pads"] = Ints({pad, pad, pad, pad});
  OpRegistry registry;
  RegisterPoolOps(&registry);
  auto op = registry.Create(OpBuildContext{node, graph});
  if (!op.ok()) {
    state.SkipWithError(std::string(op.status().message()).c_str());
    return;
  }
  const Tensor x(Shape{1, channels, size, size}, Filled(channels * size * size, 0.0f));
  const TensorView inputs[1] = {x.view()};
  Tensor y;
  Tensor* outputs[1] = {&y};
  std::vector<float> scratch;
  OpContext ctx(inputs, 1, outputs, 1, &scratch, nullptr);
  for (auto _ : state) {
    if (!(*op)->Run(ctx).ok()) state.SkipWithError("MaxPool failed");
    benchmark::DoNotOptimize(y.data.data());
  }
}
BENCHMARK(BM_MaxPool)
    ->ArgNames({"c", "hw", "k", "s", "p"})
    ->Args({32, 32, 2, 2, 0})    // CIFAR CNN
    ->Args({64, 112, 3, 2, 1});  // resnet18 stem

// Runs a bilinear Resize (half_pixel, constant sizes, as segmentation
// exports end) built through the registry, [1, C, in, in] -> [1, C, out, out].
// Args: channels, input size, output size. Reports output values per second.
void BM_ResizeBilinear(benchmark::State& state) {
  const int64_t channels = state.range(0), in = state.range(1), out = state.range(2);
  Graph graph;
  graph.opset = 13;
  ConstantTensor sizes;
  sizes.dtype = DataType::kInt64;
  sizes.shape = Shape{4};
  sizes.ints = {1, channels, out, out};
  graph.SetInitializer("sizes", std::move(sizes));
  Node node;
  node.name = "resize";
  node.op_type = "Resize";
  node.inputs = {"x", "", "", "sizes"};
  node.outputs = {"y"};
  Attribute mode;
  mode.kind = Attribute::Kind::kString;
  mode.s = "linear";
  node.attributes["mode"] = mode;
  OpRegistry registry;
  RegisterResizeOps(&registry);
  auto op = registry.Create(OpBuildContext{node, graph});
  if (!op.ok()) {
    state.SkipWithError(std::string(op.status().message()).c_str());
    return;
  }
  const Tensor x(Shape{1, channels, in, in}, Filled(channels * in * in, 0.0f));
  const TensorView inputs[4] = {x.view(), TensorView{}, TensorView{}, TensorView{}};
  Tensor y;
  Tensor* outputs[1] = {&y};
  std::vector<float> scratch;
  OpContext ctx(inputs, 4, outputs, 1, &scratch, nullptr);
  for (auto _ : state) {
    if (!(*op)->Run(ctx).ok()) state.SkipWithError("Resize failed");
    benchmark::DoNotOptimize(y.data.data());
  }
  state.counters["values/s"] =
      benchmark::Counter(static_cast<double>(channels * out * out), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ResizeBilinear)
    ->ArgNames({"c", "in", "out"})
    ->Args({21, 65, 520})   // deeplabv3 / fcn at 520x520: the 1/8 map back to the input
    ->Args({21, 28, 224});  // lraspp at 224x224

}  // namespace
}  // namespace bnserve

BENCHMARK_MAIN();
