// libFuzzer target: arbitrary bytes as an ONNX model file. Model::LoadFromBytes
// must return a status - never crash, hang or allocate without bound -
// whatever the bytes (truncated protobuf, absurd dims, external data
// pointing anywhere, cycles, missing inputs...). External data resolves
// against an empty directory, so a hostile location finds nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/model/model.h"

namespace {

const std::string& EmptyDir() {
  static const std::string* const dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/bnserve_fuzz_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) pattern = "/nonexistent-bnserve-fuzz-dir";
    return new std::string(pattern);
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto model = bnserve::Model::LoadFromBytes(bytes, EmptyDir());
  if (model.ok() && *model == nullptr) std::abort();  // OK must carry a model
  return 0;
}
