// The authorisation decision without a server: token-file parsing (errors
// name file and line, never the token), constant-time lookup, bearer
// parsing, and the (RPC, token) -> status table for every RPC of the
// BnServe service as the generated descriptor lists it.
#include "server/auth/auth_policy.h"

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/auth/token_set.h"
#include "tests/server/server_test_util.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdminToken[] = "adm-7f3c9b1e2d4a6f8091b2c3d4e5f60718";
constexpr char kReadToken[] = "rd-0a1b2c3d4e5f60718293a4b5c6d7e8f9ab";

// The mutating RPCs, as the issue lists them (independent of the table in
// auth_policy.cc).
// Promoting or discarding a candidate changes what is served or staged, so
// they are mutating too (docs/drift.md).
const std::set<std::string> kMutating = {"Recalibrate", "Rollback",         "LoadModel",       "ReloadModel",
                                         "UnloadModel", "PromoteCandidate", "DiscardCandidate"};

// Every method of both services bnserve serves: bnserve.v1.BnServe and
// the Open Inference Protocol's inference.GRPCInferenceService.
std::vector<std::string> ServiceMethods() {
  std::vector<std::string> methods = testing::BnServeMethodNames();
  const google::protobuf::ServiceDescriptor* oip =
      inference::ServerLiveRequest::descriptor()->file()->FindServiceByName("GRPCInferenceService");
  if (oip == nullptr) ADD_FAILURE() << "no descriptor for " << inference::GRPCInferenceService::service_full_name();
  for (int i = 0; oip != nullptr && i < oip->method_count(); ++i) methods.push_back(oip->method(i)->name());
  return methods;
}

TokenSet TwoTokens() {
  absl::StatusOr<TokenSet> set =
      TokenSet::Parse(absl::StrCat("# bnserve tokens\n\nadmin ", kAdminToken, "\r\n   # indented comment\n\tread\t",
                                   kReadToken, "  \n"),
                      "tokens.txt");
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : TokenSet();
}

TEST(TokenSetTest, ParsesRolesSkippingCommentsBlankLinesAndCarriageReturns) {
  const TokenSet set = TwoTokens();
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.Lookup(kAdminToken), Role::kAdmin);
  EXPECT_EQ(set.Lookup(kReadToken), Role::kRead);
}

TEST(TokenSetTest, OnlyTheExactTokenMatches) {
  const TokenSet set = TwoTokens();
  const std::string admin = kAdminToken;
  for (const std::string& near : {std::string(), admin.substr(0, admin.size() - 1), admin + "0", admin + " ",
                                  " " + admin, std::string(admin.size(), 'a'), std::string("# bnserve")}) {
    SCOPED_TRACE(near);
    EXPECT_EQ(set.Lookup(near), std::nullopt);
  }
}

TEST(TokenSetTest, ErrorsNameFileAndLineButNeverTheToken) {
  struct Case {
    std::string contents;
    std::string expected;
  };
  const std::string secret = "s3cr3t-value-that-must-not-leak";
  const std::vector<Case> cases = {
      {std::string("admin ") + kAdminToken + "\n\nadmin " + secret + " extra\n", "tokens.txt:3: expected"},
      {"# c\nroot " + secret + "\n", "tokens.txt:2: role: expected 'admin' or 'read', got 'root'"},
      {"read\n", "tokens.txt:1: expected '<role> <token>' (2 fields), got 1"},
      {"admin " + secret + "\n#\nread " + secret + "\n", "tokens.txt:3: token repeats the one on line 1"},
      {"admin " + secret + "\x01" + "\n", "tokens.txt:1: token: only printable ASCII"},
      {"# nothing but comments\n\n", "tokens.txt: no tokens"},
      {"", "tokens.txt: no tokens"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    absl::StatusOr<TokenSet> set = TokenSet::Parse(c.contents, "tokens.txt");
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(set.status().message(), HasSubstr(c.expected));
    EXPECT_THAT(set.status().message(), Not(HasSubstr("s3cr3t")));
  }
}

TEST(TokenSetTest, LoadNamesAMissingFileAndWarnsAboutReadablePermissions) {
  testing::TempRepository dir;
  absl::StatusOr<TokenSet> missing = TokenSet::Load(dir.path() + "/absent.txt");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("absent.txt"));

  const std::string path = dir.path() + "/tokens.txt";
  std::ofstream(path) << "admin " << kAdminToken << "\n";
  for (const mode_t mode : {0600, 0640, 0604}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    testing::LogCapture log;
    absl::StatusOr<TokenSet> set = TokenSet::Load(path);
    ASSERT_TRUE(set.ok()) << set.status();
    EXPECT_EQ(set->Lookup(kAdminToken), Role::kAdmin);
    if (mode == 0600) {
      EXPECT_THAT(log.text(), Not(HasSubstr("token_file_readable")));
    } else {
      EXPECT_THAT(log.text(), HasSubstr("event=token_file_readable"));
      EXPECT_THAT(log.text(), HasSubstr("chmod 600"));
    }
    EXPECT_THAT(log.text(), Not(HasSubstr(kAdminToken)));
  }
}

