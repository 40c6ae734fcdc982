// Returning freed heap memory to the operating system after the big, rare
// operations (loading a model, a commit, an unload). Building a plan frees
// several times the model's weights in temporaries (the file's bytes, the
// parsed protobuf, float64 folding values); glibc keeps freed memory in its
// arenas for reuse, so without this the process's resident size would stay
// at the load's peak. Serving requests never call it.
#pragma once

namespace bnserve {

// malloc_trim(0) on glibc; nothing elsewhere. Thread-safe; takes a few
// milliseconds on a large heap.
void ReleaseFreedMemory();

// Calls ReleaseFreedMemory when it goes out of scope: declared first in a
// function, it runs after every other local (e.g. a replaced bundle) is gone.
class ReleaseFreedMemoryOnExit {
 public:
  ReleaseFreedMemoryOnExit() = default;
  ReleaseFreedMemoryOnExit(const ReleaseFreedMemoryOnExit&) = delete;
  ReleaseFreedMemoryOnExit& operator=(const ReleaseFreedMemoryOnExit&) = delete;
  ~ReleaseFreedMemoryOnExit() { ReleaseFreedMemory(); }
};

}  // namespace bnserve
