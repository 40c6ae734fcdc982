#include "tests/bench/loadgen/load_inputs.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace bnserve::loadgen {

bool IsLoopback(const std::string& address) {
  const std::string host = address.substr(0, address.rfind(':'));
  return host == "localhost" || absl::StartsWith(host, "127.") || host == "[::1]" || host == "::1" ||
         absl::StartsWith(host, "unix:");
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<std::vector<v1::Tensor>> MakeInputs(const v1::DescribeModelResponse& model, int64_t batch, bool packed) {
  if (model.inputs().empty()) return absl::FailedPreconditionError("DescribeModel lists no inputs");
  std::vector<v1::Tensor> tensors;
  for (const v1::TensorSpec& spec : model.inputs()) {
    if (spec.shape().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("input ", spec.name(), ": the model declares no shape, so the payload cannot be built"));
    }
    v1::Tensor t;
    t.set_name(spec.name());
    int64_t count = 1;
    for (int i = 0; i < spec.shape_size(); ++i) {
      int64_t dim = spec.shape(i);
      if (i == 0) {
        dim = batch;
      } else if (dim < 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("input ", spec.name(), ": dim ", i, " is symbolic; expected only the batch dim to be"));
      }
      t.add_shape(dim);
      count *= dim;
    }
    std::vector<float> values(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) values[i] = 0.5f * std::sin(0.37f * static_cast<float>(i));
    if (packed) {
      t.mutable_values()->Add(values.begin(), values.end());
    } else {
      t.mutable_raw_float32_le()->assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    }
    tensors.push_back(std::move(t));
  }
  return tensors;
}

}  // namespace bnserve::loadgen
