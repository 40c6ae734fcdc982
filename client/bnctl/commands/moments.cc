// bnctl moments --input FILE --axes 0,2,3 [--keep-dims]
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/format.h"
#include "client/bnctl/json_views.h"
#include "client/bnctl/table.h"
#include "client/input_file.h"
#include "client/tensor_convert.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

struct MomentsOptions {
  std::string input;
  std::vector<int64_t> axes;
  bool keep_dims = false;
};

// Row-major flat index -> "(i,j,...)" over `shape`.
std::string MultiIndex(int64_t flat, const google::protobuf::RepeatedField<int64_t>& shape) {
  std::vector<int64_t> index(shape.size());
  for (int d = shape.size() - 1; d >= 0; --d) {
    if (shape[d] > 0) {
      index[d] = flat % shape[d];
      flat /= shape[d];
    }
  }
  return absl::StrCat("(", absl::StrJoin(index, ","), ")");
}

std::string MomentsText(const v1::MomentsResponse& response) {
  std::string out = absl::StrCat("shape [", absl::StrJoin(response.shape(), ","), "]\n\n");
  Table table({"index", "mean", "variance"});
  for (int i = 0; i < response.mean_size() && i < response.variance_size(); ++i) {
    table.AddRow(
        {MultiIndex(i, response.shape()), FormatNumber(response.mean(i), 6), FormatNumber(response.variance(i), 6)});
  }
  return out + table.Render();
}

}  // namespace

void AddMomentsCommand(CLI::App* app, std::vector<Command>* commands) {
  auto opts = std::make_shared<MomentsOptions>();
  CLI::App* sub = app->add_subcommand(
      "moments", "Mean and biased variance of a data file over chosen axes (tf.nn.moments), computed by the server");
  sub->add_option("--input,-i", opts->input, "A .npy or .csv file")->required();
  sub->add_option("--axes", opts->axes, "Axes to reduce, e.g. 0,2,3 (negative counts from the end)")
      ->delimiter(',')
      ->required();
  sub->add_flag("--keep-dims", opts->keep_dims, "Keep reduced axes as size-1 dims");
  commands->push_back({sub, [opts](const Client& client) -> absl::StatusOr<CommandResult> {
                         BN_ASSIGN_OR_RETURN(FloatArray data, ReadFloatFile(opts->input));
                         v1::MomentsRequest request;
                         *request.mutable_x() = ArrayToTensor(data);
                         for (int64_t axis : opts->axes) request.add_axes(axis);
                         request.set_keep_dims(opts->keep_dims);
                         BN_ASSIGN_OR_RETURN(auto response, client.Moments(request));
                         return CommandResult{MomentsJson(response), MomentsText(response)};
                       }});
}

}  // namespace bnserve::client
