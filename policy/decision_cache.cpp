// Sharded LRU of decisions (see decision_cache.h).
#include "policy/decision_cache.h"

#include <algorithm>

namespace pgwarden::policy::detail {

DecisionCache::DecisionCache(std::size_t capacity) {
  const std::size_t count = std::clamp<std::size_t>(capacity / 64, 1, 16);
  for (std::size_t i = 0; i < count; ++i) {
    auto shard = std::make_unique<Shard>();
    // Spread the capacity exactly: the first shards take the remainder.
    shard->capacity = capacity / count + (i < capacity % count ? 1 : 0);
    shards_.push_back(std::move(shard));
  }
}

std::optional<Decision> DecisionCache::find(std::string_view text, std::size_t hash,
                                            std::uint64_t generation, KeyKind kind,
                                            bool count_miss) {
  Shard& shard = shard_for(hash);
  {
    std::lock_guard lock(shard.mutex);
    const auto it = shard.index.find(Key{text, hash, kind});
    if (it != shard.index.end() && it->second->generation == generation) {
      shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
      hits_.fetch_add(1, std::memory_order_relaxed);
      if (kind == KeyKind::Normalized) normalized_hits_.fetch_add(1, std::memory_order_relaxed);
      return it->second->decision;
    }
  }
  if (count_miss) misses_.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

void DecisionCache::insert(std::string_view text, std::size_t hash, std::uint64_t generation,
                           const Decision& decision, KeyKind kind) {
  Shard& shard = shard_for(hash);
  // Build the entry before taking the lock: copying the text is the slow part.
  std::list<Entry> node;
  node.push_back(Entry{std::string(text), hash, kind, generation, decision});
  std::lock_guard lock(shard.mutex);
  const auto found = shard.index.find(Key{text, hash, kind});
  if (found != shard.index.end()) {
    // Another thread got here first, or an entry from older rules: replace.
    const auto stale = found->second;
    shard.index.erase(found);
    shard.lru.erase(stale);
  }
  shard.lru.splice(shard.lru.begin(), node);
  const Entry& entry = shard.lru.front();
  shard.index.emplace(Key{entry.text, entry.hash, entry.kind}, shard.lru.begin());
  while (shard.lru.size() > shard.capacity) {
    const Entry& old = shard.lru.back();
    shard.index.erase(Key{old.text, old.hash, old.kind});
    shard.lru.pop_back();
  }
}

void DecisionCache::clear() {
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    shard->index.clear();
    shard->lru.clear();
  }
}

std::size_t DecisionCache::size() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->lru.size();
  }
  return total;
}

}  // namespace pgwarden::policy::detail
