// Classify cost per statement: a cached hit and a cold parse of a ~300-character
// three-table join (issue 3 asks for both numbers in the README).
#include <benchmark/benchmark.h>

#include <string>

#include "policy/classifier.h"

namespace {

using pgwarden::policy::Classifier;

// About 300 characters: three tables, joins, a filter, grouping and ordering.
const std::string kJoin =
    "SELECT c.name, c.country, count(o.id) AS orders, sum(p.amount) AS paid "
    "FROM customers c JOIN orders o ON o.customer_id = c.id "
    "LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'settled' "
    "WHERE o.created_at >= now() - interval '30 days' AND c.country = 'FR' "
    "GROUP BY c.name, c.country ORDER BY paid DESC NULLS LAST LIMIT 50";

// A repeated statement: one hash lookup in the decision cache.
void classify_cached_hit(benchmark::State& state) {
  const Classifier classifier;
  classifier.classify(kJoin);
  for (auto _ : state) {
    auto d = classifier.classify(kJoin);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(std::to_string(kJoin.size()) + " chars");
}
BENCHMARK(classify_cached_hit);

// No cache: every call parses with libpg_query and walks the tree.
void classify_cold_parse(benchmark::State& state) {
  const Classifier classifier({.cache_capacity = 0});
  for (auto _ : state) {
    auto d = classifier.classify(kJoin);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(std::to_string(kJoin.size()) + " chars");
}
BENCHMARK(classify_cold_parse);

// With the cache on but a new text each time (unique literal): a miss, a
// parse and an insertion that evicts.
void classify_cache_miss(benchmark::State& state) {
  const Classifier classifier({.cache_capacity = 1024});
  const std::string prefix = kJoin.substr(0, kJoin.find("LIMIT 50") + 6);
  std::uint64_t n = 0;
  for (auto _ : state) {
    const std::string sql = prefix + std::to_string(n++);
    auto d = classifier.classify(sql);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(classify_cache_miss);

// Cached hits from several threads at once (sharded locks).
void classify_cached_hit_threads(benchmark::State& state) {
  static const Classifier classifier;
  classifier.classify(kJoin);
  for (auto _ : state) {
    auto d = classifier.classify(kJoin);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(classify_cached_hit_threads)->Threads(2)->Threads(4);

}  // namespace

BENCHMARK_MAIN();
