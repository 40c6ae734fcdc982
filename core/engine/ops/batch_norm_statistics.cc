#include "core/engine/ops/batch_norm_statistics.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/stats/moment_reduction.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace {

// A BatchNormalization node in a statistics pass: records the moments of its
// input into the sink, then normalizes with the batch's own statistics
// (train) or with the frozen ones (eval), applying a Relu/Clip fused into it
// (FuseActivations), so that downstream layers see what they would see in
// that PyTorch mode.
//
// Channels are independent, so they are split over the thread pool, and
// when the layout allows (ChannelPlanesAreRuns) each channel's moments are
// computed right before it is normalized, while its planes are still in
// cache: one read from memory instead of two. The moments are bit-identical
// to ComputeChannelMoments whatever the split.
class BatchNormStatisticsOp : public Op {
 public:
  // REQUIRES: `frozen` is a validated snapshot's layer, folded by the caller.
  BatchNormStatisticsOp(int layer, const BnLayerInfo& info, ChannelAffineParams frozen, ForwardMode mode,
                        FusedActivation activation)
      : layer_(layer), info_(info), mode_(mode), frozen_(std::move(frozen)), activation_(activation) {}

  absl::Status Run(const OpContext& ctx) const override {
    const TensorView& x = ctx.input(0);
    if (x.shape.rank() < 2 || x.shape[1] != info_.channels) {
      return absl::InvalidArgumentError(absl::StrCat("BN layer '", info_.name, "': expected input [N,", info_.channels,
                                                     ",...], got ", x.shape.ToString()));
    }
    const int64_t outer = x.shape[0];
    const int64_t inner = x.shape.Product(2, x.shape.rank());
    const int64_t per_channel = outer * inner;
    if (mode_ == ForwardMode::kTrain && per_channel < 2) {
      return absl::FailedPreconditionError(absl::StrCat(
          "BN layer '", info_.name, "': expected more than 1 value per channel to compute batch statistics, got input ",
          x.shape.ToString(), " (", per_channel, " value per channel)"));
    }
    std::vector<ChannelMoments>& moments = ctx.stats_sink()->layers[layer_];
    Tensor* y = ctx.output(0);
    y->Resize(x.shape);
    const bool fused_moments = ChannelPlanesAreRuns(x.shape);
    if (fused_moments) {
      moments.resize(static_cast<size_t>(info_.channels));
    } else {
      ComputeChannelMoments(x, &moments);
    }
    ThreadPool* pool = ctx.thread_pool();
    const int64_t channels = info_.channels;
    ParallelFor(pool, channels, GrainFor(pool, channels, 1), [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        if (fused_moments) ChannelRunMoments(x, c, c + 1, &moments[c]);
        if (!MomentsFinite(moments[c])) continue;  // reported below; the output is not used
        float scale = frozen_.scale[c];
        float shift = frozen_.shift[c];
        if (mode_ == ForwardMode::kTrain) {
          const double s = info_.gamma[c] / std::sqrt(moments[c].VarBiased() + info_.epsilon);
          scale = static_cast<float>(s);
          shift = static_cast<float>(info_.beta[c] - moments[c].mean * s);
        }
        for (int64_t n = 0; n < outer; ++n) {
          const int64_t base = (n * channels + c) * inner;
          const float* in = x.data + base;
          float* out = y->data.data() + base;
          for (int64_t i = 0; i < inner; ++i) out[i] = in[i] * scale + shift;
          activation_.Apply(out, inner);  // while the plane is still in cache
        }
      }
    });
    for (int64_t c = 0; c < channels; ++c) {
      if (!MomentsFinite(moments[c])) {
        return absl::InvalidArgumentError(absl::StrCat("BN layer '", info_.name, "' channel ", c,
                                                       ": batch statistics are not finite (mean ", moments[c].mean,
                                                       ", M2 ", moments[c].m2, ")"));
      }
    }
    return absl::OkStatus();
  }

 private:
  static bool MomentsFinite(const ChannelMoments& m) { return std::isfinite(m.mean) && std::isfinite(m.m2); }

  int layer_;
  BnLayerInfo info_;
  ForwardMode mode_;
  ChannelAffineParams frozen_;  // eval mode's per-channel scale and shift
  FusedActivation activation_;
};

}  // namespace

const char* ForwardModeName(ForwardMode mode) { return mode == ForwardMode::kTrain ? "train" : "eval"; }

std::unique_ptr<Op> MakeBatchNormStatisticsOp(int layer, const BnLayerInfo& info, ChannelAffineParams frozen,
                                              ForwardMode mode, FusedActivation activation) {
  return std::make_unique<BatchNormStatisticsOp>(layer, info, std::move(frozen), mode, activation);
}

}  // namespace bnserve
