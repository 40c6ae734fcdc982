// FloatBuffer: a std::vector<float> whose growth leaves new elements
// uninitialised. Workspace tensors are resized to each step's output shape and
// every op overwrites its whole output, so the zero fill std::vector would do
// on growth is a wasted pass over memory, a visible share of a CNN's run.
// Build with BNSERVE_POISON_RESIZE to fill every resized tensor with NaN
// instead: an op that reads an element it did not write then fails its tests.
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace bnserve {

template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;

  // Value-less construction default-initialises (for float: leaves it as is).
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using FloatBuffer = std::vector<float, DefaultInitAllocator<float>>;

}  // namespace bnserve
