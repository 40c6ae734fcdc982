// AuthPolicy: who may call which bnserve RPC. Decides, for an RPC name and
// the client's `authorization` metadata, whether the call proceeds - a pure
// function of its inputs, tested without a server.
//
//   * Without tokens (no --token-file) every RPC is open.
//   * With tokens, mutating RPCs (Recalibrate, Rollback, LoadModel,
//     ReloadModel, UnloadModel, PromoteCandidate, DiscardCandidate) need an
//     `admin` token; read-only RPCs need a
//     `read` or `admin` token when read_auth is kToken and nothing when it is
//     kOpen. An RPC this table does not know needs `admin` (fail closed).
//   * The standard health and reflection services never reach the policy.
//
// Missing or unknown token -> UNAUTHENTICATED; a `read` token on a mutating
// RPC -> PERMISSION_DENIED naming the RPC and the role required. Messages
// never contain the token.
//
// Immutable; thread-safe. Copyable.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/util/status.h"
#include "server/auth/token_set.h"

namespace bnserve {

// Whether read-only RPCs need a token (--read-auth open|token).
enum class ReadAuth { kOpen, kToken };

// The role an RPC needs when tokens are configured.
Role RequiredRole(absl::string_view rpc);
// Every BnServe RPC the policy classifies (the service's method names).
const std::vector<std::string>& ClassifiedRpcs();

// "open" / "token" -> ReadAuth; INVALID_ARGUMENT naming --read-auth.
absl::StatusOr<ReadAuth> ParseReadAuth(absl::string_view text);

class AuthPolicy {
 public:
  // Everything open.
  AuthPolicy() = default;
  AuthPolicy(TokenSet tokens, ReadAuth read_auth) : tokens_(std::move(tokens)), read_auth_(read_auth) {}

  // Builds the policy of the server flags: `token_file` empty = open (then
  // read_auth must be kOpen: INVALID_ARGUMENT otherwise).
  static absl::StatusOr<AuthPolicy> FromFlags(const std::string& token_file, ReadAuth read_auth);

  bool enabled() const { return tokens_.has_value(); }
  ReadAuth read_auth() const { return read_auth_; }

  // `authorization`: the value of the client's `authorization` metadata,
  // nullopt when absent. OK when the call may proceed.
  absl::Status Check(absl::string_view rpc, std::optional<absl::string_view> authorization) const;

 private:
  std::optional<TokenSet> tokens_;
  ReadAuth read_auth_ = ReadAuth::kOpen;
};

// The token of an `authorization: Bearer <token>` value (scheme matched
// case-insensitively); UNAUTHENTICATED for any other form.
absl::StatusOr<absl::string_view> ParseBearer(absl::string_view authorization);

}  // namespace bnserve
