// bnctl evaluate MODEL --input X.npy --labels Y.npy [--version V | --candidate ID] [--batch-size N]
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/batches.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/commands/model_input.h"
#include "client/bnctl/json_views.h"
#include "client/classification.h"
#include "client/input_file.h"
#include "client/predict_batches.h"
#include "client/tensor_convert.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

struct EvaluateOptions {
  std::string model;
  std::string input;
  std::string labels;
  int64_t batch_size = 64;
  int64_t version = 0;
  int64_t candidate = 0;
};

// Top-1 accuracy and mean cross-entropy of logits [N, K] against N labels.
absl::StatusOr<ClassificationMetrics> Score(const FloatArray& logits, const LabelArray& labels,
                                            const std::string& labels_path) {
  if (logits.shape.size() != 2 || logits.shape[1] < 2) {
    return absl::FailedPreconditionError(absl::StrCat("evaluate needs a classifier with [N,K] logits (K >= 2); ",
                                                      "the model's output has shape ", ShapeString(logits.shape)));
  }
  ClassificationMetrics metrics;
  const int64_t classes = logits.shape[1];
  for (int64_t i = 0; i < logits.rows(); ++i) {
    absl::Status added = metrics.Add(
        absl::Span<const float>(logits.values.data() + i * classes, static_cast<size_t>(classes)), labels.values[i]);
    if (!added.ok()) return absl::InvalidArgumentError(absl::StrCat(labels_path, ": ", added.message()));
  }
  return metrics;
}

}  // namespace

void AddEvaluateCommand(CLI::App* app, std::vector<Command>* commands) {
  auto opts = std::make_shared<EvaluateOptions>();
  CLI::App* sub = app->add_subcommand(
      "evaluate", "Top-1 accuracy and mean cross-entropy of a classifier on labelled data (softmax on the client)");
  sub->add_option("model", opts->model, "Model name")->required();
  sub->add_option("--input,-i", opts->input, "Instances: a .npy or .csv file")->required();
  sub->add_option("--labels", opts->labels, "Class labels: an int64 or int32 .npy file, one per instance")->required();
  sub->add_option("--batch-size", opts->batch_size, "Instances per request")
      ->check(PositiveInteger())
      ->capture_default_str();
  AddStatisticsChoice(sub, &opts->version, &opts->candidate);
  commands->push_back(
      {sub, [opts](const Client& client) -> absl::StatusOr<CommandResult> {
         BN_ASSIGN_OR_RETURN(LabelArray labels, ReadLabelFile(opts->labels));
         BN_ASSIGN_OR_RETURN(ModelInput input, LoadModelInput(client, opts->model, opts->input));
         if (static_cast<int64_t>(labels.values.size()) != input.data.rows()) {
           return absl::InvalidArgumentError(absl::StrCat(opts->labels, ": ", labels.values.size(), " labels for ",
                                                          input.data.rows(), " instances in ", opts->input));
         }
         BN_ASSIGN_OR_RETURN(Predictions predictions, PredictBatches(client, opts->model, {opts->version, opts->candidate},
                                                                     BatchSplitter(input.data, opts->batch_size)));
         BN_ASSIGN_OR_RETURN(ClassificationMetrics metrics, Score(predictions.output, labels, opts->labels));
         CommandResult result;
         result.json = {{"model", opts->model},
                        {"statistics_version", predictions.statistics_version},
                        {"candidate_id", CandidateIdJson(predictions.candidate_id)},
                        {"samples", metrics.count()},
                        {"correct", metrics.correct()},
                        {"accuracy", metrics.accuracy()},
                        {"mean_cross_entropy", metrics.mean_cross_entropy()}};
         result.text = absl::StrFormat("%s %s: accuracy %.4f (%d/%d), mean cross-entropy %.4f\n", opts->model,
                                       StatisticsName(predictions), metrics.accuracy(), metrics.correct(),
                                       metrics.count(), metrics.mean_cross_entropy());
         return result;
       }});
}

}  // namespace bnserve::client
