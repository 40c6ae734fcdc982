// Counts heap allocations made through the global operator new, for tests of
// the "no heap allocation on the hot path" contract.
//
// Include from exactly one .cc per test binary (each tests/*_test.cc is its
// own binary): it replaces the global operator new/delete. Allocations made
// through malloc directly are not counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace bnserve::testing {

// Heap allocations made through operator new since the program started.
inline std::atomic<int64_t>& AllocationCount() {
  static std::atomic<int64_t> count{0};
  return count;
}

}  // namespace bnserve::testing

// The replacements pair malloc with free, which GCC cannot see through.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  bnserve::testing::AllocationCount().fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
