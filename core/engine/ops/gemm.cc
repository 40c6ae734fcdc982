// Gemm (opsets 7-22) and MatMul (opsets 1-22), float32, both on Sgemm and
// both with an optional fused activation.
//
// Gemm: Y = alpha * op(A) * op(B) + beta * C, A and B 2-D, C unidirectionally
// broadcast to [M, N] (scalar, [N], [1, N], [M, 1], [M, N]); C is optional
// from opset 11. MatMul: numpy matmul, including 1-D operands and broadcast
// batch dimensions.
//
// A constant B (nn.Linear's weight, the common case) is shared with the graph
// (initializers are immutable and reference-counted), not copied: the op
// keeps it alive itself, so a run touches no graph state and the weights
// exist once however many plans use them. It keeps its stored
// layout: Sgemm's matrix-vector path (batch 1) and its GEMM run at the same
// speed on B and B^T (tests/bench/kernels_bench.cc, tb = 0 vs 1), so
// transposing at build time would buy nothing.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine/kernels/sgemm.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/required_inputs.h"

namespace bnserve {
namespace {

// Shares the constant float initializer feeding input `i` into *out; false
// when that input is a runtime value (or absent).
bool ShareConstant(const OpBuildContext& ctx, size_t i, std::shared_ptr<const ConstantTensor>* out) {
  std::shared_ptr<const ConstantTensor> c = ctx.SharedConstantInput(i);
  if (c == nullptr || c->dtype != DataType::kFloat) return false;
  *out = std::move(c);
  return true;
}

// Input `i` of a run: the op's shared constant when it was constant at build time.
const TensorView* InputOrConstant(const OpContext& ctx, int i, bool is_constant,
                                  const std::shared_ptr<const ConstantTensor>& constant, TensorView* storage) {
  if (is_constant) {
    *storage = TensorView{constant->shape, constant->floats.data()};
    return storage;
  }
  if (i >= ctx.num_inputs()) return nullptr;
  // An empty tensor may come with a null data pointer; only rank 0 plus null
  // data means "absent" here (a scalar always has data).
  const TensorView& v = ctx.input(i);
  return v.data != nullptr || v.shape.rank() > 0 ? &v : nullptr;
}

class GemmOp final : public Op {
 public:
  static absl::StatusOr<std::unique_ptr<Op>> Create(const OpBuildContext& ctx) {
    const Node& node = ctx.node;
    BN_RETURN_IF_ERROR(RequireInputs(ctx, {"A", "B"}));
    auto op = std::unique_ptr<GemmOp>(new GemmOp());
    op->describe_ = ctx.Describe();
    op->alpha_ = node.GetFloat("alpha", 1.0f);
    op->beta_ = node.GetFloat("beta", 1.0f);
    op->trans_a_ = node.GetInt("transA", 0) != 0;
    op->trans_b_ = node.GetInt("transB", 0) != 0;
    op->constant_b_ = ShareConstant(ctx, 1, &op->b_);
    op->has_c_ = node.HasInput(2);
    op->constant_c_ = ShareConstant(ctx, 2, &op->c_);
    if (!op->has_c_ && ctx.graph.opset < 11) {
      return absl::InvalidArgumentError(
          absl::StrCat(op->describe_, ": input C expected (it is optional only from opset 11), got none"));
    }
    if (op->constant_b_ && op->b_->shape.rank() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(op->describe_, ": input B expected rank 2, got ", op->b_->shape.ToString()));
    }
    BN_ASSIGN_OR_RETURN(op->activation_, FusedActivation::FromNode(node));
    return std::unique_ptr<Op>(std::move(op));
  }

  // Constant B and C are held by the op (shared), never read from the context.
  bool KeepsConstantInputs() const override { return true; }

