// The HTTP port (--metrics-listen) on a real server, through a client that
// speaks HTTP/1.1 and TLS with OpenSSL directly (tests/test_util/
// http_client.h): with TLS files the port serves HTTPS only, verified
// against the test CA, with the same tokens and mutual TLS as the gRPC
// port; OIP inference over HTTPS answers as bnserve.v1 Predict does; and
// the port's limits (body size, path length, methods) hold over plaintext.
#include <fstream>

#include "gmock/gmock.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/server/server_test_util.h"
#include "tests/test_util/http_client.h"
#include "tests/test_util/test_certs.h"
#include "tests/test_util/test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kReadToken[] = "https-read-token-0123456789abcdef";
constexpr char kAdminToken[] = "https-admin-token-0123456789abcdef";

std::map<std::string, std::string> Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// A client that trusts `ca` and expects the name "localhost", with a
// client certificate when `cert` is given.
HttpClientTls Trusting(const std::string& ca, const std::string& cert = "", const std::string& key = "") {
  HttpClientTls tls;
  tls.ca = ca;
  tls.cert = cert;
  tls.key = key;
  return tls;
}

// The OIP JSON infer body for the fixture's eval input.
std::string InferBody(const nlohmann::json& fixture) {
  const nlohmann::json& input = fixture["eval"]["input"];
  return nlohmann::json{{"id", "https-1"},
                        {"inputs",
                         {{{"name", fixture["input_name"]},
                           {"datatype", "FP32"},
                           {"shape", input["shape"]},
                           {"data", input["data"]}}}}}
      .dump();
}

class ServerHttpsTest : public TestCertsSuite {
 protected:
  void SetUp() override {
    TestCertsSuite::SetUp();
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    fixture_ = LoadJsonFixture("torch/mlp_bn1d.json");
  }

  // A server with TLS (mutual with the test CA when `mutual`), an HTTP port
  // and, when `tokens`, bearer tokens required for every read.
  void Start(bool mutual, bool tokens) {
    TestServerOptions options;
    options.tls = TlsFiles{certs_->server_cert, certs_->server_key, mutual ? certs_->ca : ""};
    options.http_listen = "127.0.0.1:0";
    if (tokens) {
      const std::string token_file = repo_.path() + "/tokens.txt";
      std::ofstream(token_file) << "admin " << kAdminToken << "\nread " << kReadToken << "\n";
      ASSERT_EQ(::chmod(token_file.c_str(), 0600), 0);
      absl::StatusOr<AuthPolicy> auth = AuthPolicy::FromFlags(token_file, ReadAuth::kToken);
      ASSERT_TRUE(auth.ok()) << auth.status();
      options.auth = *auth;
    }
    server_ = std::make_unique<TestServer>(repo_.path(), options);
    ASSERT_GT(server_->http_port(), 0);
  }


  TempRepository repo_;
  nlohmann::json fixture_;
  std::unique_ptr<TestServer> server_;
};


TEST_F(ServerHttpsTest, MetricsAndHealthAnswerOverVerifiedTlsAndPlaintextGetsNoAnswer) {
  Start(/*mutual=*/false, /*tokens=*/false);
  const HttpClientTls tls = Trusting(certs_->ca);
  HttpAnswer metrics = HttpCall(server_->http_port(), &tls, "GET", "/metrics");
  ASSERT_THAT(metrics.error, IsEmpty());
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(metrics.body, HasSubstr("bnserve_model_state{model=\"mlp\",state=\"available\"} 1"));
  HttpAnswer ready = HttpCall(server_->http_port(), &tls, "GET", "/v2/health/ready");
  ASSERT_THAT(ready.error, IsEmpty());
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(nlohmann::json::parse(ready.body), nlohmann::json({{"ready", true}}));
  // By IP address too: the certificate names 127.0.0.1.
  HttpClientTls by_address = tls;
  by_address.server_name = "127.0.0.1";
  EXPECT_EQ(HttpCall(server_->http_port(), &by_address, "GET", "/v2/health/live").status, 200);

  // Plaintext HTTP gets no HTTP answer from the TLS port.
  HttpAnswer plain = HttpCall(server_->http_port(), nullptr, "GET", "/v2/health/ready");
  EXPECT_THAT(plain.error, Not(IsEmpty())) << "status " << plain.status << ": " << plain.body;
  EXPECT_EQ(plain.status, 0);
  // A client that does not trust the server's CA, or expects another name,
  // refuses the handshake.
  const HttpClientTls untrusted = Trusting(certs_->other_ca);
  EXPECT_THAT(HttpCall(server_->http_port(), &untrusted, "GET", "/v2/health/ready").error,
              HasSubstr("TLS handshake failed"));
  HttpClientTls wrong_name = tls;
  wrong_name.server_name = "bnserve.example.org";
  EXPECT_THAT(HttpCall(server_->http_port(), &wrong_name, "GET", "/v2/health/ready").error,
              HasSubstr("TLS handshake failed"));
}

