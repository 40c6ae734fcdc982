// Add, Sub, Mul, Div (opset 7+: multidirectional broadcasting; earlier
// opsets used the legacy `broadcast`/`axis` attributes and are not
// registered). Operands may be runtime tensors or initializers; both arrive
// through the OpContext. Every op accepts a fused activation on its output,
// which is how the plan builder runs ResNet's residual Add + Relu in one pass.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/engine/ops/broadcast.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/op_checks.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/opset.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace {

struct AddFn {
  float operator()(float a, float b) const { return a + b; }
};
struct SubFn {
  float operator()(float a, float b) const { return a - b; }
};
struct MulFn {
  float operator()(float a, float b) const { return a * b; }
};
struct DivFn {
  float operator()(float a, float b) const { return a / b; }
};

// One innermost broadcast row. The strides are 0 or 1 (see BroadcastPlan);
// spelling out the three live combinations lets the compiler vectorize each.
template <typename Fn>
void BinaryRow(const float* a, int64_t a_stride, const float* b, int64_t b_stride, float* out, int64_t n) {
  const Fn fn;
  if (a_stride == 1 && b_stride == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = fn(a[i], b[i]);
  } else if (b_stride == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = fn(av, b[i]);
  } else if (a_stride == 1) {
    const float bv = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = fn(a[i], bv);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = fn(*a, *b);
  }
}

// Same-shape operands shorter than this run on the calling thread alone:
// handing a few microseconds of streaming to another thread costs more.
constexpr int64_t kMinParallelRow = 1 << 14;

// A binary element-wise op. Immutable after construction; Run is thread-safe.
template <typename Fn>
class BinaryOp final : public Op {
 public:
  BinaryOp(std::string node, FusedActivation activation) : node_(std::move(node)), activation_(activation) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "A", node_));
    BN_RETURN_IF_ERROR(RequireInput(ctx, 1, "B", node_));
    const TensorView& a = ctx.input(0);
    const TensorView& b = ctx.input(1);
    BN_ASSIGN_OR_RETURN(const BroadcastPlan plan, PlanBroadcast(a.shape, b.shape, node_));
    Tensor* y = ctx.output(0);
    y->Resize(plan.output);
    const FusedActivation activation = activation_;
    if (a.shape == b.shape && ctx.thread_pool() != nullptr) {
      // The residual Add of a ResNet block: one flat row, cut over the
      // intra-op threads in pieces long enough to stream.
      ThreadPool* pool = ctx.thread_pool();
      const int64_t n = a.size();
      float* out = y->data.data();
      ParallelFor(pool, n, GrainFor(pool, n, kMinParallelRow), [&](int64_t begin, int64_t end) {
        BinaryRow<Fn>(a.data + begin, 1, b.data + begin, 1, out + begin, end - begin);
        activation.Apply(out + begin, end - begin);
      });
      return absl::OkStatus();
    }
    ForEachBroadcastRow(plan, a.data, b.data, y->data.data(),
                        [activation](const float* ar, int64_t as, const float* br, int64_t bs, float* out, int64_t n) {
                          BinaryRow<Fn>(ar, as, br, bs, out, n);
                          activation.Apply(out, n);  // while the row is still in cache
                        });
    return absl::OkStatus();
  }

 private:
  const std::string node_;  // Describe() of the node, for error messages
  const FusedActivation activation_;
};

template <typename Fn>
absl::StatusOr<std::unique_ptr<Op>> MakeBinaryOp(const OpBuildContext& ctx) {
  BN_ASSIGN_OR_RETURN(const FusedActivation activation, FusedActivation::FromNode(ctx.node));
  return std::unique_ptr<Op>(new BinaryOp<Fn>(ctx.Describe(), activation));
}

}  // namespace

void RegisterElementwiseOps(OpRegistry* registry) {
  // Schemas 7, 13 and 14 differ only in the integer types they admit.
  registry->Register("", "Add", 7, kMaxSupportedOpset, MakeBinaryOp<AddFn>);
  registry->Register("", "Sub", 7, kMaxSupportedOpset, MakeBinaryOp<SubFn>);
  registry->Register("", "Mul", 7, kMaxSupportedOpset, MakeBinaryOp<MulFn>);
  registry->Register("", "Div", 7, kMaxSupportedOpset, MakeBinaryOp<DivFn>);
}

}  // namespace bnserve
