// Bearer-token authorisation on a real server: every method of the BnServe
// service (taken from the generated descriptor, called generically so that
// unary and streaming RPCs go through the same client code) is refused or
// let through according to the token and --read-auth; health stays open;
// and no token ever reaches the logs.
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kAdminToken[] = "admin-token-5c1d8e0f9a2b4c6d7e8f9a0b1c2d3e4f";
constexpr char kReadToken[] = "read-token-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
constexpr char kUnknownToken[] = "unknown-token-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";

// The mutating RPCs as the issue lists them, and the drift candidates'
// promotion and discard (docs/drift.md).
const std::set<std::string> kMutating = {"Recalibrate", "Rollback",         "LoadModel",       "ReloadModel",
                                         "UnloadModel", "PromoteCandidate", "DiscardCandidate"};

std::vector<std::string> ServiceMethods() {
  std::vector<std::string> names = BnServeMethodNames();
  EXPECT_EQ(names.size(), 19u) << "the service changed: check kMutating";
  return names;
}

// Any RPC as raw bytes: one empty request message, then half-close, reading
// whatever comes back. Works for unary, client-, server- and bidi-streaming
// methods alike (on the wire they differ only in message counts).
class RawCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RawCall(grpc::GenericStub* stub, const std::string& method, const std::string& authorization) {
    grpc::Slice empty{std::string()};
    request_ = grpc::ByteBuffer(&empty, 1);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!authorization.empty()) context_.AddMetadata("authorization", authorization);
    stub->PrepareBidiStreamingCall(&context_, absl::StrCat("/", v1::BnServe::service_full_name(), "/", method),
                                   grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (ok) StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }
  grpc::Status Await() { return done_.get_future().get(); }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::promise<grpc::Status> done_;
};

grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& authorization) {
  grpc::GenericStub stub(channel);
  RawCall call(&stub, method, authorization);
  return call.Await();
}

bool IsAuthError(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         status.error_code() == grpc::StatusCode::PERMISSION_DENIED;
}

class ServerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    token_file_ = repo_.path() + "/tokens.txt";
    std::ofstream(token_file_) << "# test tokens\nadmin " << kAdminToken << "\nread " << kReadToken << "\n";
    ASSERT_EQ(::chmod(token_file_.c_str(), 0600), 0);
  }

  void Start(ReadAuth read_auth) {
    absl::StatusOr<AuthPolicy> auth = AuthPolicy::FromFlags(token_file_, read_auth);
    ASSERT_TRUE(auth.ok()) << auth.status();
    TestServerOptions options;
    options.auth = *auth;
    server_ = std::make_unique<TestServer>(repo_.path(), options);
  }

  TempRepository repo_;
  std::string token_file_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(ServerAuthTest, EveryMutatingRpcNeedsAnAdminTokenAndReadsAreOpenByDefault) {
  Start(ReadAuth::kOpen);
  const std::string admin = std::string("Bearer ") + kAdminToken;
  const std::string read = std::string("Bearer ") + kReadToken;
  const std::string unknown = std::string("Bearer ") + kUnknownToken;
  for (const std::string& method : ServiceMethods()) {
    SCOPED_TRACE(method);
    const bool mutating = kMutating.count(method) > 0;
    const grpc::Status anonymous = CallRaw(server_->channel(), method, "");
    const grpc::Status with_read = CallRaw(server_->channel(), method, read);
    const grpc::Status with_unknown = CallRaw(server_->channel(), method, unknown);
    const grpc::Status with_admin = CallRaw(server_->channel(), method, admin);
    if (mutating) {
      EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED) << anonymous.error_message();
      EXPECT_THAT(anonymous.error_message(), HasSubstr(method));
      EXPECT_EQ(with_unknown.error_code(), grpc::StatusCode::UNAUTHENTICATED) << with_unknown.error_message();
      EXPECT_EQ(with_read.error_code(), grpc::StatusCode::PERMISSION_DENIED) << with_read.error_message();
      EXPECT_THAT(with_read.error_message(), HasSubstr(method + " requires role 'admin'"));
    } else {
      EXPECT_FALSE(IsAuthError(anonymous)) << anonymous.error_message();
      EXPECT_FALSE(IsAuthError(with_read)) << with_read.error_message();
      EXPECT_FALSE(IsAuthError(with_unknown)) << with_unknown.error_message();
    }
    // An admin token passes the gate (the empty request may still be
    // refused by the RPC itself, e.g. INVALID_ARGUMENT for the model name).
    EXPECT_FALSE(IsAuthError(with_admin)) << with_admin.error_message();
  }
}

