// Conv (ONNX opsets 1-22, float32, NCHW): 1-D, 2-D and 3-D convolution with
// groups, dilations, strides, explicit or automatic padding, an optional bias
// and a fused activation. W and B must be constant initializers; they are
// copied (and pre-packed) into the op when it is built.
//
// Algorithms, chosen per op from the geometry:
// - 2-D depthwise (one input channel per group, group > 1): a direct loop per
//   channel, accumulating tap by tap into the output plane;
// - 3x3, stride 1, undilated, ungrouped, with at least kMinWinogradChannels
//   input and output channels and an output of at least kMinWinogradTiles
//   2x2 patches, where the CPU has the kernels: WinogradConv
//   (core/engine/ops/winograd_conv.h), F(2x2, 3x3), 16 multiplies per 2x2 output
//   patch instead of 36;
// - otherwise DirectConv (core/engine/ops/direct_conv.h): per group, a GEMM whose B
//   operand is read in place from a zero-padded, stride-phase-split copy of
//   the input, so no im2col matrix is ever built, with the bias and a fused
//   Relu applied in registers. Every 3-D convolution takes this path, its
//   depth taps being more rows of the same GEMM.
// The thresholds come from tests/bench/kernels_bench.cc
// (BM_Conv3x3Algorithm): with 3 input channels the transforms cost what the
// multiplies save, from 8 on Winograd wins; on a 7x7 output (16 patches
// covering 8x8) the two are even.
// Threads (OpContext::thread_pool()): with at least one image per thread,
// whole images are spread over them; otherwise each image's loops are split.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/kernels/conv_kernel.h"
#include "core/engine/ops/conv_geometry.h"
#include "core/engine/ops/direct_conv.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/required_inputs.h"
#include "core/engine/ops/winograd_conv.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace {

constexpr int64_t kMinWinogradChannels = 8;
constexpr int64_t kMinWinogradTiles = 32;

class ConvOp final : public Op {
 public:
  static absl::StatusOr<std::unique_ptr<Op>> Create(const OpBuildContext& ctx);
  absl::Status Run(const OpContext& ctx) const override;
  // W and B are copied or packed at build time; Run reads only X.
  bool KeepsConstantInputs() const override { return true; }

 private:
  ConvOp() = default;

  absl::Status CheckInput(const TensorView& x) const;
  // One image, all channels (in_channels_per_group_ == 1).
  void RunDepthwise(const float* x, const WindowGeometry& g, float* y) const;

  std::string describe_;
  WindowAttributes window_;
  int64_t group_ = 1;
  int64_t in_channels_ = 0;            // C
  int64_t in_channels_per_group_ = 0;  // C / group
  int64_t out_channels_ = 0;           // M
  int64_t out_channels_per_group_ = 0;
  std::vector<float> weights_;  // W as [M, C/group * kernel], for the depthwise loop
  std::vector<float> bias_;     // [M], or empty without B
  FusedActivation activation_;
  std::unique_ptr<DirectConv> direct_;      // every convolution but 1-D/2-D depthwise
  std::unique_ptr<WinogradConv> winograd_;  // when eligible (see the file comment)
};