TEST_F(ServerHttpsTest, TokensAreRequiredAsOnPlainHttp) {
  Start(/*mutual=*/false, /*tokens=*/true);
  const HttpClientTls tls = Trusting(certs_->ca);
  const int port = server_->http_port();
  EXPECT_EQ(HttpCall(port, &tls, "GET", "/v2/health/ready").status, 200);  // always open
  for (const std::string path : {"/metrics", "/v2/models/mlp", "/v2"}) {
    SCOPED_TRACE(path);
    HttpAnswer missing = HttpCall(port, &tls, "GET", path);
    EXPECT_EQ(missing.status, 401) << missing.error << missing.body;
    EXPECT_THAT(missing.body, HasSubstr("token"));
    EXPECT_EQ(HttpCall(port, &tls, "GET", path, "", Bearer("https-wrong-token-0123456789abcdef")).status, 401);
    EXPECT_EQ(HttpCall(port, &tls, "GET", path, "", {{"Authorization", std::string("Basic ") + kReadToken}}).status,
              401);
    EXPECT_EQ(HttpCall(port, &tls, "GET", path, "", Bearer(kReadToken)).status, 200);
    EXPECT_EQ(HttpCall(port, &tls, "GET", path, "", Bearer(kAdminToken)).status, 200);
  }
  EXPECT_EQ(HttpCall(port, &tls, "POST", "/v2/models/mlp/infer", InferBody(fixture_)).status, 401);
  EXPECT_EQ(HttpCall(port, &tls, "POST", "/v2/models/mlp/infer", InferBody(fixture_), Bearer(kReadToken)).status,
            200);
}

