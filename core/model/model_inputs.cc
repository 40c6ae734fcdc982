#include "core/model/model_inputs.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bnserve {
namespace {

// "[batch,1,8,8]"; a symbolic dim prints its name, or "?" without one.
std::string DeclaredShape(const std::vector<Dim>& dims, size_t from) {
  std::vector<std::string> parts;
  for (size_t i = from; i < dims.size(); ++i) {
    const Dim& d = dims[i];
    parts.push_back(!d.symbolic() ? absl::StrCat(d.size) : (d.param.empty() ? "?" : d.param));
  }
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

// True when `shape` matches dims[from..] (fixed dims equal, ranks equal).
bool Matches(const std::vector<Dim>& dims, size_t from, const Shape& shape) {
  if (dims.size() > static_cast<size_t>(Shape::kMaxRank)) return false;
  if (static_cast<size_t>(shape.rank()) + from != dims.size()) return false;
  for (size_t i = from; i < dims.size(); ++i) {
    if (!dims[i].symbolic() && dims[i].size != shape[static_cast<int>(i - from)]) return false;
  }
  return true;
}

absl::Status ShapeError(size_t index, const std::vector<Dim>& dims, bool allow_single, const Shape& got) {
  std::string expected = DeclaredShape(dims, 0);
  if (allow_single && !dims.empty()) absl::StrAppend(&expected, " or ", DeclaredShape(dims, 1));
  return absl::InvalidArgumentError(
      absl::StrCat("inputs[", index, "].shape: expected ", expected, ", got ", got.ToString()));
}

}  // namespace

absl::StatusOr<BatchForm> ResolveBatchForm(const Graph& graph, absl::Span<const std::string> names,
                                           absl::Span<TensorView> inputs, bool allow_single_instance) {
  if (inputs.size() != graph.inputs.size()) {
    std::vector<std::string> declared;
    for (const ValueInfo& v : graph.inputs) declared.push_back(v.name);
    return absl::InvalidArgumentError(absl::StrCat("inputs: expected ", graph.inputs.size(), " tensor(s) (",
                                                   absl::StrJoin(declared, ", "), "), got ", inputs.size()));
  }
  if (!names.empty() && names.size() != inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("inputs: expected ", inputs.size(), " names, got ", names.size()));
  }
  // -1 until the first input with a declared shape decides the form.
  int single = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ValueInfo& declared = graph.inputs[i];
    if (!names.empty() && !names[i].empty() && names[i] != declared.name) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs[", i, "].name: expected '", declared.name, "', got '", names[i], "'"));
    }
    if (declared.dims.empty()) continue;
    const Shape& shape = inputs[i].shape;
    const bool is_batch = Matches(declared.dims, 0, shape);
    const bool is_single = allow_single_instance && !is_batch && Matches(declared.dims, 1, shape);
    if (!is_batch && !is_single) return ShapeError(i, declared.dims, allow_single_instance, shape);
    if (single >= 0 && single != static_cast<int>(is_single)) {
      return absl::InvalidArgumentError(absl::StrCat("inputs[", i, "].shape: expected ",
                                                     single ? "no batch dim" : "a batch dim", " like inputs[0], got ",
                                                     shape.ToString()));
    }
    single = is_single ? 1 : 0;
  }
  if (single != 1) return BatchForm::kBatch;
  for (TensorView& view : inputs) {
    Shape batched;
    batched.push_back(1);
    for (int64_t d : view.shape) batched.push_back(d);
    view.shape = batched;
  }
  return BatchForm::kSingleInstance;
}

}  // namespace bnserve
