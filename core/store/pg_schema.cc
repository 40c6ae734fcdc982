#include "core/store/pg_schema.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

// Migration i (1-based) takes the schema from version i - 1 to i: its
// statements, run in order in one transaction. Append only: a released
// migration is never edited.
const std::vector<std::vector<std::string>>& Migrations() {
  static const std::vector<std::vector<std::string>>* const migrations = new std::vector<std::vector<std::string>>{
      // 1: models, versions, the request-id index.
      {
          R"sql(CREATE TABLE bnserve_models (
  name        text PRIMARY KEY,
  onnx_sha256 text NOT NULL,
  head        bigint NOT NULL DEFAULT 1 CHECK (head >= 1)
))sql",
          R"sql(CREATE TABLE bnserve_versions (
  model           text NOT NULL REFERENCES bnserve_models (name),
  version         bigint NOT NULL CHECK (version >= 2),
  parent          bigint NOT NULL CHECK (parent >= 1 AND parent < version),
  created_unix_ms bigint NOT NULL,
  origin          text NOT NULL,
  mode            text NOT NULL,
  batches         bigint NOT NULL CHECK (batches >= 0),
  samples         bigint NOT NULL CHECK (samples >= 0),
  request_id      text NOT NULL,
  request_digest  bigint NOT NULL,
  note            text NOT NULL,
  payload         bytea NOT NULL,
  PRIMARY KEY (model, version)
))sql",
          "CREATE UNIQUE INDEX bnserve_versions_request_id ON bnserve_versions (model, request_id) "
          "WHERE request_id <> ''",
      },
  };
  return *migrations;
}

// Any fixed number: the lock only has to be the same in every replica.
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(7236501390421)";

}  // namespace

absl::Status MigratePgSchema(PgConnection& connection) {
  const std::vector<std::vector<std::string>>& migrations = Migrations();
  for (;;) {
    BN_RETURN_IF_ERROR(connection.Exec("BEGIN").status());
    // True when a migration was applied (commit it, then look again).
    absl::StatusOr<bool> applied = [&]() -> absl::StatusOr<bool> {
      BN_RETURN_IF_ERROR(connection.Exec(kMigrationLock).status());
      BN_RETURN_IF_ERROR(
          connection.Exec("CREATE TABLE IF NOT EXISTS bnserve_schema (version integer NOT NULL)").status());
      BN_ASSIGN_OR_RETURN(PgResult rows, connection.Exec("SELECT version FROM bnserve_schema"));
      int64_t version = 0;
      if (rows.rows() == 0) {
        BN_RETURN_IF_ERROR(connection.Exec("INSERT INTO bnserve_schema (version) VALUES (0)").status());
      } else {
        BN_ASSIGN_OR_RETURN(version, rows.integer(0, 0));
      }
      if (version > kPgSchemaVersion) {
        return absl::FailedPreconditionError(
            absl::StrCat("statistics store ", connection.display(), ": its schema is at version ", version,
                         ", this bnserve knows versions up to ", kPgSchemaVersion, "; upgrade bnserve"));
      }
      if (version == kPgSchemaVersion) return false;
      for (const std::string& statement : migrations[version]) {
        BN_RETURN_IF_ERROR(connection.Exec(statement).status());
      }
      BN_RETURN_IF_ERROR(connection.Exec(absl::StrCat("UPDATE bnserve_schema SET version = ", version + 1)).status());
      return true;
    }();
    if (!applied.ok()) {
      (void)connection.Exec("ROLLBACK");
      return applied.status();
    }
    BN_RETURN_IF_ERROR(connection.Exec("COMMIT").status());
    if (!*applied) return absl::OkStatus();
  }
}

}  // namespace bnserve
