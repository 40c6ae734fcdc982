// The --json views of bnserve responses: stable snake_case field names
// (documented in client/README.md) in a fixed order (ordered_json keeps the
// order written here, identifying fields first), enums as lower-case words,
// int64 as JSON numbers, NaN as null. Stateless; thread-safe.
#pragma once

#include "bnserve/v1/bnserve_service.pb.h"
#include "nlohmann/json.hpp"

namespace bnserve::client {

nlohmann::ordered_json VersionJson(const v1::VersionInfo& version);
// A staged candidate's id; null for 0 (none).
nlohmann::ordered_json CandidateIdJson(int64_t candidate_id);
nlohmann::ordered_json ModelStatusJson(const v1::ModelStatus& status);
nlohmann::ordered_json ListModelsJson(const v1::ListModelsResponse& response);
nlohmann::ordered_json DescribeModelJson(const v1::DescribeModelResponse& response);
// `description` supplies each layer's momentum (not part of the stats reply).
nlohmann::ordered_json RunningStatsJson(const v1::GetRunningStatsResponse& response,
                                        const v1::DescribeModelResponse& description);
nlohmann::ordered_json BatchStatsJson(const v1::GetBatchStatsResponse& response);
nlohmann::ordered_json MomentsJson(const v1::MomentsResponse& response);
nlohmann::ordered_json RecalibrateJson(const v1::RecalibrateResponse& response);
nlohmann::ordered_json VersionsJson(const v1::ListVersionsResponse& response);
nlohmann::ordered_json RollbackJson(const v1::RollbackResponse& response);
nlohmann::ordered_json DriftJson(const v1::GetDriftResponse& response);

}  // namespace bnserve::client
