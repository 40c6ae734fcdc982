// PgConnection: one libpq connection to the PostgreSQL statistics store,
// with errors as values. Every failure names the store by its redacted
// address (never a password); a lost connection is UNAVAILABLE, which the
// next call repairs by reconnecting (at most once per backoff interval, so a
// database that is down costs each caller one quick error, not a timeout).
//
// PgResult owns one PGresult. Neither class is thread-safe: a PgConnection is
// used by one thread at a time (its owner serializes).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/util/status.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace bnserve {

// A libpq connection string (URI or key=value) checked for use: parseable
// and without a password (passwords come from PGPASSWORD or ~/.pgpass, so
// they appear neither in process listings nor in logs). INVALID_ARGUMENT
// naming the flag otherwise. Returns the redacted address for messages:
// "postgresql://user@host:port/dbname" plus sslmode when set.
absl::StatusOr<std::string> CheckPgConnectionString(const std::string& conninfo);

class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  bool is_null(int row, int column) const;
  // Column `column` of `row` as text (or raw bytes for binary results).
  std::string text(int row, int column) const;
  absl::StatusOr<int64_t> integer(int row, int column) const;
  PGresult* get() const { return result_; }

 private:
  PGresult* result_;
};

// A statement parameter: text, or bytes sent in binary form (bytea).
struct PgParam {
  std::string value;
  bool binary = false;
};

class PgConnection {
 public:
  // `conninfo` passed CheckPgConnectionString; `display` is its redacted form.
  PgConnection(std::string conninfo, std::string display);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Connects when not connected (or the connection broke). UNAVAILABLE when
  // the server cannot be reached, or when the last attempt failed less than
  // the backoff interval ago (doubling from 100 ms to 5 s per failure).
  absl::Status EnsureConnected();
  bool connected() const;
  // Drops the connection (the next EnsureConnected reconnects).
  void Reset();

  // Runs one statement (EnsureConnected first). Results in text unless
  // `binary_results`. Outside a transaction, a connection found dead is
  // replaced and the statement sent once more. Errors: UNAVAILABLE when the connection is lost (the
  // statement's outcome is then unknown to the caller), INTERNAL naming the
  // SQLSTATE and the server's message for a failed statement.
  absl::StatusOr<PgResult> Exec(absl::string_view sql, const std::vector<PgParam>& params = {},
                                bool binary_results = false);

  // For a LISTENing connection: the socket to wait on, and the channel
  // payloads received so far (reads what the socket has; UNAVAILABLE when
  // the connection broke).
  int socket() const;
  absl::StatusOr<std::vector<std::string>> TakeNotifications();

  const std::string& display() const { return display_; }
  // Whether the last EnsureConnected failed without trying (still within
  // the backoff interval): its UNAVAILABLE says nothing new about the server.
  bool skipped_attempt() const { return skipped_attempt_; }
  // The error of the last failed connection attempt or statement.
  const std::string& last_error() const { return last_error_; }

 private:
  absl::Status Unavailable(absl::string_view what);

  const std::string conninfo_;
  const std::string display_;
  PGconn* conn_ = nullptr;
  std::string last_error_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  bool skipped_attempt_ = false;
};

}  // namespace bnserve
