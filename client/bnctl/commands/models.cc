// bnctl models | describe MODEL | health [MODEL] | load | reload | unload MODEL
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/format.h"
#include "client/bnctl/json_views.h"
#include "client/bnctl/table.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

std::string ModelsText(const v1::ListModelsResponse& response) {
  Table table({"model", "state", "version", "error"});
  for (const auto& model : response.models()) {
    table.AddRow({model.name(), ModelStateName(model.state()),
                  model.statistics_version() > 0 ? absl::StrCat(model.statistics_version()) : "-", model.error()});
  }
  return table.Render();
}

std::string SpecsText(const char* title, const google::protobuf::RepeatedPtrField<v1::TensorSpec>& specs) {
  std::string out;
  for (const auto& spec : specs) absl::StrAppend(&out, title, spec.name(), "  ", FormatSpecShape(spec), "\n");
  return out;
}

std::string DescribeText(const v1::DescribeModelResponse& response) {
  const auto& status = response.status();
  std::string out = absl::StrCat(
      "model     ", status.name(), " (", ModelStateName(status.state()), ")\n", "version   ",
      response.current_version().version(), " (", response.current_version().origin(), ")\n", "opset     ",
      response.opset(), response.producer().empty() ? "" : absl::StrCat(", producer ", response.producer()), "\n");
  out += SpecsText("input     ", response.inputs());
  out += SpecsText("output    ", response.outputs());
  Table layers({"bn layer", "channels", "eps", "momentum", "affine", "input"});
  for (const auto& layer : response.bn_layers()) {
    layers.AddRow({layer.name(), absl::StrCat(layer.channels()), FormatNumber(layer.epsilon()),
                   layer.cumulative() ? "cumulative" : FormatNumber(layer.momentum()),
                   layer.has_affine() ? "yes" : "no", layer.input()});
  }
  return absl::StrCat(out, "\n", layers.Render());
}

// A subcommand whose only argument is a model name.
CLI::App* ModelSubcommand(CLI::App* app, const char* name, const char* help, std::shared_ptr<std::string> model) {
  CLI::App* sub = app->add_subcommand(name, help);
  sub->add_option("model", *model, "Model name")->required();
  return sub;
}

// load / reload / unload: the model's status after the call.
template <typename Call>
Command LifecycleCommand(CLI::App* app, const char* name, const char* help, Call call) {
  auto model = std::make_shared<std::string>();
  CLI::App* sub = ModelSubcommand(app, name, help, model);
  return {sub, [model, call](const Client& client) -> absl::StatusOr<CommandResult> {
            BN_ASSIGN_OR_RETURN(auto response, call(client, *model));
            const auto& status = response.status();
            return CommandResult{ModelStatusJson(status),
                                 absl::StrCat(status.name(), ": ", ModelStateName(status.state()), "\n")};
          }};
}

}  // namespace

void AddModelCommands(CLI::App* app, std::vector<Command>* commands) {
  CLI::App* models = app->add_subcommand("models", "List the models of the server's repository and their state");
  commands->push_back({models, [](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(auto response, client.ListModels());
                         return CommandResult{ListModelsJson(response), ModelsText(response)};
                       }});

  auto model = std::make_shared<std::string>();
  CLI::App* describe =
      ModelSubcommand(app, "describe", "Inputs, outputs, BN layers and served version of a model", model);
  commands->push_back({describe, [model](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(auto response, client.DescribeModel(*model));
                         return CommandResult{DescribeModelJson(response), DescribeText(response)};
                       }});

  auto service = std::make_shared<std::string>();
  CLI::App* health =
      app->add_subcommand("health", "grpc.health.v1 check of the server, or of one model; exit code 1 unless SERVING");
  health->add_option("model", *service, "Model name (default: the server itself)");
  commands->push_back({health, [service](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(std::string status, client.CheckHealth(*service));
                         CommandResult result;
                         result.json = {{"service", *service}, {"status", status}};
                         result.text = absl::StrCat(service->empty() ? "server" : *service, ": ", status, "\n");
                         result.exit_code = status == "SERVING" ? 0 : 1;
                         return result;
                       }});

  commands->push_back(LifecycleCommand(app, "load", "Load a model folder of the repository",
                                       [](const Client& c, const std::string& m) { return c.LoadModel(m); }));
  commands->push_back(LifecycleCommand(app, "reload", "Re-read a model and swap it in once built",
                                       [](const Client& c, const std::string& m) { return c.ReloadModel(m); }));
  commands->push_back(LifecycleCommand(app, "unload", "Stop serving a model (its statistics stay on disk)",
                                       [](const Client& c, const std::string& m) { return c.UnloadModel(m); }));
}

}  // namespace bnserve::client
