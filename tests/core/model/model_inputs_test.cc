// ResolveBatchForm (batch vs single instance), ValidateModelName and
// BatchAssembler: the request-shape logic in core/.
#include "core/model/model_inputs.h"

#include "core/model/model_name.h"
#include "core/serving/batch_assembler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;

Graph ImageGraph() {
  Graph graph;
  ValueInfo input;
  input.name = "pixels";
  input.dims = {Dim{-1, "batch"}, Dim{1, ""}, Dim{8, ""}, Dim{8, ""}};
  graph.inputs.push_back(input);
  return graph;
}

TEST(ResolveBatchFormTest, BatchAndSingleInstance) {
  const Graph graph = ImageGraph();
  std::vector<float> data(3 * 64);
  std::vector<TensorView> batch = {TensorView{Shape{3, 1, 8, 8}, data.data()}};
  absl::StatusOr<BatchForm> form = ResolveBatchForm(graph, {}, absl::MakeSpan(batch), true);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(*form, BatchForm::kBatch);
  EXPECT_EQ(batch[0].shape, (Shape{3, 1, 8, 8}));

  std::vector<TensorView> single = {TensorView{Shape{1, 8, 8}, data.data()}};
  form = ResolveBatchForm(graph, {}, absl::MakeSpan(single), true);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(*form, BatchForm::kSingleInstance);
  EXPECT_EQ(single[0].shape, (Shape{1, 1, 8, 8}));
}

TEST(ResolveBatchFormTest, MismatchNamesTheFieldAndBothShapes) {
  const Graph graph = ImageGraph();
  std::vector<float> data(24);
  std::vector<TensorView> wrong = {TensorView{Shape{3, 8}, data.data()}};
  absl::StatusOr<BatchForm> form = ResolveBatchForm(graph, {}, absl::MakeSpan(wrong), true);
  EXPECT_EQ(form.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(form.status().message(), "inputs[0].shape: expected [batch,1,8,8] or [1,8,8], got [3,8]");
  // Without single instances only the batch form is offered.
  std::vector<TensorView> single = {TensorView{Shape{1, 8, 8}, data.data()}};
  form = ResolveBatchForm(graph, {}, absl::MakeSpan(single), false);
  EXPECT_EQ(form.status().message(), "inputs[0].shape: expected [batch,1,8,8], got [1,8,8]");
  // A fixed dim that differs.
  std::vector<TensorView> channels = {TensorView{Shape{2, 3, 8, 8}, data.data()}};
  form = ResolveBatchForm(graph, {}, absl::MakeSpan(channels), true);
  EXPECT_THAT(form.status().message(), HasSubstr("got [2,3,8,8]"));
}

TEST(ResolveBatchFormTest, CountNamesAndMixedForms) {
  Graph graph = ImageGraph();
  ValueInfo second;
  second.name = "mask";
  second.dims = {Dim{-1, "batch"}, Dim{5, ""}};
  graph.inputs.push_back(second);
  std::vector<float> data(64 + 5);
  std::vector<TensorView> one = {TensorView{Shape{1, 8, 8}, data.data()}};
  EXPECT_EQ(ResolveBatchForm(graph, {}, absl::MakeSpan(one), true).status().message(),
            "inputs: expected 2 tensor(s) (pixels, mask), got 1");
  std::vector<TensorView> mixed = {TensorView{Shape{1, 8, 8}, data.data()}, TensorView{Shape{1, 5}, data.data()}};
  EXPECT_THAT(ResolveBatchForm(graph, {}, absl::MakeSpan(mixed), true).status().message(),
              HasSubstr("inputs[1].shape: expected no batch dim"));
  std::vector<TensorView> both_single = {TensorView{Shape{1, 8, 8}, data.data()}, TensorView{Shape{5}, data.data()}};
  const std::vector<std::string> names = {"pixels", "masks"};
  EXPECT_EQ(ResolveBatchForm(graph, names, absl::MakeSpan(both_single), true).status().message(),
            "inputs[1].name: expected 'mask', got 'masks'");
  const std::vector<std::string> good_names = {"", "mask"};
  absl::StatusOr<BatchForm> form = ResolveBatchForm(graph, good_names, absl::MakeSpan(both_single), true);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(*form, BatchForm::kSingleInstance);
  EXPECT_EQ(both_single[1].shape, (Shape{1, 5}));
}

TEST(ValidateModelNameTest, AcceptsFolderNamesOnly) {
  for (const char* good : {"mlp", "digits_v2", "a.b-c", "A9", "..."}) {
    EXPECT_TRUE(ValidateModelName(good).ok()) << good;
  }
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a/b", "../x", "tab\there",
                                                         std::string("nul\0x", 5), "é", std::string(256, 'a')}) {
    const absl::Status status = ValidateModelName(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("model: expected")) << bad;
  }
  EXPECT_EQ(ValidateModelName("a/b").message(), "model: expected only [A-Za-z0-9._-], got byte 0x2f at offset 1");
}