  absl::Status Run(const OpContext& ctx) const override {
    const TensorView& a = ctx.input(0);
    TensorView b_storage, c_storage;
    const TensorView* b = InputOrConstant(ctx, 1, constant_b_, b_, &b_storage);
    if (a.shape.rank() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(describe_, ": input A expected rank 2, got ", a.shape.ToString()));
    }
    if (b == nullptr || b->shape.rank() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(describe_, ": input B expected rank 2, got ", b == nullptr ? "none" : b->shape.ToString()));
    }
    const int64_t m = trans_a_ ? a.shape[1] : a.shape[0];
    const int64_t k = trans_a_ ? a.shape[0] : a.shape[1];
    const int64_t b_k = trans_b_ ? b->shape[1] : b->shape[0];
    const int64_t n = trans_b_ ? b->shape[0] : b->shape[1];
    if (b_k != k) {
      return absl::InvalidArgumentError(absl::StrCat(describe_, ": input B expected ", k, " rows (K of A ",
                                                     a.shape.ToString(), ", transB ", trans_b_, "), got ",
                                                     b->shape.ToString()));
    }
    Tensor* y = ctx.output(0);
    y->Resize(Shape{m, n});
    float beta = 0.0f;
    if (has_c_) {
      const TensorView* c = InputOrConstant(ctx, 2, constant_c_, c_, &c_storage);
      if (c == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(describe_, ": input C expected a float tensor, got none"));
      }
      BN_RETURN_IF_ERROR(BroadcastC(*c, m, n, y->data.data()));
      beta = beta_ == 0.0f ? 0.0f : 1.0f;  // Y now holds beta * C
    }
    Sgemm(trans_a_, trans_b_, m, n, k, alpha_, a.data, a.shape[1], b->data, b->shape[1], beta, y->data.data(), n,
          ctx.thread_pool());
    activation_.Apply(y->data.data(), m * n);
    return absl::OkStatus();
  }

 private:
  GemmOp() = default;

  // Writes beta * C broadcast to [m, n] into y (when beta != 0), after
  // checking C's shape.
  absl::Status BroadcastC(const TensorView& c, int64_t m, int64_t n, float* y) const {
    const int rank = c.shape.rank();
    const int64_t rows = rank == 2 ? c.shape[0] : 1;
    const int64_t cols = rank >= 1 ? c.shape[rank - 1] : 1;
    if (rank > 2 || (rows != 1 && rows != m) || (cols != 1 && cols != n)) {
      return absl::InvalidArgumentError(absl::StrCat(describe_, ": input C expected a shape broadcastable to [", m, ",",
                                                     n, "], got ", c.shape.ToString()));
    }
    if (beta_ == 0.0f) return absl::OkStatus();
    for (int64_t i = 0; i < m; ++i) {
      const float* c_row = c.data + (rows == 1 ? 0 : i * cols);
      float* y_row = y + i * n;
      if (cols == 1) {
        for (int64_t j = 0; j < n; ++j) y_row[j] = beta_ * c_row[0];
      } else {
        for (int64_t j = 0; j < n; ++j) y_row[j] = beta_ * c_row[j];
      }
    }
    return absl::OkStatus();
  }

  std::string describe_;
  float alpha_ = 1.0f;
  float beta_ = 1.0f;
  bool trans_a_ = false;
  bool trans_b_ = false;
  bool constant_b_ = false;
  std::shared_ptr<const ConstantTensor> b_;  // B when constant
  bool has_c_ = false;
  bool constant_c_ = false;
  std::shared_ptr<const ConstantTensor> c_;  // C when constant
  FusedActivation activation_;
};

class MatMulOp final : public Op {
 public:
  static absl::StatusOr<std::unique_ptr<Op>> Create(const OpBuildContext& ctx) {
    BN_RETURN_IF_ERROR(RequireInputs(ctx, {"A", "B"}));
    auto op = std::unique_ptr<MatMulOp>(new MatMulOp());
    op->describe_ = ctx.Describe();
    op->constant_b_ = ShareConstant(ctx, 1, &op->b_);
    BN_ASSIGN_OR_RETURN(op->activation_, FusedActivation::FromNode(ctx.node));
    return std::unique_ptr<Op>(std::move(op));
  }

  bool KeepsConstantInputs() const override { return true; }
  absl::Status Run(const OpContext& ctx) const override;

 private:
  MatMulOp() = default;

  std::string describe_;
  bool constant_b_ = false;
  std::shared_ptr<const ConstantTensor> b_;  // B when constant
  FusedActivation activation_;
};