TEST(TokenSetTest, ShortTokensAreAcceptedWithAWarningThatOmitsThem) {
  testing::LogCapture log;
  absl::StatusOr<TokenSet> set = TokenSet::Parse("read shorty\n", "t.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->Lookup("shorty"), Role::kRead);
  EXPECT_THAT(log.text(), HasSubstr("event=short_token file=t.txt line=1 length=6"));
  EXPECT_THAT(log.text(), Not(HasSubstr("shorty")));
}

TEST(BearerTest, AcceptsTheBearerSchemeInAnyCase) {
  for (const std::string value : {"Bearer abc", "bearer abc", "BEARER  abc  "}) {
    SCOPED_TRACE(value);
    absl::StatusOr<absl::string_view> token = ParseBearer(value);
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(*token, "abc");
  }
  for (const std::string value : {"", "Bearer", "Bearer ", "Bearer    ", "Basic YWxhZGRpbg==", "abc", "Bearerabc"}) {
    SCOPED_TRACE(value);
    absl::StatusOr<absl::string_view> token = ParseBearer(value);
    EXPECT_EQ(token.status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST(AuthPolicyTest, ClassifiesExactlyTheMethodsOfTheService) {
  const std::vector<std::string> methods = ServiceMethods();
  ASSERT_FALSE(methods.empty());
  EXPECT_THAT(ClassifiedRpcs(), ::testing::UnorderedElementsAreArray(methods));
  for (const std::string& method : methods) {
    SCOPED_TRACE(method);
    EXPECT_EQ(RequiredRole(method), kMutating.count(method) ? Role::kAdmin : Role::kRead);
  }
  EXPECT_EQ(RequiredRole("SomeFutureRpc"), Role::kAdmin);  // fail closed
}

TEST(AuthPolicyTest, WithoutTokensEverythingIsOpen) {
  const AuthPolicy open;
  EXPECT_FALSE(open.enabled());
  for (const std::string& method : ServiceMethods()) {
    EXPECT_TRUE(open.Check(method, std::nullopt).ok()) << method;
    EXPECT_TRUE(open.Check(method, "Bearer whatever").ok()) << method;
  }
}

// The expected code for every RPC, read_auth and credential, from the
// rules of the issue written out independently.
absl::StatusCode Expected(const std::string& method, ReadAuth read_auth, const std::string& credential) {
  const bool mutating = kMutating.count(method) > 0;
  if (!mutating && read_auth == ReadAuth::kOpen) return absl::StatusCode::kOk;
  if (credential == "none" || credential == "unknown" || credential == "malformed") {
    return absl::StatusCode::kUnauthenticated;
  }
  if (credential == "read" && mutating) return absl::StatusCode::kPermissionDenied;
  return absl::StatusCode::kOk;
}

TEST(AuthPolicyTest, DecidesEveryRpcForEveryKindOfCredential) {
  const std::map<std::string, std::optional<std::string>> credentials = {
      {"none", std::nullopt},
      {"unknown", std::string("Bearer not-a-configured-token-0000000000")},
      {"malformed", std::string("Token ") + kAdminToken},
      {"read", std::string("Bearer ") + kReadToken},
      {"admin", std::string("bearer ") + kAdminToken},
  };
  for (const ReadAuth read_auth : {ReadAuth::kOpen, ReadAuth::kToken}) {
    const AuthPolicy policy(TwoTokens(), read_auth);
    for (const std::string& method : ServiceMethods()) {
      for (const auto& [credential, authorization] : credentials) {
        SCOPED_TRACE(method + " with " + credential + (read_auth == ReadAuth::kToken ? " (read-auth token)" : ""));
        std::optional<absl::string_view> header;
        if (authorization.has_value()) header = *authorization;
        const absl::Status status = policy.Check(method, header);
        EXPECT_EQ(status.code(), Expected(method, read_auth, credential)) << status;
        EXPECT_THAT(status.message(), Not(HasSubstr(kAdminToken)));
        EXPECT_THAT(status.message(), Not(HasSubstr(kReadToken)));
        EXPECT_THAT(status.message(), Not(HasSubstr("not-a-configured-token")));
        if (!status.ok()) {
          EXPECT_THAT(status.message(), HasSubstr(method));
        }
        if (status.code() == absl::StatusCode::kPermissionDenied) {
          EXPECT_THAT(status.message(), HasSubstr("requires role 'admin'"));
          EXPECT_THAT(status.message(), HasSubstr("has role 'read'"));
        }
      }
    }
  }
}

TEST(AuthPolicyTest, FlagsAreChecked) {
  EXPECT_TRUE(ParseReadAuth("open").ok());
  EXPECT_EQ(*ParseReadAuth("token"), ReadAuth::kToken);
  EXPECT_THAT(ParseReadAuth("closed").status().message(), HasSubstr("--read-auth"));
  absl::StatusOr<AuthPolicy> no_file = AuthPolicy::FromFlags("", ReadAuth::kToken);
  EXPECT_EQ(no_file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_file.status().message(), HasSubstr("--token-file"));
  absl::StatusOr<AuthPolicy> open = AuthPolicy::FromFlags("", ReadAuth::kOpen);
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE(open->enabled());
}

}  // namespace
}  // namespace bnserve
