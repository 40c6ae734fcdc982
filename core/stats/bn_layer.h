// BnLayerInfo: what the model file says about one BatchNormalization node.
// Immutable part of a model; the running statistics themselves live in
// StatsSnapshot so they can change without reloading the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bnserve {

struct BnLayerInfo {
  // Stable name: the ONNX node name, else derived from the running-mean
  // initializer ("bn1.running_mean" -> "bn1"), else "BatchNormalization_<k>".
  std::string name;
  int node_index = -1;     // index in Graph::nodes
  std::string input_name;  // X
  std::string scale_name;  // gamma initializer
  std::string bias_name;   // beta initializer
  std::string mean_name;   // running mean initializer
  std::string var_name;    // running variance initializer
  int64_t channels = 0;
  double epsilon = 1e-5;  // the float32 attribute widened, e.g. 9.999999747378752e-06
  // ONNX "momentum" attribute as stored: the Keras/ONNX convention, the
  // weight KEPT by the old running value (0.9 for PyTorch momentum 0.1).
  double onnx_momentum = 0.9;
  // PyTorch's momentum = 1 - onnx_momentum (so 0.10000002384185791 for a
  // stored 0.9f). nullopt when onnx_momentum == 1: PyTorch exports
  // momentum=None (cumulative average) as 1.0, and a literal PyTorch momentum
  // of 0 (frozen statistics) is not something anyone recalibrates with.
  std::optional<double> torch_momentum;
  // False when gamma is all ones and beta all zeros (PyTorch affine=False).
  bool has_affine = true;
  std::vector<double> gamma;
  std::vector<double> beta;
};

}  // namespace bnserve
