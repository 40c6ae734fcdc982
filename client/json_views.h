// The --json views of bnserve responses: stable snake_case field names
// (documented in client/README.md), enums as lower-case words, int64 as
// JSON numbers, NaN as null. Stateless; thread-safe.
#pragma once

#include "bnserve/v1/bnserve_service.pb.h"
#include "nlohmann/json.hpp"

namespace bnserve::client {

nlohmann::json VersionJson(const v1::VersionInfo& version);
nlohmann::json ModelStatusJson(const v1::ModelStatus& status);
nlohmann::json ListModelsJson(const v1::ListModelsResponse& response);
nlohmann::json DescribeModelJson(const v1::DescribeModelResponse& response);
// `description` supplies each layer's momentum (not part of the stats reply).
nlohmann::json RunningStatsJson(const v1::GetRunningStatsResponse& response,
                                const v1::DescribeModelResponse& description);
nlohmann::json BatchStatsJson(const v1::GetBatchStatsResponse& response);
nlohmann::json MomentsJson(const v1::MomentsResponse& response);
nlohmann::json RecalibrateJson(const v1::RecalibrateResponse& response);
nlohmann::json VersionsJson(const v1::ListVersionsResponse& response);
nlohmann::json RollbackJson(const v1::RollbackResponse& response);

}  // namespace bnserve::client
