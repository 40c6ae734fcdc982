// bnctl recalibrate MODEL --input FILE --batch-size N [--mode ema|cumulative|population|exact|prior|alpha]
//   [--momentum M] [--prior-strength N] [--alpha A] [--reset] [--layers a,b] [--forward train|eval] [--dry-run]
//   [--expect-version V] [--note T] [--request-id ID] [--attempts N] [--stage]
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/batches.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/commands/model_input.h"
#include "client/bnctl/format.h"
#include "client/bnctl/json_views.h"
#include "client/bnctl/progress.h"
#include "client/bnctl/table.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

struct RecalibrateOptions {
  std::string model;
  std::string input;
  int64_t batch_size = 0;
  std::string mode = "ema";
  double momentum = 0.0;
  CLI::Option* momentum_option = nullptr;  // set when --momentum was given
  double prior_strength = 16.0;            // the server's default (recalibration.proto)
  CLI::Option* prior_strength_option = nullptr;
  double alpha = 0.9;  // the server's default (recalibration.proto)
  CLI::Option* alpha_option = nullptr;
  bool reset = false;
  std::vector<std::string> layers;
  std::string forward = "train";
  bool dry_run = false;
  bool stage = false;
  int64_t expect_version = 0;
  std::string note;
  std::string request_id;  // empty: the client library draws a random one
  int attempts = 5;
};

v1::RecalibrationMode ParseMode(const std::string& mode) {
  if (mode == "cumulative") return v1::RECALIBRATION_MODE_CUMULATIVE;
  if (mode == "population") return v1::RECALIBRATION_MODE_POPULATION;
  if (mode == "exact") return v1::RECALIBRATION_MODE_EXACT;
  if (mode == "prior") return v1::RECALIBRATION_MODE_PRIOR;
  if (mode == "alpha") return v1::RECALIBRATION_MODE_ALPHA;
  return v1::RECALIBRATION_MODE_EMA;
}

// "prior strength 16" / "alpha 0.9" for the modes with a parameter, else "".
// The history records only the mode, so bnctl's default note carries this.
std::string ModeParameterText(const RecalibrateOptions& opts) {
  if (opts.mode == "prior") return absl::StrCat("prior strength ", opts.prior_strength);
  if (opts.mode == "alpha") return absl::StrCat("alpha ", opts.alpha);
  return "";
}

v1::RecalibrationConfig MakeConfig(const RecalibrateOptions& opts) {
  v1::RecalibrationConfig config;
  config.set_model(opts.model);
  config.set_mode(ParseMode(opts.mode));
  if (opts.momentum_option->count() > 0) config.set_momentum(opts.momentum);
  // Always sent with their mode, so the note states what was sent; sent with
  // another mode only when given, for the server to refuse.
  if (opts.mode == "prior" || opts.prior_strength_option->count() > 0) {
    config.set_prior_strength(opts.prior_strength);
  }
  if (opts.mode == "alpha" || opts.alpha_option->count() > 0) config.set_alpha(opts.alpha);
  config.set_reset(opts.reset);
  for (const auto& layer : opts.layers) config.add_layers(layer);
  config.set_forward_mode(opts.forward == "eval" ? v1::FORWARD_MODE_EVAL : v1::FORWARD_MODE_TRAIN);
  config.set_dry_run(opts.dry_run);
  config.set_stage(opts.stage);
  config.set_expected_version(opts.expect_version);
  const std::string parameter = ModeParameterText(opts);
  config.set_note(!opts.note.empty() ? opts.note
                                     : absl::StrCat("bnctl recalibrate --input ", opts.input,
                                                    parameter.empty() ? "" : ", ", parameter));
  config.set_request_id(opts.request_id);
  return config;
}

std::string ResultText(const RecalibrateOptions& opts, const v1::RecalibrateResponse& response) {
  const std::string parameter = ModeParameterText(opts);
  std::string out =
      absl::StrCat(response.model(), ": ", opts.mode, " recalibration",
                   parameter.empty() ? "" : absl::StrCat(" (", parameter, ")"), " over ", response.batches(),
                   " batches, ", response.samples(), " samples, from version ", response.base_version(), "\n\n");
  Table table({"layer", "updated", "mean shift rms", "log var ratio rms"});
  for (const auto& layer : response.layers()) {
    table.AddRow({layer.name(), layer.updated() ? "yes" : "no", FormatNumber(layer.mean_shift_rms()),
                  FormatNumber(layer.log_var_ratio_rms())});
  }
  out += table.Render();
  if (response.deduplicated()) {
    absl::StrAppend(&out, "\nrequest ", response.new_version().request_id(), " was already committed as version ",
                    response.new_version().version(), " (by an earlier attempt); nothing new committed\n");
  } else if (response.candidate_id() > 0) {
    absl::StrAppend(&out, "\nstaged candidate ", response.candidate_id(), " (not served): bnctl drift ",
                    response.model(), " shows its shadow evaluation, bnctl promote ", response.model(),
                    " --candidate ", response.candidate_id(), " serves it\n");
  } else if (response.has_new_version()) {
    absl::StrAppend(&out, "\ncommitted version ", response.new_version().version(), " (now served, request ",
                    response.new_version().request_id(), ")\n");
  } else {
    absl::StrAppend(&out, "\ndry run: nothing committed, version ", response.base_version(), " still served\n");
  }
  return out;
}

}  // namespace

