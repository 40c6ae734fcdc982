// Sgemm (every instruction-set variant this CPU runs), Gemm and MatMul against
// float64 loops, over awkward sizes, transposes, strides, C broadcasts and
// numpy batch broadcasting; plus the errors bad shapes must produce.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/kernels/sgemm.h"
#include "core/engine/kernels/sgemm_kernel.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/ops.h"
#include "core/util/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::ExpectAllClose;
using ::bnserve::testing::FloatAttr;
using ::bnserve::testing::IntAttr;
using ::bnserve::testing::OpTest;
using ::bnserve::testing::RandomTensor;
using ::bnserve::testing::RandomValues;
using ::bnserve::testing::StringAttr;
using ::testing::HasSubstr;

// --- Sgemm --------------------------------------------------------------------

struct GemmShape {
  int64_t m, n, k;
};

class SgemmTest : public ::testing::TestWithParam<int> {
 protected:
  // The kernel table under test, or nullptr when this CPU cannot run it.
  const sgemm_internal::KernelTable* Table() const {
    const sgemm_internal::KernelTable* tables[3];
    int count = 0;
    sgemm_internal::SupportedKernels(tables, &count);
    return GetParam() < count ? tables[GetParam()] : nullptr;
  }
};

// Runs `product` (C = alpha * op(A) * op(B) + beta * C, arguments as Sgemm)
// over awkward shapes, every transpose and beta in {0, 1, 0.25}, and checks
// C against float64 loops. `label` names the variant in failures.
using Product = std::function<void(bool ta, bool tb, const GemmShape& s, float alpha, const float* a, int64_t lda,
                                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc)>;
void ExpectProductMatchesFloat64Reference(const std::string& label, const Product& product) {
  const std::vector<GemmShape> shapes = {{1, 1, 1},    {1, 17, 33},    {19, 1, 7},  {2, 3, 4},
                                         {37, 29, 61}, {64, 130, 300}, {5, 513, 3}, {1, 512, 784},
                                         {33, 2, 1},   {3, 1000, 17},  {100, 40, 9}};
  for (const GemmShape& s : shapes) {
    for (int trans = 0; trans < 4; ++trans) {
      for (const float beta : {0.0f, 1.0f, 0.25f}) {
        const bool ta = trans & 1, tb = trans & 2;
        const float alpha = beta == 1.0f ? -0.5f : 1.0f;
        // Stored shapes with 3 floats of row padding, to exercise lda/ldb/ldc.
        const int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
        const int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
        const int64_t lda = a_cols + 3, ldb = b_cols + 3, ldc = s.n + 3;
        const std::vector<float> a = RandomValues(a_rows * lda, 11), b = RandomValues(b_rows * ldb, 12);
        std::vector<float> c = RandomValues(s.m * ldc, 13);
        // beta == 0 must not read C: NaN there must not reach the result.
        if (beta == 0.0f) std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN());
        std::vector<double> expected(static_cast<size_t>(s.m * s.n));
        for (int64_t i = 0; i < s.m; ++i) {
          for (int64_t j = 0; j < s.n; ++j) {
            double sum = 0;
            for (int64_t p = 0; p < s.k; ++p) {
              const double av = ta ? a[p * lda + i] : a[i * lda + p];
              const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
              sum += av * bv;
            }
            expected[i * s.n + j] = alpha * sum + (beta == 0.0f ? 0.0 : beta * double{c[i * ldc + j]});
          }
        }
        product(ta, tb, s, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        Tensor result(Shape{s.m, s.n});
        for (int64_t i = 0; i < s.m; ++i) {
          for (int64_t j = 0; j < s.n; ++j) result.data[i * s.n + j] = c[i * ldc + j];
        }
        ExpectAllClose(result, Shape{s.m, s.n}, expected, 1e-4,
                       absl::StrCat(label, " m=", s.m, " n=", s.n, " k=", s.k, " transA=", ta, " transB=", tb,
                                    " alpha=", alpha, " beta=", beta));
      }
    }
  }
}

TEST_P(SgemmTest, MatchesFloat64Reference) {
  const sgemm_internal::KernelTable* table = Table();
  if (table == nullptr) GTEST_SKIP() << "variant " << GetParam() << " not supported on this CPU";
  ExpectProductMatchesFloat64Reference(
      table->isa, [&](bool ta, bool tb, const GemmShape& s, float alpha, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float beta, float* c, int64_t ldc) {
        sgemm_internal::SgemmWith(*table, ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc);
      });
}

