#include "client/predict_batches.h"

#include "absl/strings/str_cat.h"
#include "client/tensor_convert.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

// Appends one reply's first output to `predictions`, checking its shape.
absl::Status Append(const v1::PredictResponse& response, int64_t rows, Predictions* predictions) {
  if (response.outputs_size() == 0) return absl::DataLossError("Predict reply has no outputs");
  BN_ASSIGN_OR_RETURN(FloatArray batch, TensorToArray(response.outputs(0)));
  FloatArray& all = predictions->output;
  const bool first = all.shape.empty();
  std::vector<int64_t> expected = first ? batch.shape : all.shape;
  if (!expected.empty()) expected[0] = rows;
  if (batch.shape.empty() || batch.shape != expected) {
    return absl::DataLossError(absl::StrCat("Predict reply output '", response.outputs(0).name(), "' has shape ",
                                            ShapeString(batch.shape), ", expected ", ShapeString(expected)));
  }
  if (first) {
    all.shape = batch.shape;
    all.shape[0] = 0;
    predictions->output_name = response.outputs(0).name();
  }
  all.shape[0] += rows;
  all.values.insert(all.values.end(), batch.values.begin(), batch.values.end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Predictions> PredictBatches(const Client& client, const std::string& model, StatisticsChoice statistics,
                                           const BatchSplitter& batches) {
  Predictions predictions;
  predictions.statistics_version = statistics.version;
  predictions.candidate_id = statistics.candidate_id;
  for (int64_t i = 0; i < batches.num_batches(); ++i) {
    v1::PredictRequest request;
    request.set_model(model);
    // A candidate is fixed by its id; its replies name the version it was
    // built from, which the request must not repeat.
    if (statistics.candidate_id != 0) {
      request.set_candidate_id(statistics.candidate_id);
    } else {
      request.set_statistics_version(predictions.statistics_version);
    }
    request.set_output_encoding(v1::TENSOR_ENCODING_RAW_FLOAT32_LE);
    *request.add_inputs() = batches.Batch(i);
    BN_ASSIGN_OR_RETURN(v1::PredictResponse response, client.Predict(request));
    predictions.statistics_version = response.statistics_version();
    BN_RETURN_IF_ERROR(Append(response, batches.end(i) - batches.begin(i), &predictions));
  }
  return predictions;
}

}  // namespace bnserve::client