void AddRecalibrateCommand(CLI::App* app, std::vector<Command>* commands) {
  auto opts = std::make_shared<RecalibrateOptions>();
  CLI::App* sub =
      app->add_subcommand("recalibrate",
                          "Recompute BN running statistics from unlabeled data streamed in batches, and commit them "
                          "as a new statistics version");
  sub->add_option("model", opts->model, "Model name")->required();
  sub->add_option("--input,-i", opts->input, "Calibration data: a .npy or .csv file of instances")->required();
  sub->add_option("--batch-size", opts->batch_size, "Instances per batch (the statistics depend on it)")
      ->required()
      ->check(PositiveInteger());
  sub->add_option("--mode", opts->mode, "How batch statistics are folded into the running ones")
      ->check(CLI::IsMember({"ema", "cumulative", "population", "exact", "prior", "alpha"}))
      ->capture_default_str();
  opts->momentum_option = sub->add_option("--momentum", opts->momentum,
                                          "ema only: PyTorch momentum (weight of the new batch) for every layer")
                              ->check(CLI::Range(0.0, 1.0));
  opts->prior_strength_option =
      sub->add_option("--prior-strength", opts->prior_strength,
                      "prior only: N, the weight of the served statistics counted in samples (0 keeps only the "
                      "streamed ones)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
  opts->alpha_option =
      sub->add_option("--alpha", opts->alpha,
                      "alpha only: the weight of the served statistics (0 keeps only the streamed ones)")
          ->check(CLI::Range(0.0, 1.0))
          ->capture_default_str();
  sub->add_flag("--reset", opts->reset, "Start from PyTorch's reset statistics (mean 0, var 1)");
  sub->add_option("--layers", opts->layers, "Only these BN layers, e.g. bn1,bn2 (default: all)")->delimiter(',');
  sub->add_option("--forward", opts->forward, "BN behaviour during the passes")
      ->check(CLI::IsMember({"train", "eval"}))
      ->capture_default_str();
  CLI::Option* dry_run = sub->add_flag("--dry-run", opts->dry_run, "Compute and report the changes, commit nothing");
  sub->add_option("--expect-version", opts->expect_version,
                  "Refuse (ABORTED) unless this is the served version when the stream starts and ends");
  sub->add_option("--note", opts->note, "Text recorded in the version history");
  CLI::Option* request_id = sub->add_option("--request-id", opts->request_id,
                  "Idempotency key (up to 128 of A-Z a-z 0-9 . _ : -); default: a random UUID. Re-running with "
                  "the id of a recalibration that was committed commits nothing and reports that version");
  sub->add_option("--attempts", opts->attempts,
                  "Attempts when the outcome is unknown (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED); every retry "
                  "resends the same request id and batches")
      ->check(PositiveInteger())
      ->capture_default_str();
  sub->add_flag("--stage", opts->stage,
                "Stage the statistics as a candidate instead of committing them: not served, shadowed on live "
                "traffic, promoted or discarded later (docs/drift.md); sent once, without a request id")
      ->excludes(dry_run)
      ->excludes(request_id);
  commands->push_back({sub, [opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(ModelInput input, LoadModelInput(client, opts->model, opts->input));
                         BatchSplitter batches(input.data, opts->batch_size);
                         ProgressBar bar(absl::StrCat("recalibrate ", opts->model), stderr);
                         auto progress = [&bar](const UploadProgress& p) {
                           bar.Update(p.batches_sent, p.total_batches,
                                      absl::StrCat(p.batches_sent, "/", p.total_batches, " batches  ", p.samples_sent,
                                                   "/", p.total_samples, " samples",
                                                   p.attempt > 1 ? absl::StrCat("  (attempt ", p.attempt, ")") : ""));
                         };
                         auto response = client.Recalibrate(MakeConfig(*opts), batches, progress, opts->attempts);
                         bar.Finish();
                         if (!response.ok()) return response.status();
                         return CommandResult{RecalibrateJson(*response), ResultText(*opts, *response)};
                       }});
}

}  // namespace bnserve::client
