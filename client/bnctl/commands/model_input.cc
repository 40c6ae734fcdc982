#include "client/bnctl/commands/model_input.h"

#include "absl/strings/str_cat.h"
#include "client/bnctl/commands/command.h"
#include "client/input_file.h"
#include "client/tensor_convert.h"
#include "core/util/status.h"

namespace bnserve::client {

absl::StatusOr<ModelInput> FitModelInput(const Client& client, const std::string& model, FloatArray data,
                                         const std::string& what) {
  ModelInput input;
  BN_ASSIGN_OR_RETURN(input.description, client.DescribeModel(model));
  if (input.description.inputs_size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat("model '", model, "' has ", input.description.inputs_size(),
                                                      " inputs; bnctl sends one data file, so it needs exactly 1"));
  }
  BN_ASSIGN_OR_RETURN(input.data, FitToInput(std::move(data), input.description.inputs(0), what));
  if (input.data.rows() == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": holds no instances"));
  return input;
}

absl::StatusOr<ModelInput> LoadModelInput(const Client& client, const std::string& model, const std::string& path) {
  BN_ASSIGN_OR_RETURN(FloatArray data, ReadFloatFile(path));
  return FitModelInput(client, model, std::move(data), path);
}

void AddStatisticsChoice(CLI::App* sub, int64_t* version, int64_t* candidate) {
  CLI::Option* pinned = sub->add_option("--version", *version, "Statistics version (default: the served one)");
  sub->add_option("--candidate", *candidate,
                  "A staged candidate's statistics instead (bnctl drift lists them; not monitored traffic)")
      ->check(PositiveInteger())
      ->excludes(pinned);
}

std::string StatisticsName(const Predictions& predictions) {
  if (predictions.candidate_id == 0) return absl::StrCat("statistics version ", predictions.statistics_version);
  return absl::StrCat("candidate ", predictions.candidate_id, " (from statistics version ",
                      predictions.statistics_version, ")");
}

}  // namespace bnserve::client
