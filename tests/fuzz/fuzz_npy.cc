// libFuzzer target: arbitrary bytes as a NumPy .npy file, through the
// client's reader (header parse, float and label decoding). Every input must
// give an array or an INVALID_ARGUMENT/DATA_LOSS status; an accepted array
// must be consistent (values = product of the shape).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "client/npy.h"

namespace {

template <typename Array>
void CheckConsistent(const Array& array) {
  size_t count = 1;
  for (int64_t d : array.shape) {
    if (d < 0) std::abort();
    count *= static_cast<size_t>(d);
  }
  if (count != array.values.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)bnserve::client::ParseNpyHeader(bytes, "fuzz.npy");
  if (auto floats = bnserve::client::ParseNpyFloat(bytes, "fuzz.npy"); floats.ok()) CheckConsistent(*floats);
  if (auto labels = bnserve::client::ParseNpyLabels(bytes, "fuzz.npy"); labels.ok()) CheckConsistent(*labels);
  return 0;
}