TEST(SgemmThreadPoolTest, SlabsMatchFloat64Reference) {
  // 2 threads split evenly, 3 leave a narrower last slab; shapes with
  // m < n split columns, the others rows.
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    ExpectProductMatchesFloat64Reference(
        absl::StrCat("pool of ", threads),
        [&](bool ta, bool tb, const GemmShape& s, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
            float beta, float* c,
            int64_t ldc) { Sgemm(ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc, &pool); });
  }
}

TEST_P(SgemmTest, ZeroDepthScalesC) {
  const sgemm_internal::KernelTable* table = Table();
  if (table == nullptr) GTEST_SKIP() << "variant not supported on this CPU";
  std::vector<float> c = {1, 2, 3, 4, 5, 6};
  sgemm_internal::SgemmWith(*table, false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, c.data(), 3);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));
  sgemm_internal::SgemmWith(*table, false, false, 0, 3, 4, 1.0f, nullptr, 4, nullptr, 3, 0.0f, c.data(), 3);
  EXPECT_EQ(c[0], 0.5f);  // m == 0 touches nothing
}

INSTANTIATE_TEST_SUITE_P(Variants, SgemmTest, ::testing::Values(0, 1, 2));

TEST(SgemmDispatchTest, ReportsTheSelectedVariant) {
  const std::string isa = SgemmIsa();
  EXPECT_TRUE(isa == "avx512" || isa == "avx2" || isa == "generic") << isa;
  const sgemm_internal::KernelTable* tables[3];
  int count = 0;
  sgemm_internal::SupportedKernels(tables, &count);
  ASSERT_GE(count, 1);
  EXPECT_EQ(isa, tables[0]->isa);  // the best supported one
  EXPECT_STREQ(tables[count - 1]->isa, "generic");
}

// --- Gemm -----------------------------------------------------------------------

struct GemmCase {
  std::string name;
  int64_t m = 3, k = 5, n = 4;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  std::vector<int64_t> c_dims = {};  // empty with has_c: scalar
  bool has_c = true;
  bool constant_b = true, constant_c = true;
  std::string activation;
  int64_t opset = 13;
};

void PrintTo(const GemmCase& c, std::ostream* os) { *os << c.name; }

class GemmReferenceTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmReferenceTest, MatchesFloat64Reference) {
  const GemmCase& c = GetParam();
  const Shape a_shape = c.trans_a ? Shape{c.k, c.m} : Shape{c.m, c.k};
  const Shape b_shape = c.trans_b ? Shape{c.n, c.k} : Shape{c.k, c.n};
  const Shape c_shape = Shape::FromDims(c.c_dims).value();
  const Tensor a = RandomTensor(a_shape, 1), b = RandomTensor(b_shape, 2), bias = RandomTensor(c_shape, 3);
  const std::string what = absl::StrCat(c.name, ": A ", a_shape.ToString(), " B ", b_shape.ToString(), " C ",
                                        c.has_c ? c_shape.ToString() : "none");

  OpTest test("Gemm", c.opset);
  test.Input("a");
  if (c.constant_b)
    test.ConstantInput("b", b);
  else
    test.Input("b");
  if (c.has_c) {
    if (c.constant_c)
      test.ConstantInput("c", bias);
    else
      test.Input("c");
  }
  test.Attr("alpha", FloatAttr(c.alpha)).Attr("beta", FloatAttr(c.beta));
  test.Attr("transA", IntAttr(c.trans_a)).Attr("transB", IntAttr(c.trans_b));
  if (!c.activation.empty()) test.Attr(kFusedActivationAttr, StringAttr(c.activation));
  auto op = test.Build(RegisterGemmOps);
  ASSERT_TRUE(op.ok()) << what << ": " << op.status();

