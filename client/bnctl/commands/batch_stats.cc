// bnctl batch-stats MODEL --input FILE [--forward train|eval] [--version V] [--channels] [--plot]
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/batches.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/commands/model_input.h"
#include "client/bnctl/format.h"
#include "client/bnctl/json_views.h"
#include "client/bnctl/plot.h"
#include "client/bnctl/table.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

// The file is ONE batch; it travels in chunks of at most this many bytes so
// that any file fits under the server's message limit.
constexpr int64_t kChunkBytes = 1 << 20;

struct BatchStatsOptions {
  std::string model;
  std::string input;
  std::string forward = "train";
  int64_t version = 0;
  bool channels = false;
  bool plot = false;
};

std::string LayersText(const v1::GetBatchStatsResponse& response) {
  Table table({"layer", "count", "mean |z|", "mean KL", "worst channel", "its KL", "its z"});
  for (const auto& layer : response.layers()) {
    const int worst = layer.worst_channel();
    const bool valid = worst >= 0 && worst < layer.kl_size() && worst < layer.mean_shift_size();
    table.AddRow({layer.name(), absl::StrCat(layer.count()), FormatNumber(layer.mean_abs_shift()),
                  FormatNumber(layer.mean_kl()), valid ? absl::StrCat(worst) : "-",
                  valid ? FormatNumber(layer.kl(worst)) : "-", valid ? FormatNumber(layer.mean_shift(worst)) : "-"});
  }
  return table.Render();
}

std::string ChannelsText(const v1::GetBatchStatsResponse& response) {
  Table table({"layer", "channel", "batch mean", "running mean", "z", "batch var", "running var", "KL"});
  for (const auto& layer : response.layers()) {
    for (int c = 0; c < layer.mean_size(); ++c) {
      table.AddRow({layer.name(), absl::StrCat(c), FormatNumber(layer.mean(c)), FormatNumber(layer.running_mean(c)),
                    FormatNumber(layer.mean_shift(c)), FormatNumber(layer.var_biased(c)),
                    FormatNumber(layer.running_var(c)), FormatNumber(layer.kl(c))});
    }
  }
  return table.Render();
}

std::string PlotText(const v1::GetBatchStatsResponse& response) {
  std::vector<std::string> names;
  std::vector<double> kls;
  for (const auto& layer : response.layers()) {
    names.push_back(layer.name());
    kls.push_back(layer.mean_kl());
  }
  std::string out = absl::StrCat("mean KL(batch || running) per layer\n", BarChart(names, kls),
                                 "\nper-channel mean shift z and KL\n");
  Table table({"layer", "z per channel", "z range", "KL per channel", "KL range"});
  for (const auto& layer : response.layers()) {
    const auto z = DoubleSpan(layer.mean_shift());
    const auto kl = DoubleSpan(layer.kl());
    table.AddRow({layer.name(), Sparkline(z), FormatRange(z), Sparkline(kl), FormatRange(kl)});
  }
  return out + table.Render();
}

}  // namespace

void AddBatchStatsCommand(CLI::App* app, std::vector<Command>* commands) {
  auto opts = std::make_shared<BatchStatsOptions>();
  CLI::App* sub =
      app->add_subcommand("batch-stats",
                          "What a batch does at every BN layer and how far it drifts from the running statistics "
                          "(most shifted layers first)");
  sub->add_option("model", opts->model, "Model name")->required();
  sub->add_option("--input,-i", opts->input, "The batch: a .npy or .csv file of instances")->required();
  sub->add_option("--forward", opts->forward, "BN behaviour during the pass")
      ->check(CLI::IsMember({"train", "eval"}))
      ->capture_default_str();
  sub->add_option("--version", opts->version, "Statistics version to compare with (default: the served one)");
  sub->add_flag("--channels", opts->channels, "Per-channel batch and running statistics");
  sub->add_flag("--plot", opts->plot, "Drift per layer as bars, per channel as sparklines");
  commands->push_back(
      {sub, [opts](const Client& client) -> absl::StatusOr<CommandResult> {
         BN_ASSIGN_OR_RETURN(ModelInput input, LoadModelInput(client, opts->model, opts->input));
         v1::GetBatchStatsRequest header;
         header.set_model(opts->model);
         header.set_statistics_version(opts->version);
         header.set_forward_mode(opts->forward == "eval" ? v1::FORWARD_MODE_EVAL : v1::FORWARD_MODE_TRAIN);
         header.set_sort_by_drift(true);
         BatchSplitter chunks(input.data, RowsWithinBytes(input.data, kChunkBytes));
         BN_ASSIGN_OR_RETURN(auto response, client.GetBatchStatsStreamed(header, chunks));
         std::string text =
             absl::StrCat(opts->model, ": ", response.samples(), " samples, ", ForwardModeName(response.forward_mode()),
                          " forward, compared with statistics version ", response.statistics_version(), "\n\n");
         if (opts->plot) {
           text += PlotText(response);
         } else {
           text += opts->channels ? ChannelsText(response) : LayersText(response);
         }
         return CommandResult{BatchStatsJson(response), text};
       }});
}

}  // namespace bnserve::client
