// TokenSet: the bearer tokens a server accepts and the role each grants,
// loaded from a --token-file. Only SHA-256 digests of the tokens are kept,
// and Lookup compares the presented token's digest with EVERY configured
// digest in constant time, so neither the matching entry nor the length of
// any token leaks through timing.
//
// Token file format, one entry per line:  <role> <token>
// with role `admin` or `read`; blank lines and lines whose first non-blank
// character is '#' are ignored. Tokens are printable ASCII without spaces
// (what a gRPC metadata value can carry) and must be unique.
//
// Immutable after loading; thread-safe. Copyable.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/util/status.h"

namespace bnserve {

enum class Role : uint8_t {
  kRead = 1,   // read-only RPCs
  kAdmin = 2,  // every RPC, the mutating ones included
};

// "read" / "admin".
const char* RoleName(Role role);

class TokenSet {
 public:
  using Digest = std::array<uint8_t, 32>;

  // Parses the contents of a token file; `path` only names the file in
  // errors. INVALID_ARGUMENT "<path>:<line>: ..." for a malformed line, an
  // unknown role or a repeated token, and for a file without tokens.
  // Messages never contain a token.
  static absl::StatusOr<TokenSet> Parse(absl::string_view contents, absl::string_view path);
  // Reads and parses `path`; NOT_FOUND / PERMISSION_DENIED naming it.
  // Logs a warning when the file is readable by group or others.
  static absl::StatusOr<TokenSet> Load(const std::string& path);

  // The role of `token`, or nullopt when it is not configured. Runs in a
  // time that depends only on the number of configured tokens.
  std::optional<Role> Lookup(absl::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Digest digest;
    Role role;
  };
  std::vector<Entry> entries_;
};

}  // namespace bnserve