absl::StatusOr<std::unique_ptr<Op>> ConvOp::Create(const OpBuildContext& ctx) {
  const Node& node = ctx.node;
  BN_RETURN_IF_ERROR(RequireInputs(ctx, {"X", "W"}));
  const ConstantTensor* w = ctx.ConstantInput(1);
  if (w == nullptr || w->dtype != DataType::kFloat) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": input W ('",
                                                 node.inputs.size() > 1 ? node.inputs[1] : "",
                                                 "') expected a constant float initializer, got a runtime value"));
  }
  const Shape& w_shape = w->shape;
  if (w_shape.rank() < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Describe(), ": input W expected [M,C/group,kL], [M,C/group,kH,kW] or [M,C/group,kD,kH,kW], got ",
        w_shape.ToString()));
  }
  const absl::Span<const int64_t> kernel = w_shape.dims().subspan(2);
  if (const Attribute* ks = node.FindAttribute("kernel_shape");
      ks != nullptr && !std::equal(ks->ints.begin(), ks->ints.end(), kernel.begin(), kernel.end())) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute kernel_shape [",
                                                   absl::StrJoin(ks->ints, ","), "] expected to match W ",
                                                   w_shape.ToString()));
  }
  auto op = std::unique_ptr<ConvOp>(new ConvOp());
  op->describe_ = ctx.Describe();
  BN_ASSIGN_OR_RETURN(op->window_, ReadWindowAttributes(ctx, kernel, /*read_ceil_mode=*/false));
  op->group_ = node.GetInt("group", 1);
  op->out_channels_ = w_shape[0];
  op->in_channels_per_group_ = w_shape[1];
  if (op->group_ < 1 || op->out_channels_ < 1 || op->in_channels_per_group_ < 1 ||
      op->out_channels_ % op->group_ != 0) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected group >= 1 dividing the ",
                                                   "output channels of W (and W dims >= 1), got group ", op->group_,
                                                   " and W ", w_shape.ToString()));
  }
  op->in_channels_ = op->in_channels_per_group_ * op->group_;
  op->out_channels_per_group_ = op->out_channels_ / op->group_;
  op->weights_ = w->floats;

  if (node.HasInput(2)) {
    const ConstantTensor* b = ctx.ConstantInput(2);
    if (b == nullptr || b->dtype != DataType::kFloat) {
      return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": input B ('", node.inputs[2],
                                                   "') expected a constant float initializer, got a runtime value"));
    }
    if (b->shape.rank() != 1 || b->shape[0] != op->out_channels_) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": input B expected [", op->out_channels_, "], got ", b->shape.ToString()));
    }
    op->bias_ = b->floats;
  }
  BN_ASSIGN_OR_RETURN(op->activation_, FusedActivation::FromNode(node));
  if (op->in_channels_per_group_ != 1 || op->group_ == 1 || op->window_.spatial_rank == 3) {
    op->direct_ = std::make_unique<DirectConv>(
        op->weights_.data(), op->bias_.empty() ? nullptr : op->bias_.data(), op->out_channels_, op->in_channels_,
        op->group_, op->window_.kernel, op->window_.stride, op->window_.dilation, op->window_.depth, op->activation_);
    const WindowAttributes& w = op->window_;
    if (w.spatial_rank == 2 && w.kernel[0] == 3 && w.kernel[1] == 3 && w.stride[0] == 1 && w.stride[1] == 1 &&
        w.dilation[0] == 1 && w.dilation[1] == 1 && op->group_ == 1 && op->in_channels_ >= kMinWinogradChannels &&
        op->out_channels_ >= kMinWinogradChannels && WinogradConv::Supported(conv_internal::SelectedConvKernels())) {
      op->winograd_ =
          std::make_unique<WinogradConv>(op->weights_.data(), op->bias_.empty() ? nullptr : op->bias_.data(),
                                         op->out_channels_, op->in_channels_, op->activation_);
    }
    op->weights_.clear();  // packed into direct_ and winograd_
    op->weights_.shrink_to_fit();
  }
  return std::unique_ptr<Op>(std::move(op));
}

absl::Status ConvOp::CheckInput(const TensorView& x) const {
  const int rank = window_.spatial_rank + 2;
  if (x.shape.rank() != rank || x.shape[1] != in_channels_) {
    const char* layout = rank == 3 ? "L" : rank == 4 ? "H,W" : "D,H,W";
    return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X expected [N,", in_channels_, ",", layout,
                                                   "] with ", in_channels_, " channels, got ", x.shape.ToString()));
  }
  return absl::OkStatus();
}

