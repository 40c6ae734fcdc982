// Shared by the commands that send a data file through a model (predict,
// evaluate, batch-stats, recalibrate): read the file and fit it to the
// model's input as DescribeModel declares it; and, for predict and evaluate,
// which statistics compute the predictions.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/client.h"
#include "client/float_array.h"
#include "client/predict_batches.h"

namespace bnserve::client {

struct ModelInput {
  v1::DescribeModelResponse description;
  FloatArray data;  // instances along dim 0, shaped like the model input
};

// Reads `path` (.npy or .csv), describes `model` and fits the data to its
// input. FAILED_PRECONDITION for a model with several inputs (bnctl sends
// one file); errors about the data name the file.
absl::StatusOr<ModelInput> LoadModelInput(const Client& client, const std::string& model, const std::string& path);

// Fits an already read array (e.g. from --values) the same way.
absl::StatusOr<ModelInput> FitModelInput(const Client& client, const std::string& model, FloatArray data,
                                         const std::string& what);

// --version V or --candidate ID (a staged candidate, docs/drift.md), not both.
void AddStatisticsChoice(CLI::App* sub, int64_t* version, int64_t* candidate);
// "statistics version 3", or "candidate 2 (from statistics version 1)".
std::string StatisticsName(const Predictions& predictions);

}  // namespace bnserve::client
