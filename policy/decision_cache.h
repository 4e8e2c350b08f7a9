// A bounded, sharded LRU of decisions keyed by exact statement text, or by
// normalised text (literals replaced) for decisions that hold for every value,
// so a repeated statement costs a hash lookup instead of a parse.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/classifier.h"

namespace pgwarden::policy::detail {

class DecisionCache {
 public:
  //! capacity > 0. Entries are spread over shards, each with its own lock,
  //! so event-loop threads rarely wait for each other.
  explicit DecisionCache(std::size_t capacity);

  //! Exact statement text, or a key from normalize_literals(): never equal.
  enum class KeyKind : bool { Text, Normalized };

  //! A decision made under the same rules generation, or nullopt. Hits are
  //! counted, misses only with `count_miss` (the last lookup of a classify).
  std::optional<Decision> find(std::string_view text, std::size_t hash, std::uint64_t generation,
                               KeyKind kind = KeyKind::Text, bool count_miss = true);
  void insert(std::string_view text, std::size_t hash, std::uint64_t generation,
              const Decision& decision, KeyKind kind = KeyKind::Text);
  void clear();

  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  std::uint64_t normalized_hits() const { return normalized_hits_.load(std::memory_order_relaxed); }
  //! Counts a miss whose last find() did not.
  void note_miss() { misses_.fetch_add(1, std::memory_order_relaxed); }
  std::size_t size() const;

 private:
  struct Key {
    std::string_view text;
    std::size_t hash;
    KeyKind kind;
    bool operator==(const Key& other) const { return kind == other.kind && text == other.text; }
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const { return k.hash; }
  };
  struct Entry {
    std::string text;
    std::size_t hash;
    KeyKind kind;
    std::uint64_t generation;
    Decision decision;
  };
  struct Shard {
    std::mutex mutex;
    std::size_t capacity = 0;
    std::list<Entry> lru;  // front: most recently used
    std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index;
  };

  Shard& shard_for(std::size_t hash) { return *shards_[(hash >> 7) % shards_.size()]; }

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<std::uint64_t> normalized_hits_{0};
};

}  // namespace pgwarden::policy::detail
