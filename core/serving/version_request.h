// VersionRequest: which statistics version a request wants - the one being
// served, or a specific (pinned) one. A small value type instead of a magic
// number (TF Serving's ServableRequest::Latest/Specific), so "current" can
// never be confused with a real version.
#pragma once

#include <cstdint>

namespace bnserve {

class VersionRequest {
 public:
  static VersionRequest Current() { return VersionRequest(0); }
  // REQUIRES: version >= 1 (callers validate untrusted numbers first).
  static VersionRequest Specific(int64_t version) { return VersionRequest(version); }

  bool is_current() const { return version_ == 0; }
  // The pinned version; meaningless when is_current().
  int64_t version() const { return version_; }

 private:
  explicit VersionRequest(int64_t version) : version_(version) {}
  int64_t version_;
};

}  // namespace bnserve
