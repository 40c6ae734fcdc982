// The HTTP routes without a socket: /metrics, unknown paths and methods,
// the open health routes and the token gate.
#include "server/http/http_routes.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/metrics/process_collector.h"

namespace bnserve {
namespace {

constexpr char kReadToken[] = "read-token-0123456789abcdef0123456789";

AuthPolicy TokenPolicy() {
  absl::StatusOr<TokenSet> tokens = TokenSet::Parse(absl::StrCat("read ", kReadToken, "\n"), "tokens.txt");
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return AuthPolicy(tokens.ok() ? *std::move(tokens) : TokenSet(), ReadAuth::kToken);
}

HttpRequest Get(const std::string& path, std::optional<std::string> authorization = std::nullopt) {
  return HttpRequest{"GET", path, std::move(authorization), ""};
}

TEST(HttpRoutesTest, MetricsIsTheTextExpositionOfEveryCollectable) {
  ServerMetrics metrics;
  metrics.OnModelState("mlp", ModelState::kAvailable);
  metrics.RecordCall("Predict", "mlp", absl::StatusCode::kOk, std::chrono::steady_clock::now());
  ProcessCollector process;
  const HttpEnv env{nullptr, nullptr, &metrics, {metrics.registry().get(), &process}};
  const HttpResponse response = RouteHttp(env, Get("/metrics"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response.body.find("bnserve_requests_total{code=\"OK\",method=\"Predict\",model=\"mlp\"} 1"),
            std::string::npos)
      << response.body;
  EXPECT_NE(response.body.find("# TYPE process_resident_memory_bytes gauge"), std::string::npos);
  EXPECT_EQ(RouteHttp(env, HttpRequest{"POST", "/metrics", std::nullopt, ""}).status, 405);
}

TEST(HttpRoutesTest, UnknownPathsAreNotFoundWithAJsonError) {
  const HttpEnv env;
  for (const char* path : {"/", "/nope", "/v2/nope", "/v2/models", "/v2/models/mlp/versions", "/v2/models/mlp/x/y"}) {
    SCOPED_TRACE(path);
    const HttpResponse response = RouteHttp(env, Get(path));
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.content_type, "application/json");
    EXPECT_TRUE(nlohmann::json::parse(response.body).contains("error"));
  }
}

TEST(HttpRoutesTest, HealthIsOpenAndEverythingElseNeedsAToken) {
  const AuthPolicy auth = TokenPolicy();
  ServerMetrics metrics;
  const HttpEnv env{nullptr, &auth, &metrics, {metrics.registry().get()}};
  EXPECT_EQ(RouteHttp(env, Get("/v2/health/live")).body, R"({"live":true})");
  EXPECT_EQ(RouteHttp(env, Get("/v2/health/ready")).body, R"({"ready":true})");
  EXPECT_EQ(RouteHttp(env, Get("/metrics")).status, 401);
  EXPECT_EQ(RouteHttp(env, Get("/metrics", "Bearer not-a-token-0123456789")).status, 401);
  EXPECT_EQ(RouteHttp(env, Get("/metrics", absl::StrCat("Bearer ", kReadToken))).status, 200);
  EXPECT_EQ(RouteHttp(env, Get("/v2")).status, 401);
  EXPECT_EQ(RouteHttp(env, Get("/v2/models/mlp")).status, 401);
  EXPECT_EQ(RouteHttp(env, HttpRequest{"POST", "/v2/models/mlp/infer", std::nullopt, "{}"}).status, 401);
}

}  // namespace
}  // namespace bnserve