absl::Status MatMulOp::Run(const OpContext& ctx) const {
  const TensorView& a = ctx.input(0);
  TensorView b_storage;
  const TensorView* b_ptr = InputOrConstant(ctx, 1, constant_b_, b_, &b_storage);
  if (b_ptr == nullptr || a.shape.rank() < 1 || b_ptr->shape.rank() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(describe_, ": inputs expected rank >= 1, got A ", a.shape.ToString(),
                                                   " and B ", b_ptr == nullptr ? "none" : b_ptr->shape.ToString()));
  }
  const TensorView& b = *b_ptr;
  // numpy matmul: a 1-D A is a row [1, K], a 1-D B a column [K, 1]; the
  // inserted dimension is dropped from the result.
  const int a_rank = a.shape.rank(), b_rank = b.shape.rank();
  const int64_t m = a_rank == 1 ? 1 : a.shape[a_rank - 2];
  const int64_t k = a.shape[a_rank - 1];
  const int64_t b_k = b_rank == 1 ? b.shape[0] : b.shape[b_rank - 2];
  const int64_t n = b_rank == 1 ? 1 : b.shape[b_rank - 1];
  if (b_k != k) {
    return absl::InvalidArgumentError(absl::StrCat(describe_, ": input B expected ", k, " rows (K of A ",
                                                   a.shape.ToString(), "), got ", b.shape.ToString()));
  }
  // Batch dimensions, right-aligned and broadcast; strides count matrices.
  const int a_batch = a_rank > 2 ? a_rank - 2 : 0, b_batch = b_rank > 2 ? b_rank - 2 : 0;
  const int batch_rank = a_batch > b_batch ? a_batch : b_batch;
  int64_t out_dims[Shape::kMaxRank];
  int64_t a_stride[Shape::kMaxRank], b_stride[Shape::kMaxRank];
  int64_t a_step = 1, b_step = 1;
  for (int i = batch_rank - 1; i >= 0; --i) {
    const int ai = i - (batch_rank - a_batch), bi = i - (batch_rank - b_batch);
    const int64_t ad = ai >= 0 ? a.shape[ai] : 1, bd = bi >= 0 ? b.shape[bi] : 1;
    if (ad != bd && ad != 1 && bd != 1) {
      return absl::InvalidArgumentError(absl::StrCat(describe_, ": batch dimensions of A ", a.shape.ToString(),
                                                     " and B ", b.shape.ToString(), " expected broadcastable"));
    }
    out_dims[i] = ad == 1 ? bd : ad;
    a_stride[i] = ad == 1 ? 0 : a_step;
    b_stride[i] = bd == 1 ? 0 : b_step;
    a_step *= ad;
    b_step *= bd;
  }
  int out_rank = batch_rank;
  if (a_rank > 1) out_dims[out_rank++] = m;
  if (b_rank > 1) out_dims[out_rank++] = n;
  auto y_shape = Shape::FromDims(absl::MakeConstSpan(out_dims, out_rank), "MatMul output");
  if (!y_shape.ok()) return absl::InvalidArgumentError(absl::StrCat(describe_, ": ", y_shape.status().message()));
  Tensor* y = ctx.output(0);
  y->Resize(*y_shape);
  float* y_data = y->data.data();

  if (b_batch == 0) {
    // B is one matrix (the constant-weight case): A's batch rows are
    // contiguous, so the whole batch is one [batch * M, K] x [K, N] product.
    Sgemm(false, false, a_step * m, n, k, 1.0f, a.data, k, b.data, n, 0.0f, y_data, n, ctx.thread_pool());
  } else {
    int64_t batch_count = 1;
    for (int i = 0; i < batch_rank; ++i) batch_count *= out_dims[i];
    int64_t index[Shape::kMaxRank] = {};
    for (int64_t t = 0; t < batch_count; ++t) {
      int64_t a_offset = 0, b_offset = 0;
      for (int i = 0; i < batch_rank; ++i) {
        a_offset += index[i] * a_stride[i];
        b_offset += index[i] * b_stride[i];
      }
      Sgemm(false, false, m, n, k, 1.0f, a.data + a_offset * m * k, k, b.data + b_offset * k * n, n, 0.0f,
            y_data + t * m * n, n);
      for (int i = batch_rank - 1; i >= 0 && ++index[i] == out_dims[i]; --i) index[i] = 0;
    }
  }
  activation_.Apply(y_data, y->size());
  return absl::OkStatus();
}

}  // namespace

void RegisterGemmOps(OpRegistry* registry) {
  // Gemm-7 introduced unidirectional broadcasting of C (earlier versions used a
  // "broadcast" attribute we do not read); 11 made C optional; later versions
  // only add element types.
  registry->Register("", "Gemm", 7, 22, GemmOp::Create);
  registry->Register("", "MatMul", 1, 22, MatMulOp::Create);
}

}  // namespace bnserve