TEST(BatchAssemblerTest, ConcatenatesAlongTheBatchAxis) {
  // Two inputs, odd sizes: [n,3,5] and [n,7].
  std::vector<float> a1(2 * 15), b1(2 * 7), a2(3 * 15), b2(3 * 7);
  for (size_t i = 0; i < a1.size(); ++i) a1[i] = static_cast<float>(i);
  for (size_t i = 0; i < a2.size(); ++i) a2[i] = 1000.0f + static_cast<float>(i);
  for (size_t i = 0; i < b1.size(); ++i) b1[i] = -static_cast<float>(i);
  for (size_t i = 0; i < b2.size(); ++i) b2[i] = -1000.0f - static_cast<float>(i);
  BatchAssembler assembler(1 << 20);
  ASSERT_TRUE(assembler.Append({TensorView{Shape{2, 3, 5}, a1.data()}, TensorView{Shape{2, 7}, b1.data()}}).ok());
  ASSERT_TRUE(assembler.Append({TensorView{Shape{3, 3, 5}, a2.data()}, TensorView{Shape{3, 7}, b2.data()}}).ok());
  EXPECT_EQ(assembler.rows(), 5);
  EXPECT_EQ(assembler.chunks(), 2);
  const std::vector<TensorView> views = assembler.views();
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].shape, (Shape{5, 3, 5}));
  EXPECT_EQ(views[1].shape, (Shape{5, 7}));
  std::vector<float> expected_a = a1;
  expected_a.insert(expected_a.end(), a2.begin(), a2.end());
  EXPECT_EQ(std::vector<float>(views[0].data, views[0].data + views[0].size()), expected_a);
  std::vector<float> expected_b = b1;
  expected_b.insert(expected_b.end(), b2.begin(), b2.end());
  EXPECT_EQ(std::vector<float>(views[1].data, views[1].data + views[1].size()), expected_b);
}

TEST(BatchAssemblerTest, RejectsMismatchesAndOversizeWithoutAppending) {
  std::vector<float> data(4 * 15);
  BatchAssembler assembler(4 * 15 * sizeof(float));
  ASSERT_TRUE(assembler.Append({TensorView{Shape{2, 3, 5}, data.data()}}).ok());
  absl::Status status = assembler.Append({TensorView{Shape{1, 3, 6}, data.data()}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "inputs[0].shape: expected [*,3,5] as in the first chunk, got [1,3,6]");
  status = assembler.Append({TensorView{Shape{1, 3, 5}, data.data()}, TensorView{Shape{1, 3, 5}, data.data()}});
  EXPECT_THAT(status.message(), HasSubstr("expected 1 tensor(s) as in the first chunk, got 2"));
  status = assembler.Append({TensorView{Shape{3, 3, 5}, data.data()}});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(assembler.rows(), 2);
  ASSERT_TRUE(assembler.Append({TensorView{Shape{2, 3, 5}, data.data()}}).ok());  // exactly at the limit
  EXPECT_EQ(assembler.views()[0].shape, (Shape{4, 3, 5}));
}

}  // namespace
}  // namespace bnserve
