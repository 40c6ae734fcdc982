#include "core/store/pg_connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

// libpq's messages end in a newline and may span lines; logs want one line.
std::string OneLine(absl::string_view message) {
  std::string line(absl::StripTrailingAsciiWhitespace(message));
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

}  // namespace

absl::StatusOr<std::string> CheckPgConnectionString(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? OneLine(error) : "out of memory";
    PQfreemem(error);
    return absl::InvalidArgumentError(
        absl::StrCat("--stats-store: expected a libpq connection URI (postgresql://user@host:port/dbname), ", message));
  }
  std::map<std::string, std::string> values;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && o->val[0] != '\0') values[o->keyword] = o->val;
  }
  PQconninfoFree(options);
  if (values.count("password") > 0) {
    return absl::InvalidArgumentError(
        "--stats-store: the connection string carries a password; give it in PGPASSWORD or ~/.pgpass instead (a "
        "command line shows in process listings)");
  }
  std::string display = "postgresql://";
  if (values.count("user") > 0) absl::StrAppend(&display, values["user"], "@");
  absl::StrAppend(&display, values.count("host") > 0 ? values["host"] : "");
  if (values.count("port") > 0) absl::StrAppend(&display, ":", values["port"]);
  absl::StrAppend(&display, "/", values.count("dbname") > 0 ? values["dbname"] : "");
  if (values.count("sslmode") > 0) absl::StrAppend(&display, "?sslmode=", values["sslmode"]);
  return display;
}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return PQntuples(result_); }

bool PgResult::is_null(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string PgResult::text(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
}

absl::StatusOr<int64_t> PgResult::integer(int row, int column) const {
  int64_t value = 0;
  const std::string field = text(row, column);
  if (!absl::SimpleAtoi(field, &value)) {
    return absl::DataLossError(absl::StrCat("statistics store: column '", PQfname(result_, column),
                                            "': expected an integer, got \"", field.substr(0, 40), "\""));
  }
  return value;
}

PgConnection::PgConnection(std::string conninfo, std::string display)
    : conninfo_(std::move(conninfo)), display_(std::move(display)) {}

PgConnection::~PgConnection() { Reset(); }

void PgConnection::Reset() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

bool PgConnection::connected() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

absl::Status PgConnection::Unavailable(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("statistics store ", display_, " is unavailable: ", what));
}

absl::Status PgConnection::EnsureConnected() {
  if (connected()) return absl::OkStatus();
  Reset();
  const auto now = std::chrono::steady_clock::now();
  skipped_attempt_ = now < next_attempt_;
  if (skipped_attempt_) return Unavailable(absl::StrCat(last_error_, " (reconnecting)"));
  // Defaults first, so that the same keys in the URI (expanded from dbname)
  // override them: a bounded connect, and TCP keepalives so that a silently
  // vanished server is noticed in ~15 s rather than the kernel's 2 hours.
  const char* keywords[] = {"connect_timeout",  "keepalives_idle", "keepalives_interval",
                            "keepalives_count", "dbname",          nullptr};
  const char* values[] = {"3", "5", "2", "5", conninfo_.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    last_error_ = conn_ != nullptr ? OneLine(PQerrorMessage(conn_)) : "out of memory";
    Reset();
    backoff_ = std::min(kMaxBackoff, backoff_ == std::chrono::milliseconds(0) ? kFirstBackoff : backoff_ * 2);
    next_attempt_ = now + backoff_;
    return Unavailable(last_error_);
  }
  backoff_ = std::chrono::milliseconds(0);
  next_attempt_ = {};
  // libpq prints the server's notices (NOTICE, the FATAL of a shutdown) to
  // stderr by default; they belong in the log, at debug level.
  PQsetNoticeProcessor(
      conn_,
      [](void*, const char* message) { spdlog::debug("event=stats_store_notice message=\"{}\"", OneLine(message)); },
      nullptr);
  return absl::OkStatus();
}

absl::StatusOr<PgResult> PgConnection::Exec(absl::string_view sql, const std::vector<PgParam>& params,
                                            bool binary_results) {
  BN_RETURN_IF_ERROR(EnsureConnected());
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const PgParam& p : params) {
    values.push_back(p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  // Text parameters must be NUL-terminated: std::string's data() is.
  const std::string statement(sql);
  auto run = [&] {
    return PgResult(PQexecParams(conn_, statement.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                 lengths.data(), formats.data(), binary_results ? 1 : 0));
  };
  // Outside a transaction a statement may be sent once more on a fresh
  // connection when the old one turns out to be dead: a connection the
  // server closed while it sat idle (a database restart) is only noticed
  // when used, and a statement outside a transaction either ran whole or
  // not at all, so a second attempt cannot apply anything twice that the
  // callers do not already make idempotent (BEGIN, reads, the ON CONFLICT
  // registration). Inside a transaction the error is returned: the
  // transaction is gone with its connection.
  const bool outside_transaction = PQtransactionStatus(conn_) == PQTRANS_IDLE;
  PgResult result = run();
  if (PQstatus(conn_) != CONNECTION_OK && outside_transaction) {
    Reset();
    BN_RETURN_IF_ERROR(EnsureConnected());
    result = run();
  }
  PGresult* raw = result.get();
  const ExecStatusType status = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  last_error_ = OneLine(raw != nullptr ? PQresultErrorMessage(raw) : PQerrorMessage(conn_));
  if (PQstatus(conn_) != CONNECTION_OK) {
    Reset();
    return Unavailable(last_error_);
  }
  const char* sqlstate = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  return absl::InternalError(absl::StrCat("statistics store ", display_, ": statement failed (SQLSTATE ",
                                          sqlstate != nullptr ? sqlstate : "?", "): ", last_error_));
}

int PgConnection::socket() const { return conn_ != nullptr ? PQsocket(conn_) : -1; }

absl::StatusOr<std::vector<std::string>> PgConnection::TakeNotifications() {
  if (!connected()) return Unavailable(last_error_.empty() ? "not connected" : last_error_);
  if (PQconsumeInput(conn_) == 0) {
    last_error_ = OneLine(PQerrorMessage(conn_));
    Reset();
    return Unavailable(last_error_);
  }
  std::vector<std::string> payloads;
  while (PGnotify* notify = PQnotifies(conn_)) {
    payloads.emplace_back(notify->extra);
    PQfreemem(notify);
  }
  return payloads;
}

}  // namespace bnserve
