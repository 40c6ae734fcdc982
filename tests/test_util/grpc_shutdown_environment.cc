// Linked into every test binary that uses gRPC in process (tests/server/,
// tests/client/): after the last test, the binary waits for gRPC to finish
// shutting itself down before it exits, so that no gRPC thread is alive when
// OpenSSL cleans up at exit (client/grpc_exit.h says what goes wrong
// otherwise). A gRPC object that outlives every test fails the binary
// instead of exiting early.
#include "client/grpc_exit.h"
#include "gtest/gtest.h"

namespace bnserve::testing {
namespace {

class AwaitGrpcShutdownEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    EXPECT_TRUE(client::AwaitGrpcShutdown(absl::Seconds(30)))
        << "gRPC is still initialized 30 s after the last test: a channel, stub or server outlived its test";
  }
};

[[maybe_unused]] ::testing::Environment* const kAwaitGrpcShutdown =
    ::testing::AddGlobalTestEnvironment(new AwaitGrpcShutdownEnvironment);

}  // namespace
}  // namespace bnserve::testing
