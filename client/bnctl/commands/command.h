// The shape of a bnctl command. Each commands/*.cc file registers its
// subcommands on the CLI11 app and returns, per subcommand, the action to
// run once the command line is parsed. Actions are thin: they call the
// Client, then build both views of the result (JSON for --json, an aligned
// table or plot otherwise); bnctl_main prints one of them. A command that
// can follow a server stream (drift --watch) also has a watch action, which
// hands bnctl_main one result per update to print as it comes.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/client.h"
#include "nlohmann/json.hpp"

namespace bnserve::client {

// What a command produced.
struct CommandResult {
  nlohmann::ordered_json json;
  std::string text;
  // Non-zero to fail without an error message (health: not serving).
  int exit_code = 0;
};

using CommandAction = std::function<absl::StatusOr<CommandResult>(const Client& client)>;
// Prints one update of a watch.
using UpdatePrinter = std::function<void(const CommandResult& update)>;
// Calls `print` per update until the stream ends or `stop` is cancelled
// (Ctrl-C); a stop is a success.
using WatchAction =
    std::function<absl::Status(const Client& client, CallCanceller* stop, const UpdatePrinter& print)>;

struct Command {
  Command(CLI::App* app, CommandAction action) : app(app), action(std::move(action)) {}

  CLI::App* app = nullptr;  // owned by the root CLI::App
  CommandAction action;
  // Optional: runs instead of `action` when `watching()` says so after parsing.
  WatchAction watch;
  std::function<bool()> watching;
};

// Option checks with plain messages (CLI11's PositiveNumber prints its range
// bound, 1.8e308, in full).
CLI::Validator PositiveInteger();
CLI::Validator PositiveSeconds();

// One registration function per file, each appending its subcommands.
void AddModelCommands(CLI::App* app, std::vector<Command>* commands);       // models, describe, health, load, ...
void AddStatsCommand(CLI::App* app, std::vector<Command>* commands);        // stats
void AddBatchStatsCommand(CLI::App* app, std::vector<Command>* commands);   // batch-stats
void AddMomentsCommand(CLI::App* app, std::vector<Command>* commands);      // moments
void AddPredictCommand(CLI::App* app, std::vector<Command>* commands);      // predict
void AddEvaluateCommand(CLI::App* app, std::vector<Command>* commands);     // evaluate
void AddRecalibrateCommand(CLI::App* app, std::vector<Command>* commands);  // recalibrate
void AddVersionCommands(CLI::App* app, std::vector<Command>* commands);     // history, rollback, export
void AddDriftCommands(CLI::App* app, std::vector<Command>* commands);       // drift, promote, discard

}  // namespace bnserve::client
