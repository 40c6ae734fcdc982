// bnctl drift MODEL [--watch] [--windows N] | promote MODEL --candidate ID [--note TEXT]
//   | discard MODEL --candidate ID
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/drift_view.h"
#include "client/bnctl/json_views.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

struct DriftOptions {
  std::string model;
  bool watch = false;
  int windows = 32;
};

struct CandidateOptions {
  std::string model;
  int64_t candidate_id = 0;
  std::string note;
};

v1::GetDriftRequest DriftRequest(const DriftOptions& opts) {
  v1::GetDriftRequest request;
  request.set_model(opts.model);
  request.set_windows(opts.windows);
  return request;
}

CommandResult DriftResult(const v1::GetDriftResponse& response) {
  return CommandResult{DriftJson(response), DriftText(response)};
}

}  // namespace

void AddDriftCommands(CLI::App* app, std::vector<Command>* commands) {
  auto drift_opts = std::make_shared<DriftOptions>();
  CLI::App* drift = app->add_subcommand(
      "drift",
      "What the drift monitor sees in a model's live traffic: alarm, calibrated threshold, per-layer scores "
      "over recent windows, staged candidates and their shadow evaluation, recent decisions (docs/drift.md)");
  drift->add_option("model", drift_opts->model, "Model name")->required();
  drift->add_flag("--watch,-w", drift_opts->watch,
                  "Redraw at each window or decision until Ctrl-C (with --json: one JSON object per line)");
  drift->add_option("--windows", drift_opts->windows, "Recent windows to show")
      ->check(PositiveInteger())
      ->capture_default_str();
  Command command{drift, [drift_opts](const Client& client) -> absl::StatusOr<CommandResult> {
                    BN_ASSIGN_OR_RETURN(v1::GetDriftResponse response, client.GetDrift(DriftRequest(*drift_opts)));
                    return DriftResult(response);
                  }};
  command.watching = [drift_opts] { return drift_opts->watch; };
  command.watch = [drift_opts](const Client& client, CallCanceller* stop, const UpdatePrinter& print) {
    return client.WatchDrift(
        DriftRequest(*drift_opts),
        [&print](const v1::GetDriftResponse& update) {
          print(DriftResult(update));
          return true;
        },
        stop);
  };
  commands->push_back(std::move(command));

  auto promote_opts = std::make_shared<CandidateOptions>();
  CLI::App* promote = app->add_subcommand(
      "promote", "Commit a staged candidate's statistics as a new version (origin \"adapt\") and serve it");
  promote->add_option("model", promote_opts->model, "Model name")->required();
  promote->add_option("--candidate", promote_opts->candidate_id, "The candidate (bnctl drift lists them)")
      ->required()
      ->check(PositiveInteger());
  promote->add_option("--note", promote_opts->note, "Text recorded in the version history");
  commands->push_back({promote, [promote_opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         v1::PromoteCandidateRequest request;
                         request.set_model(promote_opts->model);
                         request.set_candidate_id(promote_opts->candidate_id);
                         request.set_note(promote_opts->note);
                         BN_ASSIGN_OR_RETURN(v1::PromoteCandidateResponse response, client.PromoteCandidate(request));
                         CommandResult result;
                         result.json = {{"model", response.model()},
                                        {"candidate_id", promote_opts->candidate_id},
                                        {"statistics_version", response.statistics_version()}};
                         result.text = absl::StrCat(response.model(), ": candidate ", promote_opts->candidate_id,
                                                    " committed as version ", response.statistics_version(),
                                                    " (now served)\n");
                         return result;
                       }});

  auto discard_opts = std::make_shared<CandidateOptions>();
  CLI::App* discard = app->add_subcommand("discard", "Drop a staged candidate");
  discard->add_option("model", discard_opts->model, "Model name")->required();
  discard->add_option("--candidate", discard_opts->candidate_id, "The candidate (bnctl drift lists them)")
      ->required()
      ->check(PositiveInteger());
  commands->push_back({discard, [discard_opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         v1::DiscardCandidateRequest request;
                         request.set_model(discard_opts->model);
                         request.set_candidate_id(discard_opts->candidate_id);
                         BN_RETURN_IF_ERROR(client.DiscardCandidate(request).status());
                         CommandResult result;
                         result.json = {{"model", discard_opts->model},
                                        {"candidate_id", discard_opts->candidate_id},
                                        {"discarded", true}};
                         result.text = absl::StrCat(discard_opts->model, ": candidate ", discard_opts->candidate_id,
                                                    " discarded\n");
                         return result;
                       }});
}

}  // namespace bnserve::client
