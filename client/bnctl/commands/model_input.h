// Shared by the commands that send a data file through a model (predict,
// evaluate, batch-stats, recalibrate): read the file and fit it to the
// model's input as DescribeModel declares it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "client/float_array.h"

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

}  // namespace bnserve::client
