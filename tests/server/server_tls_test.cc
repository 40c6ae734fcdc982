// TLS on a real server, with certificates made by `openssl` at test time:
// a verified TLS call succeeds, plaintext and wrongly-rooted clients fail,
// mutual TLS refuses clients without a certificate from the client CA; bad
// TLS files are reported by flag and file; start-up warnings for exposed
// set-ups.
#include <fstream>

#include "gmock/gmock.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/auth/tls_options.h"
#include "tests/server/server_test_util.h"
#include "tests/test_util/test_certs.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ServerTlsTest : public TestCertsSuite {
 protected:
  void SetUp() override {
    TestCertsSuite::SetUp();
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
  }

  void Start(bool mutual) {
    TestServerOptions options;
    options.tls = TlsFiles{certs_->server_cert, certs_->server_key, mutual ? certs_->ca : ""};
    server_ = std::make_unique<TestServer>(repo_.path(), options);
    ASSERT_GT(server_->port(), 0);
  }

  // ListModels over a channel with `credentials` to host:<port>.
  grpc::Status ListModels(const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                          const std::string& host = "localhost") {
    auto channel = grpc::CreateChannel(host + ":" + std::to_string(server_->port()), credentials);
    auto stub = v1::BnServe::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ListModelsResponse response;
    grpc::Status status = stub->ListModels(&context, {}, &response);
    if (status.ok()) {
      EXPECT_EQ(response.models_size(), 1);
    }
    return status;
  }

  static std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& root, const std::string& cert = "",
                                                       const std::string& key = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadWholeFile(root);
    if (!cert.empty()) options.pem_cert_chain = ReadWholeFile(cert);
    if (!key.empty()) options.pem_private_key = ReadWholeFile(key);
    return grpc::SslCredentials(options);
  }

  TempRepository repo_;
  std::unique_ptr<TestServer> server_;
};


TEST_F(ServerTlsTest, VerifiedTlsCallSucceedsAndPlaintextOrUntrustedClientsFail) {
  Start(/*mutual=*/false);
  grpc::Status status = ListModels(Tls(certs_->ca));
  EXPECT_TRUE(status.ok()) << status.error_message();
  status = ListModels(Tls(certs_->ca), "127.0.0.1");  // the IP subjectAltName
  EXPECT_TRUE(status.ok()) << status.error_message();

  status = ListModels(grpc::InsecureChannelCredentials());
  EXPECT_FALSE(status.ok()) << status.error_message();
  status = ListModels(Tls(certs_->other_ca));  // server certificate not trusted
  EXPECT_FALSE(status.ok()) << status.error_message();
  // Without mutual TLS a client certificate is not needed (but harmless).
  status = ListModels(Tls(certs_->ca, certs_->client_cert, certs_->client_key));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServerTlsTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  Start(/*mutual=*/true);
  grpc::Status status = ListModels(Tls(certs_->ca));
  EXPECT_FALSE(status.ok()) << "no client certificate: " << status.error_message();
  status = ListModels(Tls(certs_->ca, certs_->other_client_cert, certs_->other_client_key));
  EXPECT_FALSE(status.ok()) << "wrong CA: " << status.error_message();
  status = ListModels(grpc::InsecureChannelCredentials());
  EXPECT_FALSE(status.ok()) << status.error_message();
  status = ListModels(Tls(certs_->ca, certs_->client_cert, certs_->client_key));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServerTlsTest, BadTlsFilesAreReportedByFlagAndFile) {
  const std::string garbage = repo_.path() + "/garbage.pem";
  std::ofstream(garbage) << "not a certificate\n";
  struct Case {
    TlsFiles files;
    absl::StatusCode code;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{certs_->server_cert, "", ""}, absl::StatusCode::kInvalidArgument, "needs both --tls-cert and --tls-key"},
      {{"", certs_->server_key, ""}, absl::StatusCode::kInvalidArgument, "needs both --tls-cert and --tls-key"},
      {{"", "", certs_->ca}, absl::StatusCode::kInvalidArgument, "--tls-client-ca"},
      {{repo_.path() + "/absent.pem", certs_->server_key, ""}, absl::StatusCode::kNotFound, "absent.pem"},
      {{garbage, certs_->server_key, ""}, absl::StatusCode::kInvalidArgument, "--tls-cert " + garbage},
      {{certs_->server_cert, garbage, ""}, absl::StatusCode::kInvalidArgument, "--tls-key " + garbage},
      {{certs_->server_cert, certs_->client_key, ""},
       absl::StatusCode::kInvalidArgument,
       "does not match the certificate in --tls-cert"},
      {{certs_->server_cert, certs_->server_key, garbage},
       absl::StatusCode::kInvalidArgument,
       "--tls-client-ca " + garbage},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(c.files);
    EXPECT_EQ(credentials.status().code(), c.code) << credentials.status();
    EXPECT_THAT(credentials.status().message(), HasSubstr(c.expected));
  }
  EXPECT_TRUE(MakeServerCredentials(TlsFiles{certs_->server_cert, certs_->server_key, certs_->ca}).ok());

  // The server refuses to start rather than serving without the TLS asked for.
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create({repo_.path()});
  ASSERT_TRUE(manager.ok()) << manager.status();
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.tls = TlsFiles{certs_->server_cert, certs_->client_key, ""};
  absl::StatusOr<std::unique_ptr<BnServer>> server = BnServer::Start(manager->get(), options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ListenAddressTest, LoopbackAddresses) {
  for (const char* loopback : {"127.0.0.1:50051", "localhost:0", "[::1]:50051", "127.1.2.3:9"}) {
    EXPECT_TRUE(IsLoopbackListenAddress(loopback)) << loopback;
  }
  for (const char* exposed : {"0.0.0.0:50051", "[::]:50051", "10.0.0.5:50051", "example.org:443", "127example:1"}) {
    EXPECT_FALSE(IsLoopbackListenAddress(exposed)) << exposed;
  }
}

TEST(StartupWarningTest, PlaintextOffLoopbackAndOpenMutationsAreLogged) {
  TempRepository repo;
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create({repo.path()});
  ASSERT_TRUE(manager.ok()) << manager.status();
  for (const std::string listen : {"127.0.0.1:0", "0.0.0.0:0"}) {
    SCOPED_TRACE(listen);
    LogCapture log;
    ServerOptions options;
    options.listen = listen;
    options.worker_threads = 1;
    absl::StatusOr<std::unique_ptr<BnServer>> server = BnServer::Start(manager->get(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Shutdown(std::chrono::system_clock::now());
    EXPECT_THAT(log.text(), HasSubstr("event=auth_disabled"));
    if (listen == "0.0.0.0:0") {
      EXPECT_THAT(log.text(), HasSubstr("event=insecure_listen"));
    } else {
      EXPECT_THAT(log.text(), Not(HasSubstr("event=insecure_listen")));
    }
  }
}

}  // namespace
}  // namespace bnserve::testing
