// Errors as values across core/: absl::Status and absl::StatusOr, plus the two
// propagation macros Abseil keeps internal. Codes follow gRPC's meaning so the
// server maps them one to one (INVALID_ARGUMENT: the caller sent something
// wrong; FAILED_PRECONDITION: the request is fine but the model/state is not
// fit for it; NOT_FOUND; UNIMPLEMENTED for operators we do not run).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BN_STATUS_CONCAT_INNER(a, b) a##b
#define BN_STATUS_CONCAT(a, b) BN_STATUS_CONCAT_INNER(a, b)

#define BN_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status bn_status_ = (expr);      \
    if (!bn_status_.ok()) return bn_status_; \
  } while (0)

#define BN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                             \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

// BN_ASSIGN_OR_RETURN(auto x, MakeX()); declares or assigns `x`.
#define BN_ASSIGN_OR_RETURN(lhs, rexpr) BN_ASSIGN_OR_RETURN_IMPL(BN_STATUS_CONCAT(bn_statusor_, __LINE__), lhs, rexpr)