TEST_F(ServerHttpsTest, InferOverHttpsAnswersAsPredictOverTls) {
  Start(/*mutual=*/false, /*tokens=*/false);
  const HttpClientTls tls = Trusting(certs_->ca);
  // Several requests on one kept-alive TLS connection.
  HttpConnection connection(server_->http_port(), &tls);
  ASSERT_THAT(connection.error(), IsEmpty());
  std::vector<HttpAnswer> answers;
  for (int i = 0; i < 3; ++i) answers.push_back(connection.Call("POST", "/v2/models/mlp/infer", InferBody(fixture_)));

  grpc::SslCredentialsOptions credentials;
  credentials.pem_root_certs = ReadWholeFile(certs_->ca);
  auto stub = v1::BnServe::NewStub(
      grpc::CreateChannel("localhost:" + std::to_string(server_->port()), grpc::SslCredentials(credentials)));
  const nlohmann::json& input = fixture_["eval"]["input"];
  v1::PredictRequest request;
  request.set_model("mlp");
  *request.add_inputs() = MakeTensor(JsonShape(input), JsonFloats(input));
  request.mutable_inputs(0)->set_name(fixture_["input_name"]);
  v1::PredictResponse predicted;
  auto context = NewContext();
  const grpc::Status status = stub->Predict(context.get(), request, &predicted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::vector<float> want = TensorValues(predicted.outputs(0));

  for (const HttpAnswer& answer : answers) {
    ASSERT_THAT(answer.error, IsEmpty());
    ASSERT_EQ(answer.status, 200) << answer.body;
    const nlohmann::json body = nlohmann::json::parse(answer.body);
    EXPECT_EQ(body["id"], "https-1");
    EXPECT_EQ(body["model_version"], "1");
    const nlohmann::json& output = body["outputs"][0];
    EXPECT_EQ(output["shape"].get<std::vector<int64_t>>(),
              std::vector<int64_t>(predicted.outputs(0).shape().begin(), predicted.outputs(0).shape().end()));
    std::vector<float> got;
    for (const nlohmann::json& value : output["data"]) got.push_back(value.get<float>());
    EXPECT_EQ(got, want);  // bit for bit: the same computation
  }
  // An error still names the field over HTTPS.
  HttpAnswer wrong = connection.Call("POST", "/v2/models/mlp/infer", R"({"inputs": [{"name": "input"}]})");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_THAT(wrong.body, HasSubstr("inputs[0]"));
}

TEST_F(ServerHttpsTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  Start(/*mutual=*/true, /*tokens=*/false);
  const int port = server_->http_port();
  const HttpClientTls mutual = Trusting(certs_->ca, certs_->client_cert, certs_->client_key);
  HttpAnswer ok = HttpCall(port, &mutual, "GET", "/v2/health/ready");
  EXPECT_THAT(ok.error, IsEmpty());
  EXPECT_EQ(ok.status, 200);
  // Without a certificate, or with one from another CA, no answer: the
  // handshake fails (TLS 1.2) or the server closes right after it (TLS 1.3).
  for (const HttpClientTls& refused :
       {Trusting(certs_->ca), Trusting(certs_->ca, certs_->other_client_cert, certs_->other_client_key)}) {
    HttpAnswer answer = HttpCall(port, &refused, "GET", "/v2/health/ready");
    EXPECT_THAT(answer.error, Not(IsEmpty())) << "status " << answer.status;
    EXPECT_EQ(answer.status, 0);
  }
}

TEST_F(ServerHttpsTest, AnUnusableHttpAddressOrTlsFileStopsTheStart) {
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create({repo_.path()});
  ASSERT_TRUE(manager.ok()) << manager.status();
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.worker_threads = 1;
  options.tls = TlsFiles{certs_->server_cert, certs_->server_key, ""};
  for (const std::string listen : {"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"}) {
    options.http_listen = listen;
    absl::StatusOr<std::unique_ptr<BnServer>> server = BnServer::Start(manager->get(), options);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << listen << ": " << server.status();
    EXPECT_THAT(server.status().message(), HasSubstr(listen));
  }
  options.http_listen = "192.0.2.1:0";  // TEST-NET-1: not an address of this host
  EXPECT_EQ(BnServer::Start(manager->get(), options).status().code(), absl::StatusCode::kUnavailable);
}

// The plaintext port: its limits and its answers to what no route takes.
class ServerHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    TestServerOptions options;
    options.http_listen = "127.0.0.1:0";
    options.max_message_bytes = 4096;
    server_ = std::make_unique<TestServer>(repo_.path(), options);
    ASSERT_GT(server_->http_port(), 0);
  }

  TempRepository repo_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(ServerHttpTest, BodiesOverTheMessageLimitAreRefusedWith413) {
  const std::string big(5000, ' ');
  HttpAnswer declared = HttpCall(server_->http_port(), nullptr, "POST", "/v2/models/mlp/infer", big);
  EXPECT_EQ(declared.status, 413) << declared.error;
  EXPECT_THAT(declared.body, HasSubstr("4096 bytes"));
  // Chunked: no Content-Length to refuse up front; stopped while reading.
  std::string chunked;
  for (int i = 0; i < 5; ++i) chunked += "400\r\n" + std::string(1024, ' ') + "\r\n";
  chunked += "0\r\n\r\n";
  HttpAnswer streamed = HttpCall(server_->http_port(), nullptr, "POST", "/v2/models/mlp/infer", chunked,
                                 {{"Transfer-Encoding", "chunked"}});
  EXPECT_EQ(streamed.status, 413) << streamed.error;
  EXPECT_THAT(streamed.body, HasSubstr("4096 bytes"));
  // Under the limit the body reaches the route (which finds it no JSON).
  HttpAnswer small = HttpCall(server_->http_port(), nullptr, "POST", "/v2/models/mlp/infer", "{");
  EXPECT_EQ(small.status, 400);
  EXPECT_THAT(small.body, HasSubstr("request body"));
}

TEST_F(ServerHttpTest, LongPathsOtherMethodsAndUnknownPathsGetJsonErrors) {
  const int port = server_->http_port();
  HttpAnswer long_path = HttpCall(port, nullptr, "GET", "/v2/models/" + std::string(2000, 'm'));
  EXPECT_EQ(long_path.status, 414);
  EXPECT_THAT(long_path.body, HasSubstr("1024 bytes"));
  // Every method reaches the routes, which name what they expect.
  for (const std::string method : {"PUT", "DELETE", "PATCH"}) {
    HttpAnswer answer = HttpCall(port, nullptr, method, "/v2/models/mlp/infer", "{}");
    EXPECT_EQ(answer.status, 405) << method;
    EXPECT_THAT(answer.body, HasSubstr("expected POST, got " + method));
  }
  HttpAnswer unknown = HttpCall(port, nullptr, "GET", "/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(nlohmann::json::parse(unknown.body)["error"], "no such path: /nope (expected /metrics or /v2/...)");
  // A malformed request line is the library's to refuse; still JSON.
  HttpConnection connection(port, nullptr);
  HttpAnswer malformed = connection.Call("GET", "/v2 extra words", "", {}, /*close_after=*/true);
  EXPECT_EQ(malformed.status, 400) << malformed.error;
  EXPECT_TRUE(nlohmann::json::parse(malformed.body, nullptr, false).contains("error")) << malformed.body;
}

}  // namespace
}  // namespace bnserve::testing
