// bnctl stats MODEL [--layer L]... [--version V] [--channels] [--affine] [--plot]
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/format.h"
#include "client/bnctl/json_views.h"
#include "client/bnctl/plot.h"
#include "client/bnctl/table.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

struct StatsOptions {
  std::string model;
  std::vector<std::string> layers;
  int64_t version = 0;
  bool channels = false;
  bool affine = false;
  bool plot = false;
};

std::string MomentumText(const v1::DescribeModelResponse& description, const std::string& layer) {
  for (const auto& info : description.bn_layers()) {
    if (info.name() == layer) return info.cumulative() ? "cumulative" : FormatNumber(info.momentum());
  }
  return "-";
}

std::string SummaryText(const v1::GetRunningStatsResponse& stats, const v1::DescribeModelResponse& description) {
  Table table({"layer", "channels", "eps", "momentum", "batches", "samples", "mean range", "var range"});
  for (const auto& layer : stats.layers()) {
    table.AddRow({layer.name(), absl::StrCat(layer.channels()), FormatNumber(layer.epsilon()),
                  MomentumText(description, layer.name()), absl::StrCat(layer.num_batches_tracked()),
                  layer.sample_count() > 0 ? absl::StrCat(layer.sample_count()) : "-",
                  FormatRange(DoubleSpan(layer.mean())), FormatRange(DoubleSpan(layer.var()))});
  }
  return table.Render();
}

std::string ChannelsText(const v1::GetRunningStatsResponse& stats, bool affine) {
  std::vector<std::string> headers = {"layer", "channel", "mean", "var"};
  if (affine) headers.insert(headers.end(), {"gamma", "beta"});
  Table table(headers);
  for (const auto& layer : stats.layers()) {
    for (int c = 0; c < layer.mean_size(); ++c) {
      std::vector<std::string> row = {layer.name(), absl::StrCat(c), FormatNumber(layer.mean(c), 6),
                                      FormatNumber(layer.var(c), 6)};
      if (affine && c < layer.gamma_size() && c < layer.beta_size()) {
        row.insert(row.end(), {FormatNumber(layer.gamma(c), 6), FormatNumber(layer.beta(c), 6)});
      }
      table.AddRow(std::move(row));
    }
  }
  return table.Render();
}

std::string PlotText(const v1::GetRunningStatsResponse& stats) {
  std::string out;
  for (const auto& layer : stats.layers()) {
    std::vector<std::string> labels;
    for (int c = 0; c < layer.mean_size(); ++c) labels.push_back(absl::StrCat("c", c));
    absl::StrAppend(&out, layer.name(), ": running mean per channel\n", BarChart(labels, DoubleSpan(layer.mean())),
                    "\n", layer.name(), ": running var per channel\n", BarChart(labels, DoubleSpan(layer.var())), "\n");
  }
  return out;
}

}  // namespace

void AddStatsCommand(CLI::App* app, std::vector<Command>* commands) {
  auto opts = std::make_shared<StatsOptions>();
  CLI::App* sub = app->add_subcommand("stats", "Running statistics of a model's BN layers (per-layer summary)");
  sub->add_option("model", opts->model, "Model name")->required();
  sub->add_option("--layer", opts->layers, "Only this BN layer (repeatable)");
  sub->add_option("--version", opts->version, "Statistics version (default: the served one)");
  sub->add_flag("--channels", opts->channels, "Per-channel running mean and variance");
  sub->add_flag("--affine", opts->affine, "With --channels: also gamma and beta");
  sub->add_flag("--plot", opts->plot, "Bar charts of the per-channel running mean and variance");
  commands->push_back({sub, [opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(auto description, client.DescribeModel(opts->model));
                         v1::GetRunningStatsRequest request;
                         request.set_model(opts->model);
                         request.set_statistics_version(opts->version);
                         for (const auto& layer : opts->layers) request.add_layers(layer);
                         request.set_include_affine(opts->affine);
                         BN_ASSIGN_OR_RETURN(auto stats, client.GetRunningStats(request));
                         std::string text =
                             absl::StrCat(opts->model, " statistics version ", stats.version().version(), "\n\n");
                         if (opts->plot) {
                           text += PlotText(stats);
                         } else {
                           text += opts->channels ? ChannelsText(stats, opts->affine) : SummaryText(stats, description);
                         }
                         return CommandResult{RunningStatsJson(stats, description), text};
                       }});
}

}  // namespace bnserve::client
