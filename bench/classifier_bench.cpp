// Classify cost per statement: a cached hit by exact text, a hit by
// normalised text with a new literal every time (pgbench -M simple), and a
// cold parse of a ~300-character three-table join (issue 7 asks for these).
// `classifier_bench --pgbench-statements=N [--exact-only]` instead classifies N
// pgbench-style statements with distinct literals once each and exits: the
// fixed workload for `valgrind --tool=callgrind` (see bench/README.md).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/classifier.h"
#include "policy/normalize.h"

namespace {

using pgwarden::policy::Classifier;

// About 300 characters: three tables, joins, a filter, grouping and ordering.
const std::string kJoin =
    "SELECT c.name, c.country, count(o.id) AS orders, sum(p.amount) AS paid "
    "FROM customers c JOIN orders o ON o.customer_id = c.id "
    "LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'settled' "
    "WHERE o.created_at >= now() - interval '30 days' AND c.country = 'FR' "
    "GROUP BY c.name, c.country ORDER BY paid DESC NULLS LAST LIMIT 50";

// pgbench -S -M simple: the same statement with a different aid every time.
std::vector<std::string> pgbench_statements(std::size_t count) {
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    // Spread like pgbench's random aids over 1,000,000 accounts (scale 10).
    const std::size_t aid = 1 + (i * 7919 + 13) % 1000000;
    out.push_back("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(aid) + ";");
  }
  return out;
}

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

// The same with normalisation on: still answered by exact text first.
void classify_cached_hit_normalizing(benchmark::State& state) {
  const Classifier classifier({.normalize_literals = true});
  classifier.classify(kJoin);
  for (auto _ : state) {
    auto d = classifier.classify(kJoin);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(std::to_string(kJoin.size()) + " chars");
}
BENCHMARK(classify_cached_hit_normalizing);

// pgbench -M simple through a normalising classifier: every text is new, the
// exact-text lookup misses, the normalised key hits.
void classify_pgbench_normalized_hit(benchmark::State& state) {
  const Classifier classifier({.normalize_literals = true});
  const auto statements = pgbench_statements(10000);
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = classifier.classify(statements[i]);
    benchmark::DoNotOptimize(d);
    i = i + 1 == statements.size() ? 0 : i + 1;
  }
  const auto stats = classifier.cache_stats();
  state.counters["normalized_hit_rate"] =
      static_cast<double>(stats.normalized_hits) / static_cast<double>(stats.hits + stats.misses);
}
BENCHMARK(classify_pgbench_normalized_hit);

// The join with a different LIMIT every time through a normalising
// classifier: the normaliser's pass over 328 characters, then a hit.
void classify_join_normalized_hit(benchmark::State& state) {
  const Classifier classifier({.normalize_literals = true});
  const std::string prefix = kJoin.substr(0, kJoin.find("LIMIT 50") + 6);
  std::vector<std::string> statements;
  for (int n = 0; n < 10000; ++n) statements.push_back(prefix + std::to_string(n));
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = classifier.classify(statements[i]);
    benchmark::DoNotOptimize(d);
    i = i + 1 == statements.size() ? 0 : i + 1;
  }
  const auto stats = classifier.cache_stats();
  state.counters["normalized_hit_rate"] =
      static_cast<double>(stats.normalized_hits) / static_cast<double>(stats.hits + stats.misses);
}
BENCHMARK(classify_join_normalized_hit);

// The same statements keyed by exact text only (before normalisation): every
// one is a miss, a parse and a walk (10,000 texts cycle through 4,096 entries).
void classify_pgbench_exact_only(benchmark::State& state) {
  const Classifier classifier;
  const auto statements = pgbench_statements(10000);
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = classifier.classify(statements[i]);
    benchmark::DoNotOptimize(d);
    i = i + 1 == statements.size() ? 0 : i + 1;
  }
}
BENCHMARK(classify_pgbench_exact_only);

// No cache: every call parses with libpg_query, walks the tree and takes the
// fingerprint of the same parse.
void classify_cold_parse(benchmark::State& state) {
  const Classifier classifier({.cache_capacity = 0});
  for (auto _ : state) {
    auto d = classifier.classify(kJoin);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(std::to_string(kJoin.size()) + " chars");
}
BENCHMARK(classify_cold_parse);

// The same without the audit fingerprint.
void classify_cold_parse_no_fingerprint(benchmark::State& state) {
  const Classifier classifier({.cache_capacity = 0, .fingerprints = false});
  for (auto _ : state) {
    auto d = classifier.classify(kJoin);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(std::to_string(kJoin.size()) + " chars");
}
BENCHMARK(classify_cold_parse_no_fingerprint);

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

// The normaliser alone on the join: what a normalised lookup adds.
void normalize_join(benchmark::State& state) {
  std::string key;
  std::vector<pgwarden::policy::detail::LiteralSpan> spans;
  for (auto _ : state) {
    const bool keyed = pgwarden::policy::detail::normalize_literals(kJoin, key, &spans);
    benchmark::DoNotOptimize(keyed);
    benchmark::DoNotOptimize(key.data());
  }
  state.SetLabel(std::to_string(kJoin.size()) + " chars");
}
BENCHMARK(normalize_join);

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

// The callgrind workload: N distinct pgbench statements, each classified once.
int run_pgbench_statements(std::size_t count, bool normalize) {
  const Classifier classifier({.normalize_literals = normalize});
  const auto statements = pgbench_statements(count);
  std::size_t allowed = 0;
  for (const auto& sql : statements) allowed += classifier.classify(sql).allowed() ? 1 : 0;
  const auto stats = classifier.cache_stats();
  std::printf("%zu statements, %zu allowed, %llu misses, %llu normalized hits\n", count, allowed,
              static_cast<unsigned long long>(stats.misses),
              static_cast<unsigned long long>(stats.normalized_hits));
  return allowed == count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr std::string_view kStatements = "--pgbench-statements=";
  if (argc >= 2 && std::string_view(argv[1]).starts_with(kStatements)) {
    const auto count = std::strtoull(argv[1] + kStatements.size(), nullptr, 10);
    const bool exact_only = argc >= 3 && std::string_view(argv[2]) == "--exact-only";
    return run_pgbench_statements(count, !exact_only);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