TEST_F(ServerAuthTest, WithReadAuthTokenEveryRpcNeedsAToken) {
  Start(ReadAuth::kToken);
  for (const std::string& method : ServiceMethods()) {
    SCOPED_TRACE(method);
    const grpc::Status anonymous = CallRaw(server_->channel(), method, "");
    EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED) << anonymous.error_message();
    const grpc::Status with_read = CallRaw(server_->channel(), method, std::string("Bearer ") + kReadToken);
    if (kMutating.count(method) > 0) {
      EXPECT_EQ(with_read.error_code(), grpc::StatusCode::PERMISSION_DENIED) << with_read.error_message();
    } else {
      EXPECT_FALSE(IsAuthError(with_read)) << with_read.error_message();
    }
  }
  // The health service stays open for load balancers and probes.
  EXPECT_EQ(CheckHealth(server_->channel(), ""), 1);
  EXPECT_EQ(CheckHealth(server_->channel(), "mlp"), 1);
}

TEST_F(ServerAuthTest, TokensUnlockRealCalls) {
  Start(ReadAuth::kToken);
  v1::ListModelsResponse models;
  auto read_context = NewContext();
  read_context->AddMetadata("authorization", std::string("Bearer ") + kReadToken);
  ASSERT_TRUE(server_->stub().ListModels(read_context.get(), {}, &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).name(), "mlp");

  v1::UnloadModelRequest unload;
  unload.set_model("mlp");
  v1::UnloadModelResponse unloaded;
  auto denied_context = NewContext();
  denied_context->AddMetadata("authorization", std::string("Bearer ") + kReadToken);
  EXPECT_EQ(server_->stub().UnloadModel(denied_context.get(), unload, &unloaded).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(server_->manager().List()[0].state, ModelState::kAvailable);  // nothing happened
  auto admin_context = NewContext();
  admin_context->AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
  ASSERT_TRUE(server_->stub().UnloadModel(admin_context.get(), unload, &unloaded).ok());
  EXPECT_EQ(unloaded.status().state(), v1::MODEL_STATE_UNLOADED);
}

TEST_F(ServerAuthTest, TokensNeverAppearInTheLogs) {
  ASSERT_EQ(::chmod(token_file_.c_str(), 0644), 0);  // also triggers the permission warning
  LogCapture log;
  Start(ReadAuth::kToken);
  for (const std::string token : {kAdminToken, kReadToken, kUnknownToken}) {
    for (const std::string& method : ServiceMethods()) {
      CallRaw(server_->channel(), method, "Bearer " + token);
      CallRaw(server_->channel(), method, "Bearer  " + token + " ");
      CallRaw(server_->channel(), method, "Basic " + token);
    }
  }
  server_->Stop();
  const std::string text = log.text();
  EXPECT_THAT(text, HasSubstr("event=rpc_denied"));
  EXPECT_THAT(text, HasSubstr("event=token_file_readable"));
  EXPECT_THAT(text, HasSubstr("event=rpc rpc=ListModels"));  // allowed calls were logged too
  // No 12-byte window of any token: not whole, not in part.
  for (const std::string token : {kAdminToken, kReadToken, kUnknownToken}) {
    for (size_t i = 0; i + 12 <= token.size(); ++i) {
      ASSERT_EQ(text.find(token.substr(i, 12)), std::string::npos) << "token bytes at " << i << " leaked:\n" << text;
    }
  }
}

}  // namespace
}  // namespace bnserve::testing
