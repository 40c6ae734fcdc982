// bnctl predict MODEL (--input FILE | --values 0.1,0.2,...) [--batch-size N] [--version V | --candidate ID] [--raw]
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/batches.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/commands/model_input.h"
#include "client/bnctl/json_views.h"
#include "client/bnctl/format.h"
#include "client/bnctl/table.h"
#include "client/classification.h"
#include "client/predict_batches.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

struct PredictOptions {
  std::string model;
  std::string input;
  std::vector<float> values;
  int64_t batch_size = 64;
  int64_t version = 0;
  int64_t candidate = 0;
  bool raw = false;
};

// A [N, K] output with K >= 2 is read as classifier logits.
bool IsClassifier(const FloatArray& output) { return output.shape.size() == 2 && output.shape[1] >= 2; }

CommandResult Render(const PredictOptions& opts, const Predictions& predictions) {
  const FloatArray& output = predictions.output;
  const bool classifier = IsClassifier(output);
  const int64_t width = output.row_size();
  nlohmann::ordered_json instances = nlohmann::ordered_json::array();
  std::vector<std::string> headers = {"instance"};
  if (classifier) headers.insert(headers.end(), {"class", "probability"});
  if (!classifier || opts.raw) headers.push_back(predictions.output_name);
  Table table(headers);
  for (int64_t i = 0; i < output.rows(); ++i) {
    absl::Span<const float> row(output.values.data() + i * width, static_cast<size_t>(width));
    std::vector<double> values(row.begin(), row.end());
    nlohmann::ordered_json entry = {{"index", i}, {"output", values}};
    std::vector<std::string> cells = {absl::StrCat(i)};
    if (classifier) {
      const ClassScore score = Classify(row);
      entry["class"] = score.label;
      entry["probability"] = score.probability;
      cells.insert(cells.end(), {absl::StrCat(score.label), FormatNumber(score.probability)});
    }
    if (!classifier || opts.raw) cells.push_back(JoinNumbers(values));
    table.AddRow(std::move(cells));
    instances.push_back(std::move(entry));
  }
  CommandResult result;
  result.json = {{"model", opts.model},
                 {"statistics_version", predictions.statistics_version},
                 {"candidate_id", CandidateIdJson(predictions.candidate_id)},
                 {"output_name", predictions.output_name},
                 {"classifier", classifier},
                 {"instances", instances}};
  result.text = absl::StrCat(opts.model, " ", StatisticsName(predictions), "\n\n", table.Render());
  return result;
}

}  // namespace

void AddPredictCommand(CLI::App* app, std::vector<Command>* commands) {
  auto opts = std::make_shared<PredictOptions>();
  CLI::App* sub =
      app->add_subcommand("predict",
                          "Run instances through a model: per instance the output vector or, for a classifier "
                          "([N,K] logits), the argmax class and its softmax probability");
  sub->add_option("model", opts->model, "Model name")->required();
  auto* input = sub->add_option("--input,-i", opts->input, "A .npy or .csv file of instances");
  auto* values = sub->add_option("--values", opts->values, "One instance, comma-separated")->delimiter(',');
  input->excludes(values);
  sub->add_option("--batch-size", opts->batch_size, "Instances per request")
      ->check(PositiveInteger())
      ->capture_default_str();
  AddStatisticsChoice(sub, &opts->version, &opts->candidate);
  sub->add_flag("--raw", opts->raw, "Also print the output vector of classifiers");
  commands->push_back(
      {sub, [opts](const Client& client) -> absl::StatusOr<CommandResult> {
         if (opts->input.empty() == opts->values.empty()) {
           return absl::InvalidArgumentError("predict needs exactly one of --input or --values");
         }
         absl::StatusOr<ModelInput> input =
             opts->input.empty()
                 ? FitModelInput(client, opts->model,
                                 FloatArray{{1, static_cast<int64_t>(opts->values.size())}, opts->values}, "--values")
                 : LoadModelInput(client, opts->model, opts->input);
         if (!input.ok()) return input.status();
         BN_ASSIGN_OR_RETURN(Predictions predictions, PredictBatches(client, opts->model, {opts->version, opts->candidate},
                                                                     BatchSplitter(input->data, opts->batch_size)));
         return Render(*opts, predictions);
       }});
}

}  // namespace bnserve::client