  std::vector<double> expected(static_cast<size_t>(c.m * c.n));
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const double av = c.trans_a ? a.data[p * c.m + i] : a.data[i * c.k + p];
        const double bv = c.trans_b ? b.data[j * c.k + p] : b.data[p * c.n + j];
        sum += av * bv;
      }
      double cv = 0;
      if (c.has_c) {
        // Right-aligned broadcast of C to [M, N].
        const int r = c_shape.rank();
        const int64_t rows = r == 2 ? c_shape[0] : 1, cols = r >= 1 ? c_shape[r - 1] : 1;
        cv = bias.data[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)];
      }
      const double v = c.alpha * sum + c.beta * cv;
      expected[i * c.n + j] = c.activation == "Relu" ? std::max(v, 0.0) : v;
    }
  }
  std::vector<const Tensor*> runtime = {&a};
  if (!c.constant_b) runtime.push_back(&b);
  if (c.has_c && !c.constant_c) runtime.push_back(&bias);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(test.Run(**op, runtime, &outputs).ok()) << what;
  ExpectAllClose(outputs[0], Shape{c.m, c.n}, expected, 1e-4, what);
}

GemmCase MakeGemm(std::string name, int64_t m, int64_t k, int64_t n) {
  GemmCase c;
  c.name = std::move(name);
  c.m = m;
  c.k = k;
  c.n = n;
  c.c_dims = {n};
  return c;
}

std::vector<GemmCase> GemmCases() {
  std::vector<GemmCase> cases;
  cases.push_back(MakeGemm("Plain", 3, 5, 4));
  {
    GemmCase c = MakeGemm("LinearBatch1", 1, 784, 512);  // nn.Linear: transB = 1
    c.trans_b = true;
    c.activation = "Relu";
    cases.push_back(c);
  }
  {
    GemmCase c = MakeGemm("LinearBatch7", 7, 33, 10);
    c.trans_b = true;
    cases.push_back(c);
  }
  for (int t = 0; t < 4; ++t) {
    GemmCase c = MakeGemm(absl::StrCat("Trans", t), 6, 9, 11);
    c.trans_a = t & 1;
    c.trans_b = t & 2;
    c.alpha = 0.5f;
    c.beta = -2.0f;
    cases.push_back(c);
  }
  const std::vector<std::pair<std::string, std::vector<int64_t>>> c_shapes = {
      {"CScalar", {}},     {"COne", {1}},     {"CRow1D", {4}},      {"CRow2D", {1, 4}},
      {"CColumn", {3, 1}}, {"CFull", {3, 4}}, {"COneByOne", {1, 1}}};
  for (const auto& [name, dims] : c_shapes) {
    GemmCase c = MakeGemm(name, 3, 5, 4);
    c.c_dims = dims;
    c.beta = 0.75f;
    cases.push_back(c);
  }
  {
    GemmCase c = MakeGemm("RuntimeBAndC", 5, 7, 3);
    c.constant_b = false;
    c.constant_c = false;
    c.c_dims = {5, 3};
    cases.push_back(c);
  }
  {
    GemmCase c = MakeGemm("NoC", 4, 6, 2);
    c.has_c = false;
    c.activation = "Relu";
    cases.push_back(c);
  }
  {
    GemmCase c = MakeGemm("BetaZeroIgnoresC", 4, 6, 2);
    c.beta = 0.0f;
    cases.push_back(c);
  }
  {
    GemmCase c = MakeGemm("Opset9", 2, 3, 5);
    c.opset = 9;
    cases.push_back(c);
  }
  {
    GemmCase c = MakeGemm("ColumnOutput", 9, 13, 1);
    c.trans_a = true;
    cases.push_back(c);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Gemm, GemmReferenceTest, ::testing::ValuesIn(GemmCases()),
                         [](const ::testing::TestParamInfo<GemmCase>& info) { return info.param.name; });

TEST(GemmErrorTest, MissingCBeforeOpset11) {
  OpTest test("Gemm", 10);
  test.Name("fc").Input("a").ConstantInput("b", RandomTensor(Shape{3, 2}, 1));
  const absl::Status s = test.Build(RegisterGemmOps).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("Gemm node 'fc' (opset 10): input C"));
}

