#include "server/auth/auth_policy.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

// The mutating RPCs; everything else in kReadRpcs is read-only.
const char* const kAdminRpcs[] = {"LoadModel",   "ReloadModel",      "UnloadModel",     "Recalibrate",
                                  "Rollback",    "PromoteCandidate", "DiscardCandidate"};
// The Open Inference Protocol's RPCs (inference.GRPCInferenceService) are
// all read-only: ModelInfer is a Predict.
const char* const kReadRpcs[] = {
    "ListModels",          "DescribeModel",  "Predict",       "PredictStream", "GetRunningStats", "GetBatchStats",
    "GetBatchStatsStream", "Moments",        "ListVersions",  "Export",        "ServerLive",      "ServerReady",
    "ModelReady",          "ServerMetadata", "ModelMetadata", "ModelInfer",    "GetDrift",        "WatchDrift"};

constexpr absl::string_view kBearerScheme = "bearer ";

}  // namespace

Role RequiredRole(absl::string_view rpc) {
  for (const char* read : kReadRpcs) {
    if (rpc == read) return Role::kRead;
  }
  return Role::kAdmin;  // the mutating RPCs, and anything unknown
}

const std::vector<std::string>& ClassifiedRpcs() {
  static const auto* const rpcs = [] {
    auto* all = new std::vector<std::string>(std::begin(kAdminRpcs), std::end(kAdminRpcs));
    all->insert(all->end(), std::begin(kReadRpcs), std::end(kReadRpcs));
    return all;
  }();
  return *rpcs;
}

absl::StatusOr<ReadAuth> ParseReadAuth(absl::string_view text) {
  if (text == "open") return ReadAuth::kOpen;
  if (text == "token") return ReadAuth::kToken;
  return absl::InvalidArgumentError(absl::StrCat("--read-auth: expected 'open' or 'token', got '", text, "'"));
}

absl::StatusOr<AuthPolicy> AuthPolicy::FromFlags(const std::string& token_file, ReadAuth read_auth) {
  if (token_file.empty()) {
    if (read_auth == ReadAuth::kToken) {
      return absl::InvalidArgumentError("--read-auth token needs --token-file (there are no tokens to check)");
    }
    return AuthPolicy();
  }
  BN_ASSIGN_OR_RETURN(TokenSet tokens, TokenSet::Load(token_file));
  return AuthPolicy(std::move(tokens), read_auth);
}

absl::StatusOr<absl::string_view> ParseBearer(absl::string_view authorization) {
  if (authorization.size() <= kBearerScheme.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearerScheme.size()), kBearerScheme)) {
    return absl::UnauthenticatedError("authorization metadata: expected 'Bearer <token>'");
  }
  absl::string_view token = absl::StripAsciiWhitespace(authorization.substr(kBearerScheme.size()));
  if (token.empty()) return absl::UnauthenticatedError("authorization metadata: the bearer token is empty");
  return token;
}

absl::Status AuthPolicy::Check(absl::string_view rpc, std::optional<absl::string_view> authorization) const {
  if (!tokens_.has_value()) return absl::OkStatus();
  const Role required = RequiredRole(rpc);
  if (required == Role::kRead && read_auth_ == ReadAuth::kOpen) return absl::OkStatus();
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat(rpc, " requires a bearer token with role '", RoleName(required),
                     "' (metadata 'authorization: Bearer <token>'; bnctl --token, --token-file or BNSERVE_TOKEN)"));
  }
  absl::StatusOr<absl::string_view> token = ParseBearer(*authorization);
  if (!token.ok()) return absl::UnauthenticatedError(absl::StrCat(rpc, ": ", token.status().message()));
  const std::optional<Role> role = tokens_->Lookup(*token);
  if (!role.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(rpc, ": the bearer token is not one of the server's tokens"));
  }
  if (required == Role::kAdmin && *role != Role::kAdmin) {
    return absl::PermissionDeniedError(absl::StrCat(rpc, " requires role '", RoleName(required),
                                                    "'; the token presented has role '", RoleName(*role), "'"));
  }
  return absl::OkStatus();
}

}  // namespace bnserve
