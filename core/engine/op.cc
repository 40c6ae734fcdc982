#include "core/engine/op.h"

#include "absl/strings/str_cat.h"

namespace bnserve {

std::string OpBuildContext::Describe() const {
  return absl::StrCat(node.op_type, " node '", node.name, "' (opset ", graph.opset, ")");
}

void OpRegistry::Register(const std::string& domain, const std::string& op_type, int64_t min_opset, int64_t max_opset,
                          OpFactory factory) {
  entries_[{domain, op_type}].push_back(Entry{min_opset, max_opset, std::move(factory)});
}

const OpRegistry::Entry* OpRegistry::Find(const Node& node, int64_t opset) const {
  const std::string domain = node.domain == "ai.onnx" ? "" : node.domain;
  auto it = entries_.find({domain, node.op_type});
  if (it == entries_.end()) return nullptr;
  for (const Entry& e : it->second) {
    if (opset >= e.min_opset && opset <= e.max_opset) return &e;
  }
  return nullptr;
}

absl::Status OpRegistry::CheckSupported(const Node& node, int64_t opset) const {
  if (Find(node, opset) != nullptr) return absl::OkStatus();
  const std::string domain = node.domain.empty() ? "ai.onnx" : node.domain;
  return absl::UnimplementedError(absl::StrCat("unsupported operator ", domain, "::", node.op_type, " at node '",
                                               node.name, "' (opset ", opset, "): bnserve does not implement it"));
}

absl::Status OpRegistry::CheckGraph(const Graph& graph) const {
  for (const Node& node : graph.nodes) BN_RETURN_IF_ERROR(CheckSupported(node, graph.opset));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Op>> OpRegistry::Create(const OpBuildContext& ctx) const {
  const Entry* e = Find(ctx.node, ctx.graph.opset);
  if (e == nullptr) return CheckSupported(ctx.node, ctx.graph.opset);
  return e->factory(ctx);
}

}  // namespace bnserve