TEST(GemmErrorTest, BadRuntimeShapes) {
  OpTest test("Gemm");
  test.Name("fc").Input("a").ConstantInput("b", RandomTensor(Shape{3, 2}, 1)).Input("c");
  auto op = test.Build(RegisterGemmOps);
  ASSERT_TRUE(op.ok());
  const Tensor good_c = RandomTensor(Shape{2}, 2);
  struct Bad {
    Shape a, c;
    std::string fragment;
  };
  for (const Bad& bad :
       std::vector<Bad>{{Shape{1, 2, 3}, Shape{2}, "input A expected rank 2, got [1,2,3]"},
                        {Shape{4, 5}, Shape{2}, "input B expected 5 rows (K of A [4,5], transB 0), got [3,2]"},
                        {Shape{4, 3}, Shape{3}, "input C expected a shape broadcastable to [4,2]"},
                        {Shape{4, 3}, Shape{2, 2}, "got [2,2]"},
                        {Shape{4, 3}, Shape{1, 1, 2}, "got [1,1,2]"}}) {
    const Tensor a = RandomTensor(bad.a, 3), c = RandomTensor(bad.c, 4);
    std::vector<Tensor> outputs;
    const absl::Status s = test.Run(**op, {&a, &c}, &outputs);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad.fragment;
    EXPECT_THAT(std::string(s.message()), HasSubstr("Gemm node 'fc'"));
    EXPECT_THAT(std::string(s.message()), HasSubstr(bad.fragment));
  }
}

TEST(GemmErrorTest, MissingInputs) {
  OpTest gemm("Gemm");
  gemm.Name("fc").Input("a");
  const absl::Status s = gemm.Build(RegisterGemmOps).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Gemm node 'fc' (opset 13): input B (#1) expected, got none");
  OpTest matmul("MatMul");
  matmul.AbsentInput().Input("b");
  EXPECT_EQ(matmul.Build(RegisterGemmOps).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GemmErrorTest, OpsetBelow7IsUnimplemented) {
  OpTest test("Gemm", 6);
  test.Input("a").ConstantInput("b", RandomTensor(Shape{3, 2}, 1)).ConstantInput("c", RandomTensor(Shape{2}, 2));
  EXPECT_EQ(test.Build(RegisterGemmOps).status().code(), absl::StatusCode::kUnimplemented);
}

// --- MatMul ---------------------------------------------------------------------

// numpy matmul in float64, written independently of the op: promote 1-D
// operands, broadcast batch dims, multiply, drop the promoted dims.
std::vector<double> ReferenceMatMul(const Tensor& a, const Tensor& b, std::vector<int64_t>* out_dims) {
  std::vector<int64_t> ad(a.shape.begin(), a.shape.end()), bd(b.shape.begin(), b.shape.end());
  const bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), 1);
  if (b_vec) bd.push_back(1);
  const size_t rank = std::max(ad.size(), bd.size());
  while (ad.size() < rank) ad.insert(ad.begin(), 1);
  while (bd.size() < rank) bd.insert(bd.begin(), 1);
  const int64_t m = ad[rank - 2], k = ad[rank - 1], n = bd[rank - 1];
  std::vector<int64_t> batch(rank - 2);
  int64_t count = 1;
  for (size_t i = 0; i + 2 < rank; ++i) count *= (batch[i] = std::max(ad[i], bd[i]));
  std::vector<double> y(static_cast<size_t>(count * m * n));
  for (int64_t t = 0; t < count; ++t) {
    // Decompose t into a batch index, then map to A's and B's flat offsets.
    int64_t rem = t, a_off = 0, b_off = 0, a_mul = 1, b_mul = 1;
    for (int i = static_cast<int>(batch.size()) - 1; i >= 0; --i) {
      const int64_t idx = rem % batch[i];
      rem /= batch[i];
      a_off += (ad[i] == 1 ? 0 : idx) * a_mul;
      b_off += (bd[i] == 1 ? 0 : idx) * b_mul;
      a_mul *= ad[i];
      b_mul *= bd[i];
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t p = 0; p < k; ++p) {
          sum += double{a.data[a_off * m * k + i * k + p]} * b.data[b_off * k * n + p * n + j];
        }
        y[(t * m + i) * n + j] = sum;
      }
    }
  }
  *out_dims = batch;
  if (!a_vec) out_dims->push_back(m);
  if (!b_vec) out_dims->push_back(n);
  return y;
}

struct MatMulCase {
  std::vector<int64_t> a_dims, b_dims;
  bool constant_b;
};

void PrintTo(const MatMulCase& c, std::ostream* os) {
  *os << "A [" << absl::StrJoin(c.a_dims, ",") << "] B [" << absl::StrJoin(c.b_dims, ",") << "]"
      << (c.constant_b ? " constant" : "");
}