absl::Status ConvOp::Run(const OpContext& ctx) const {
  const TensorView& x = ctx.input(0);
  BN_RETURN_IF_ERROR(CheckInput(x));
  WindowGeometry g;
  if (absl::Status s = ComputeWindowGeometry(window_, x.shape.dims().subspan(2), &g); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X ", x.shape.ToString(), ": ", s.message()));
  }
  const int64_t batch = x.shape[0];
  // Validated: large pads can make the output far bigger than the input.
  const int y_rank = window_.spatial_rank + 2;
  int64_t y_dims[5] = {0, 0, g.depth_out, g.out[0], g.out[1]};
  y_dims[5 - y_rank] = batch;
  y_dims[6 - y_rank] = out_channels_;
  auto y_shape = Shape::FromDims(absl::MakeConstSpan(y_dims + 5 - y_rank, y_rank), "output Y");
  if (!y_shape.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(describe_, ": input X ", x.shape.ToString(), ": ", y_shape.status().message()));
  }
  Tensor* y = ctx.output(0);
  y->Resize(*y_shape);

  const int64_t x_image = in_channels_ * g.in_size();
  const int64_t y_image = out_channels_ * g.out_size();
  ThreadPool* pool = ctx.thread_pool();
  const bool winograd = winograd_ != nullptr && ((g.out[0] + 1) / 2) * ((g.out[1] + 1) / 2) >= kMinWinogradTiles;
  // With at least one image per thread, whole images per thread: no
  // synchronisation inside an image and each thread's working set is one
  // image's. Otherwise (batch 1) the threads share each image's loops.
  const int slots = NumSlots(pool);
  const bool per_image = slots > 1 && batch >= slots;
  auto run_image = [&](int64_t n, float* scratch, ThreadPool* image_pool) {
    const float* x_n = x.data + n * x_image;
    float* y_n = y->data.data() + n * y_image;
    if (winograd) {
      winograd_->Run(x_n, g, y_n, scratch, image_pool);
    } else if (direct_ != nullptr) {
      direct_->Run(x_n, g, y_n, scratch, image_pool);
    } else {
      RunDepthwise(x_n, g, y_n);
    }
  };
  std::vector<float>* scratch = ctx.scratch();
  if (per_image) {
    // Per-thread parts in whole cache lines, so their alignment is the base's.
    int64_t image_scratch = 0;
    if (direct_ != nullptr) image_scratch = winograd ? winograd_->ScratchFloats(g, 1) : direct_->ScratchFloats(g);
    image_scratch = (image_scratch + 15) / 16 * 16;
    const size_t needed = static_cast<size_t>(slots * image_scratch);
    if (scratch->size() < needed) scratch->resize(needed);
    ParallelForWithSlot(pool, batch, 1, [&](int slot, int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) run_image(n, scratch->data() + slot * image_scratch, nullptr);
    });
    return absl::OkStatus();
  }
  if (direct_ != nullptr) {
    const size_t needed =
        static_cast<size_t>(winograd ? winograd_->ScratchFloats(g, slots) : direct_->ScratchFloats(g));
    if (scratch->size() < needed) scratch->resize(needed);
  }
  for (int64_t n = 0; n < batch; ++n) run_image(n, scratch->data(), pool);
  return absl::OkStatus();
}

void ConvOp::RunDepthwise(const float* x, const WindowGeometry& g, float* y) const {
  const int64_t height = g.in[0], width = g.in[1];
  const int64_t out_h = g.out[0], out_w = g.out[1];
  const int64_t taps = g.kernel[0] * g.kernel[1];
  for (int64_t m = 0; m < out_channels_; ++m) {
    const float* x_c = x + (m / out_channels_per_group_) * height * width;
    const float* w_m = weights_.data() + m * taps;
    float* y_m = y + m * out_h * out_w;
    std::fill_n(y_m, out_h * out_w, bias_.empty() ? 0.0f : bias_[m]);
    for (int64_t ki = 0; ki < g.kernel[0]; ++ki) {
      const int64_t h_offset = ki * g.dilation[0] - g.pad_begin[0];
      int64_t oh_lo, oh_hi;
      TapRange(h_offset, g.stride[0], out_h, 0, height, &oh_lo, &oh_hi);
      for (int64_t kj = 0; kj < g.kernel[1]; ++kj) {
        const float weight = w_m[ki * g.kernel[1] + kj];
        const int64_t w_offset = kj * g.dilation[1] - g.pad_begin[1];
        int64_t ow_lo, ow_hi;
        TapRange(w_offset, g.stride[1], out_w, 0, width, &ow_lo, &ow_hi);
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          const float* src = x_c + (oh * g.stride[0] + h_offset) * width;
          float* dst = y_m + oh * out_w;
          if (g.stride[1] == 1) {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] += weight * src[ow + w_offset];
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] += weight * src[ow * g.stride[1] + w_offset];
          }
        }
      }
    }
    activation_.Apply(y_m, out_h * out_w);
  }
}

}  // namespace

void RegisterConvOps(OpRegistry* registry) {
  // Conv-1 and Conv-11 compute the same thing (11 only restated the output
  // shape rules); later versions only add element types.
  registry->Register("", "Conv", 1, 22, ConvOp::Create);
}

}  // namespace bnserve
