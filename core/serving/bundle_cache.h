// BundleCache: a small LRU of serving bundles for pinned (non-current)
// statistics versions of one model, so that repeated requests for an old
// version do not re-read its file and rebuild its plan every time.
// Thread-safe; lookups and inserts take a short mutex. Two concurrent misses
// for the same version may both build a bundle; the second Put wins, which
// is harmless because bundles of one version are equal.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <utility>

#include "core/serving/serving_bundle.h"

namespace bnserve {

class BundleCache {
 public:
  // `capacity` 0 disables caching.
  explicit BundleCache(size_t capacity) : capacity_(capacity) {}

  // The bundle of `version`, or nullptr; marks it most recently used.
  std::shared_ptr<const ServingBundle> Get(int64_t version);
  // Inserts or replaces, evicting the least recently used beyond capacity.
  void Put(int64_t version, std::shared_ptr<const ServingBundle> bundle);
  void Clear();

 private:
  const size_t capacity_;
  std::mutex mu_;
  // Most recently used first; a handful of entries, so a list scan is fine.
  std::list<std::pair<int64_t, std::shared_ptr<const ServingBundle>>> entries_;
};

}  // namespace bnserve