class MatMulReferenceTest : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(MatMulReferenceTest, MatchesFloat64Reference) {
  const MatMulCase& c = GetParam();
  const Tensor a = RandomTensor(Shape::FromDims(c.a_dims).value(), 1);
  const Tensor b = RandomTensor(Shape::FromDims(c.b_dims).value(), 2);
  const std::string what = absl::StrCat("A ", a.shape.ToString(), " B ", b.shape.ToString());
  OpTest test("MatMul");
  test.Input("a");
  if (c.constant_b)
    test.ConstantInput("b", b);
  else
    test.Input("b");
  auto op = test.Build(RegisterGemmOps);
  ASSERT_TRUE(op.ok()) << what << ": " << op.status();
  std::vector<int64_t> out_dims;
  const std::vector<double> expected = ReferenceMatMul(a, b, &out_dims);
  std::vector<const Tensor*> runtime = {&a};
  if (!c.constant_b) runtime.push_back(&b);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(test.Run(**op, runtime, &outputs).ok()) << what;
  ExpectAllClose(outputs[0], Shape::FromDims(out_dims).value(), expected, 1e-4, what);
}

INSTANTIATE_TEST_SUITE_P(MatMul, MatMulReferenceTest,
                         ::testing::Values(MatMulCase{{7}, {7}, false},             // vector . vector -> scalar
                                           MatMulCase{{7}, {7, 5}, true},           // vector x matrix -> [5]
                                           MatMulCase{{3, 7}, {7}, false},          // matrix x vector -> [3]
                                           MatMulCase{{1, 784}, {784, 512}, true},  // batch-1 linear layer
                                           MatMulCase{{5, 9}, {9, 11}, false},
                                           MatMulCase{{2, 3, 5, 9}, {9, 4}, true},      // batched A, one constant B
                                           MatMulCase{{2, 3, 5, 9}, {9}, false},        // batched A, vector B
                                           MatMulCase{{5, 9}, {3, 9, 4}, false},        // one A, batched B
                                           MatMulCase{{7}, {2, 7, 3}, false},           // vector A, batched B
                                           MatMulCase{{2, 1, 5, 6}, {3, 6, 4}, false},  // broadcast both ways
                                           MatMulCase{
                                               {4, 1, 3, 2}, {1, 5, 2, 3}, true},   // broadcast, constant batched B
                                           MatMulCase{{3, 0, 4}, {4, 2}, false},    // empty M
                                           MatMulCase{{2, 3, 0}, {0, 5}, false}));  // K == 0: zeros

TEST(MatMulTest, FusedRelu) {
  const Tensor a = RandomTensor(Shape{4, 6}, 1), b = RandomTensor(Shape{6, 5}, 2);
  OpTest test("MatMul");
  test.Input("a").ConstantInput("b", b).Attr(kFusedActivationAttr, StringAttr("Relu"));
  auto op = test.Build(RegisterGemmOps);
  ASSERT_TRUE(op.ok());
  std::vector<int64_t> dims;
  std::vector<double> expected = ReferenceMatMul(a, b, &dims);
  for (double& v : expected) v = std::max(v, 0.0);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(test.Run(**op, {&a}, &outputs).ok());
  ExpectAllClose(outputs[0], Shape{4, 5}, expected, 1e-4, "MatMul+Relu [4,6]x[6,5]");
}

TEST(MatMulErrorTest, BadShapes) {
  OpTest test("MatMul");
  test.Name("mm").Input("a").Input("b");
  auto op = test.Build(RegisterGemmOps);
  ASSERT_TRUE(op.ok());
  struct Bad {
    Shape a, b;
    std::string fragment;
  };
  for (const Bad& bad : std::vector<Bad>{{Shape{3, 4}, Shape{5, 2}, "input B expected 4 rows"},
                                         {Shape{4}, Shape{3}, "input B expected 4 rows"},
                                         {Shape{2, 3, 4}, Shape{3, 4, 5}, "expected broadcastable"},
                                         {Shape{}, Shape{3}, "expected rank >= 1"}}) {
    const Tensor a = RandomTensor(bad.a, 1), b = RandomTensor(bad.b, 2);
    std::vector<Tensor> outputs;
    const absl::Status s = test.Run(**op, {&a, &b}, &outputs);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad.fragment;
    EXPECT_THAT(std::string(s.message()), HasSubstr("MatMul node 'mm' (opset 13)"));
    EXPECT_THAT(std::string(s.message()), HasSubstr(bad.fragment));
  }
}

}  // namespace
}  // namespace bnserve
