#include "core/serving/bundle_cache.h"

namespace bnserve {

std::shared_ptr<const ServingBundle> BundleCache::Get(int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == version) {
      entries_.splice(entries_.begin(), entries_, it);
      return entries_.front().second;
    }
  }
  return nullptr;
}

void BundleCache::Put(int64_t version, std::shared_ptr<const ServingBundle> bundle) {
  if (capacity_ == 0) return;
  std::shared_ptr<const ServingBundle> evicted;  // destroyed after unlocking
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == version) {
      entries_.erase(it);
      break;
    }
  }
  entries_.emplace_front(version, std::move(bundle));
  if (entries_.size() > capacity_) {
    evicted = std::move(entries_.back().second);
    entries_.pop_back();
  }
}

void BundleCache::Clear() {
  std::list<std::pair<int64_t, std::shared_ptr<const ServingBundle>>> old;
  std::lock_guard<std::mutex> lock(mu_);
  old.swap(entries_);
}

}  // namespace bnserve
