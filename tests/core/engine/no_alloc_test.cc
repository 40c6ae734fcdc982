// Steady-state inference allocates nothing: once a workspace has seen a
// batch size, running the same plan again with it makes no heap allocation
// (operator new), single- and multi-threaded. Covers the MLP (Gemm), the CNN
// (direct and Winograd convolutions, depthwise, pooling) and the residual
// block fixtures, at batch 1 and 4.
//
// The allocation counter replaces the global operator new for this binary
// (tests/test_util/allocation_counter.h); allocations through malloc (none expected)
// are not counted.
#include <cmath>
#include <memory>
#include <string>

#include "core/engine/inference_plan.h"
#include "core/model/model.h"
#include "gtest/gtest.h"
#include "tests/test_util/allocation_counter.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

struct Case {
  std::string model;
  int64_t batch;
  int threads;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.model << " batch " << c.batch << " threads " << c.threads;
}

class NoAllocationTest : public ::testing::TestWithParam<Case> {};

TEST_P(NoAllocationTest, SecondRunAllocatesNothing) {
  const Case& c = GetParam();
  auto model = Model::LoadFromFile(testing::FixturePath("torch/" + c.model + ".onnx"));
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = InferencePlan::Build(*model, (*model)->file_stats());
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::unique_ptr<ThreadPool> pool = c.threads > 1 ? std::make_unique<ThreadPool>(c.threads) : nullptr;

  Shape shape;
  for (const Dim& d : (*model)->graph().inputs[0].dims) shape.push_back(d.symbolic() ? c.batch : d.size);
  Tensor input(shape);
  for (int64_t i = 0; i < input.size(); ++i) input.data[i] = std::sin(0.37f * static_cast<float>(i));
  const TensorView view = input.view();

  WorkspacePool::Handle ws = (*plan)->workspaces().Acquire();
  ASSERT_TRUE((*plan)->Run({&view, 1}, ws.get(), pool.get()).ok());  // warm-up: buffers grow here
  const int64_t before = testing::AllocationCount().load();
  for (int run = 0; run < 3; ++run) ASSERT_TRUE((*plan)->Run({&view, 1}, ws.get(), pool.get()).ok());
  EXPECT_EQ(testing::AllocationCount().load() - before, 0) << c;
}

INSTANTIATE_TEST_SUITE_P(Models, NoAllocationTest,
                         ::testing::Values(Case{"mlp_bn1d", 1, 1}, Case{"mlp_bn1d", 4, 2}, Case{"cnn_bn2d", 1, 1},
                                           Case{"cnn_bn2d", 4, 1}, Case{"cnn_bn2d", 1, 2}, Case{"cnn_bn2d", 4, 2},
                                           Case{"resnet_block", 1, 1}, Case{"resnet_block", 4, 2}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.model + "_batch" + std::to_string(info.param.batch) + "_threads" +
                                  std::to_string(info.param.threads);
                         });

}  // namespace
}  // namespace bnserve
