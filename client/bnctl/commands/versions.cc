// bnctl history MODEL | rollback MODEL --to V [--expect-version V] | export MODEL [--version V] -o FILE.onnx
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/format.h"
#include "client/bnctl/json_views.h"
#include "client/bnctl/table.h"
#include "client/file_bytes.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

struct VersionOptions {
  std::string model;
  int64_t version = 0;  // rollback --to / export --version
  int64_t expect_version = 0;
  std::string output;
};

std::string HistoryText(const v1::ListVersionsResponse& response) {
  Table table({"version", "parent", "created", "origin", "mode", "batches", "samples", "request id", "note"});
  for (const auto& v : response.versions()) {
    const bool current = v.version() == response.current_version();
    const bool recalibrated = v.origin() == "recalibrate";
    table.AddRow({absl::StrCat(v.version(), current ? " *" : ""), v.parent() > 0 ? absl::StrCat(v.parent()) : "-",
                  FormatUnixMs(v.created_unix_ms()), v.origin(), v.mode().empty() ? "-" : v.mode(),
                  recalibrated ? absl::StrCat(v.batches()) : "-", recalibrated ? absl::StrCat(v.samples()) : "-",
                  v.request_id().empty() ? "-" : v.request_id(), v.note()});
  }
  return absl::StrCat(response.model(), ": serving version ", response.current_version(), " (*)\n\n", table.Render());
}

}  // namespace

void AddVersionCommands(CLI::App* app, std::vector<Command>* commands) {
  auto history_opts = std::make_shared<VersionOptions>();
  CLI::App* history = app->add_subcommand("history", "Statistics versions of a model, oldest first");
  history->add_option("model", history_opts->model, "Model name")->required();
  commands->push_back({history, [history_opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(auto response, client.ListVersions(history_opts->model));
                         return CommandResult{VersionsJson(response), HistoryText(response)};
                       }});

  auto rollback_opts = std::make_shared<VersionOptions>();
  CLI::App* rollback = app->add_subcommand(
      "rollback", "Serve an older statistics version again (committed as a new version, a copy of it)");
  rollback->add_option("model", rollback_opts->model, "Model name")->required();
  rollback->add_option("--to", rollback_opts->version, "The version to restore")->required()->check(PositiveInteger());
  rollback->add_option("--expect-version", rollback_opts->expect_version,
                       "Refuse (ABORTED) unless this is still the served version");
  commands->push_back({rollback, [rollback_opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         v1::RollbackRequest request;
                         request.set_model(rollback_opts->model);
                         request.set_to_version(rollback_opts->version);
                         request.set_expected_version(rollback_opts->expect_version);
                         BN_ASSIGN_OR_RETURN(auto response, client.Rollback(request));
                         return CommandResult{
                             RollbackJson(response),
                             absl::StrCat(response.model(), ": now serving version ", response.new_version().version(),
                                          " (a copy of version ", rollback_opts->version, ")\n")};
                       }});

  auto export_opts = std::make_shared<VersionOptions>();
  CLI::App* export_cmd =
      app->add_subcommand("export", "Write the ONNX model with a statistics version's running mean and variance");
  export_cmd->add_option("model", export_opts->model, "Model name")->required();
  export_cmd->add_option("--version", export_opts->version, "Statistics version (default: the served one)");
  export_cmd->add_option("-o,--output", export_opts->output, "Where to write the .onnx file")->required();
  commands->push_back({export_cmd, [export_opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(ExportedModel exported,
                                             client.Export(export_opts->model, export_opts->version));
                         BN_RETURN_IF_ERROR(WriteFileBytes(export_opts->output, exported.onnx_bytes));
                         CommandResult result;
                         result.json = {{"model", exported.model},
                                        {"statistics_version", exported.statistics_version},
                                        {"bytes", exported.onnx_bytes.size()},
                                        {"path", export_opts->output}};
                         result.text = absl::StrCat("wrote ", exported.onnx_bytes.size(), " bytes (", exported.model,
                                                    ", statistics version ", exported.statistics_version, ") to ",
                                                    export_opts->output, "\n");
                         return result;
                       }});
}

}  // namespace bnserve::client
