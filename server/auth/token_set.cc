#include "server/auth/token_set.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/file_system.h"
#include "openssl/crypto.h"
#include "openssl/sha.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

// Shorter tokens are accepted (tests, local set-ups) but warned about.
constexpr size_t kRecommendedTokenLength = 32;

TokenSet::Digest Sha256(absl::string_view bytes) {
  TokenSet::Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  return digest;
}

// What a gRPC metadata value can carry, minus the space that separates the
// role from the token.
bool IsTokenCharacter(char c) { return c > 0x20 && c < 0x7f; }

}  // namespace

const char* RoleName(Role role) { return role == Role::kAdmin ? "admin" : "read"; }

absl::StatusOr<TokenSet> TokenSet::Parse(absl::string_view contents, absl::string_view path) {
  TokenSet set;
  std::vector<int> entry_lines;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);  // also drops a CRLF's '\r'
    if (line.empty() || line.front() == '#') continue;
    const std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t\v\f"), absl::SkipEmpty());
    const std::string where = absl::StrCat(path, ":", line_number, ": ");
    // The line is never quoted back: it holds a token.
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected '<role> <token>' (2 fields), got ", fields.size(), " fields"));
    }
    Role role;
    if (fields[0] == "admin") {
      role = Role::kAdmin;
    } else if (fields[0] == "read") {
      role = Role::kRead;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(where, "role: expected 'admin' or 'read', got '",
                                                     absl::CHexEscape(std::string(fields[0])), "'"));
    }
    const absl::string_view token = fields[1];
    for (char c : token) {
      if (!IsTokenCharacter(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "token: only printable ASCII can be sent as gRPC metadata, found byte 0x",
                         absl::Hex(static_cast<unsigned char>(c))));
      }
    }
    if (token.size() < kRecommendedTokenLength) {
      spdlog::warn("event=short_token file={} line={} length={} recommended={}", std::string(path), line_number,
                   token.size(), kRecommendedTokenLength);
    }
    const Digest digest = Sha256(token);
    for (size_t i = 0; i < set.entries_.size(); ++i) {
      if (set.entries_[i].digest == digest) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "token repeats the one on line ", entry_lines[i], "; every token must be unique"));
      }
    }
    set.entries_.push_back(Entry{digest, role});
    entry_lines.push_back(line_number);
  }
  if (set.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tokens (expected lines '<role> <token>')"));
  }
  return set;
}

absl::StatusOr<TokenSet> TokenSet::Load(const std::string& path) {
  BN_ASSIGN_OR_RETURN(std::string contents, DefaultFileSystem()->ReadFile(path));
  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    spdlog::warn("event=token_file_readable file={} mode={:o} advice=\"chmod 600 the token file\"", path,
                 info.st_mode & 0777);
  }
  return Parse(contents, path);
}

std::optional<Role> TokenSet::Lookup(absl::string_view token) const {
  const Digest presented = Sha256(token);
  // No early exit: every entry is compared, and the match only selects
  // bits, so the time does not depend on which entry (if any) matched.
  uint8_t role_bits = 0;
  for (const Entry& entry : entries_) {
    const uint8_t equal = CRYPTO_memcmp(presented.data(), entry.digest.data(), presented.size()) == 0;
    role_bits |= static_cast<uint8_t>(-equal) & static_cast<uint8_t>(entry.role);
  }
  if (role_bits == 0) return std::nullopt;
  return static_cast<Role>(role_bits);
}

}  // namespace bnserve
