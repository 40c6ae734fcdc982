// Field-by-field translation between bnserve.v1 messages and core values.
// Request-side functions validate enum values and numbers a client controls
// and name the field on error; response-side functions cannot fail.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "bnserve/v1/model.pb.h"
#include "bnserve/v1/recalibration.pb.h"
#include "bnserve/v1/statistics.pb.h"
#include "bnserve/v1/versions.pb.h"
#include "core/serving/batch_stats_query.h"
#include "core/serving/model_manager.h"
#include "core/serving/recalibration_session.h"
#include "core/serving/version_request.h"

namespace bnserve {

// --- requests ---

// 0 -> the served version; >= 1 -> that version; < 0 -> INVALID_ARGUMENT.
absl::StatusOr<VersionRequest> VersionRequestFromProto(int64_t version, absl::string_view field);
absl::StatusOr<ForwardMode> ForwardModeFromProto(v1::ForwardMode mode, absl::string_view field);
absl::StatusOr<RecalibrationRequest> RecalibrationRequestFromProto(const v1::RecalibrationConfig& config);

// --- responses ---

v1::ModelState ModelStateToProto(ModelState state);
void ModelStatusToProto(const ModelStatus& status, v1::ModelStatus* out);
void VersionInfoToProto(const VersionInfo& info, v1::VersionInfo* out);
void DescriptionToProto(const ModelDescription& description, v1::DescribeModelResponse* out);
void RunningStatsToProto(const RunningStatsView& view, bool include_affine, v1::GetRunningStatsResponse* out);
void BatchStatsToProto(const std::string& model, const BatchStatsReport& report, v1::GetBatchStatsResponse* out);
void RecalibrationOutcomeToProto(const RecalibrationOutcome& outcome, v1::RecalibrateResponse* out);

}  // namespace bnserve
