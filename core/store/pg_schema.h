// The PostgreSQL statistics store's schema and its forward migrations.
//
// bnserve_schema holds one row: the schema version the database is at.
// Migrations are applied in order, each in its own transaction together with
// the version bump, under a transaction-scoped advisory lock, so replicas
// starting at once migrate once. A database at a version newer than this
// binary knows is refused (an older binary must not write a newer schema).
// The tables (migration 1):
//   bnserve_models    one row per model: name, onnx_sha256 (hex SHA-256 of
//                     the model.onnx the statistics were computed for), head
//                     (the served version; 1 = the ONNX file's statistics)
//   bnserve_versions  one row per committed version >= 2: the history fields
//                     of VersionInfo and payload, the version's .bnstats
//                     bytes (docs/stats-file-format.md, checksummed)
// Layout and reasons: docs/stats-store-postgresql.md.
#pragma once

#include "core/store/pg_connection.h"
#include "core/util/status.h"

namespace bnserve {

// The channel every commit NOTIFYs with the model's name as payload.
inline constexpr char kPgStatsChannel[] = "bnserve_stats";
// The schema version this binary writes.
inline constexpr int kPgSchemaVersion = 1;

// Creates or migrates the schema to kPgSchemaVersion. FAILED_PRECONDITION
// for a database at a newer version; the connection's errors otherwise.
absl::Status MigratePgSchema(PgConnection& connection);

}  // namespace bnserve
