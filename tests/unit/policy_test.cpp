// Classifier behaviour around the rules: text refused before parsing (NUL,
// invalid UTF-8, size), syntax errors and their positions, depth limits,
// statement counts, the decision cache, rule changes and concurrency.
#define BOOST_TEST_MODULE policy
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "policy_cases.h"

using namespace std::string_view_literals;
using pgwarden::policy::ClassifierOptions;
using pgwarden::policy::FunctionRules;
using policy_test::allow;
using policy_test::Case;
using policy_test::check_cases;
using policy_test::Classifier;
using policy_test::Decision;
using policy_test::deny;

namespace {

std::string sum_of_ones(std::size_t terms) {
  std::string sql = "SELECT 1";
  for (std::size_t i = 1; i < terms; ++i) sql += "+1";
  return sql;
}

}  // namespace

// Proves NUL bytes and every kind of invalid UTF-8 are refused before the
// parser sees them (it would stop at a NUL and copy bad bytes through).
BOOST_AUTO_TEST_CASE(nul_and_invalid_utf8) {
  static constexpr Case kCases[] = {
      deny("SELECT 1\0; DROP TABLE t"sv, "\"UTF8\": 0x00", "22021"),
      deny("\0"sv, "0x00", "22021"),
      deny("SELECT 1\0"sv, "0x00", "22021"),
      deny("SELECT '\0'; DELETE FROM t"sv, "0x00", "22021"),
      deny("SELECT '\xc0\xaf'", "0xc0 0xaf", "22021"),
      deny("SELECT '\xc1\xbf'", "0xc1 0xbf", "22021"),
      deny("SELECT '\xe0\x80\xaf'", "0xe0 0x80 0xaf", "22021"),
      deny("SELECT '\xf0\x80\x80\xaf'", "0xf0 0x80 0x80 0xaf", "22021"),
      deny("SELECT '\xed\xa0\x80'", "0xed 0xa0 0x80", "22021"),
      deny("SELECT '\xed\xbf\xbf'", "0xed 0xbf 0xbf", "22021"),
      deny("SELECT '\xf4\x90\x80\x80'", "0xf4 0x90 0x80 0x80", "22021"),
      deny("SELECT '\xf5\x80\x80\x80'", "0xf5", "22021"),
      deny("SELECT '\xff'", "0xff", "22021"),
      deny("SELECT '\x80'", "0x80", "22021"),
      deny("SELECT '\xc3\x28'", "0xc3 0x28", "22021"),
      deny("SELECT 1 -- \xc3", "0xc3", "22021"),
      deny("SELECT '\xe2\x82", "0xe2 0x82", "22021"),
      deny("SELECT \"\xc0\x80\"()", "0xc0 0x80", "22021"),
      allow("SELECT 'é', '€', '𝄞', 'ü', 'ﬃ'"),
      allow("SELECT '\xf4\x8f\xbf\xbf', '\xef\xbf\xbf', '\xed\x9f\xbf'"),
      allow("SELECT \"naïve\" FROM \"tâble\""),
      deny("SELECT U&'\\0000'", "invalid Unicode escape value", "42601"),
  };
  check_cases(kCases);
}

// Proves empty and comment-only text is zero statements and allowed (pgjdbc
// validates connections with an empty query), and comments nest.
BOOST_AUTO_TEST_CASE(zero_statements_and_comments) {
  static constexpr Case kCases[] = {
      allow(""),
      allow(";"),
      allow(";;;"),
      allow("  \n\t "),
      allow("-- only a comment"),
      allow("/* */"),
      allow("/* /* nested */ DELETE FROM t */"),
      allow("/* /* nested */ DELETE FROM t */ SELECT 1"),
      allow("SELECT 1 /* ; DROP TABLE t */"),
      deny("/* unterminated", "unterminated /* comment", "42601"),
      deny("/* /* nested once */ DELETE FROM t", "unterminated /* comment", "42601"),
      deny("/* /* */ */ DELETE FROM t", "DELETE is not allowed"),
  };
  check_cases(kCases);
  const Classifier c;
  BOOST_TEST(c.classify("").statement_count == 0u);
  BOOST_TEST(c.classify("-- x").statement_count == 0u);
  BOOST_TEST(c.classify("SELECT 1").statement_count == 1u);
  BOOST_TEST(c.classify("BEGIN; SELECT 1; COMMIT;").statement_count == 3u);
  BOOST_TEST(c.classify("SELECT 1; DELETE FROM t").statement_count == 2u);
}

// Proves parse errors carry the parser's message and its 1-based character
// (not byte) position.
BOOST_AUTO_TEST_CASE(syntax_errors_with_positions) {
  struct PositionCase {
    std::string_view sql;
    std::string_view message;
    int position;
  };
  static constexpr PositionCase kCases[] = {
      {"SELEC 1", "syntax error at or near \"SELEC\"", 1},
      {"SELECT 1 FROM WHERE", "syntax error at or near \"WHERE\"", 15},
      {"SELECT 'é' FRM x", "syntax error at or near \"x\"", 16},
      {"SELECT '€€' FRM x", "syntax error at or near \"x\"", 17},
      {"SELECT (1", "syntax error at end of input", 10},
      {"DELETE FROM", "syntax error at end of input", 12},
      {"SELECT 1; DELET FROM t", "syntax error at or near \"DELET\"", 11},
  };
  const Classifier c;
  for (const auto& k : kCases) {
    BOOST_TEST_CONTEXT("sql: " << k.sql) {
      const Decision d = c.classify(k.sql);
      BOOST_TEST(!d.allowed());
      BOOST_TEST(d.sqlstate == "42601");
      BOOST_TEST(d.message == k.message);
      BOOST_TEST(d.position == k.position);
      BOOST_TEST(d.statement_count == 0u);
    }
  }
  BOOST_TEST(c.classify("DELETE FROM t").position == 0);
}

// Proves text over max_query_bytes is refused with 54000 before parsing, and
// text at the limit is judged.
BOOST_AUTO_TEST_CASE(text_size_limit) {
  const Classifier c({.max_query_bytes = 100});
  const std::string at_limit = "SELECT 1" + std::string(92, ' ');
  BOOST_TEST(c.classify(at_limit).allowed());
  const Decision d = c.classify(at_limit + " ");
  BOOST_TEST(!d.allowed());
  BOOST_TEST(d.sqlstate == "54000");
  BOOST_TEST(d.message == "statement text is too large (101 bytes; the limit is 100)");
  const Classifier default_limit;
  BOOST_TEST(default_limit.classify(std::string(1 << 20, ' ')).allowed());
  BOOST_TEST(default_limit.classify(std::string((1 << 20) + 1, ' ')).sqlstate == "54000");
}

// Proves deep trees are walked (a 1,000-term sum passes) and trees past the
// limit are refused with 54000, never a crash: a 100,000-term sum would
// overflow libpg_query's recursive JSON writer on an ordinary stack.
BOOST_AUTO_TEST_CASE(depth_limit) {
  const Classifier c;
  BOOST_TEST(c.classify(sum_of_ones(1000)).allowed());
  BOOST_TEST(c.classify(sum_of_ones(4000)).allowed());
  for (std::size_t terms : {6000u, 20000u, 100000u}) {
    BOOST_TEST_CONTEXT("terms: " << terms) {
      const Decision d = c.classify(sum_of_ones(terms));
      BOOST_TEST(!d.allowed());
      BOOST_TEST(d.sqlstate == "54000");
      BOOST_TEST(d.message.find("nested too deeply") != std::string::npos, d.message);
    }
  }
  // 300,000 terms (600 KB): parsed on the helper thread, refused.
  BOOST_TEST(c.classify(sum_of_ones(300000)).sqlstate == "54000");

  const Classifier shallow({.max_depth = 50});
  BOOST_TEST(shallow.classify(sum_of_ones(10)).allowed());
  BOOST_TEST(shallow.classify(sum_of_ones(100)).sqlstate == "54000");

  // Deep subqueries with a denied call at the bottom: the walk reaches it.
  std::string nested = "SELECT pg_sleep(1)";
  for (int i = 0; i < 100; ++i) nested = "SELECT (" + nested + ")";
  BOOST_TEST(c.classify(nested).message == "function pg_sleep() is not allowed");

  // Parentheses add no tree levels; the grammar's own stack limit is a
  // syntax error.
  BOOST_TEST(
      c.classify("SELECT " + std::string(5000, '(') + "1" + std::string(5000, ')')).allowed());
  const Decision parens =
      c.classify("SELECT " + std::string(20000, '(') + "1" + std::string(20000, ')'));
  BOOST_TEST(parens.sqlstate == "42601");
}

// Proves text longer than the inline-parse size (parsed on a helper thread)
// is judged like any other.
BOOST_AUTO_TEST_CASE(long_text) {
  std::string sql = "SELECT 1";
  for (int i = 0; i < 20000; ++i) sql += ", 1";
  const Classifier c;
  BOOST_TEST(c.classify(sql).allowed());
  BOOST_TEST(c.classify(sql + ", pg_sleep(1)").message == "function pg_sleep() is not allowed");
  BOOST_TEST(c.classify(sql + "; DELETE FROM t").message == "DELETE is not allowed");
  BOOST_TEST(c.classify(sql + " FRM t").sqlstate == "42601");
}

// Proves clears_prepared_statements is set for allowed text containing
// DEALLOCATE ALL or DISCARD ALL, and only then.
BOOST_AUTO_TEST_CASE(clears_prepared_statements) {
  const Classifier c;
  BOOST_TEST(c.classify("DEALLOCATE ALL").clears_prepared_statements);
  BOOST_TEST(c.classify("DEALLOCATE PREPARE ALL").clears_prepared_statements);
  BOOST_TEST(c.classify("DISCARD ALL").clears_prepared_statements);
  BOOST_TEST(c.classify("SELECT 1; DISCARD ALL; SELECT 2").clears_prepared_statements);
  BOOST_TEST(!c.classify("DEALLOCATE p").clears_prepared_statements);
  BOOST_TEST(!c.classify("DISCARD PLANS").clears_prepared_statements);
  BOOST_TEST(!c.classify("SELECT 'DISCARD ALL'").clears_prepared_statements);
  BOOST_TEST(!c.classify("DISCARD ALL; DELETE FROM t").clears_prepared_statements);
}

// Proves a repeated text is a cache hit with an identical decision, that the
// cache is bounded, and that a disabled cache changes nothing but the stats.
BOOST_AUTO_TEST_CASE(cache_hits_are_identical) {
  const Classifier c;
  const std::string_view texts[] = {"SELECT 1", "DELETE FROM t", "SELEC 1",
                                    "SELECT 1\0; DROP TABLE t"sv, "SET statement_timeout = 0"};
  for (const auto sql : texts) {
    const auto before = c.cache_stats();
    const Decision first = c.classify(sql);
    const Decision second = c.classify(sql);
    const auto after = c.cache_stats();
    BOOST_TEST_CONTEXT("sql: " << policy_test::printable(sql)) {
      BOOST_TEST((first == second));
      BOOST_TEST(after.misses == before.misses + 1);
      BOOST_TEST(after.hits == before.hits + 1);
    }
  }
  BOOST_TEST(c.cache_stats().size == std::size(texts));

  const Classifier small({.cache_capacity = 2});
  small.classify("SELECT 1");
  small.classify("SELECT 2");
  small.classify("SELECT 3");
  BOOST_TEST(small.cache_stats().size == 2u);
  small.classify("SELECT 1");  // evicted: a miss again
  BOOST_TEST(small.cache_stats().hits == 0u);
  BOOST_TEST(small.cache_stats().misses == 4u);
  small.classify("SELECT 1");
  BOOST_TEST(small.cache_stats().hits == 1u);

  const Classifier none({.cache_capacity = 0});
  BOOST_TEST((none.classify("DELETE FROM t") == c.classify("DELETE FROM t")));
  BOOST_TEST(none.cache_stats().size == 0u);
  BOOST_TEST(none.cache_stats().hits == 0u);

  // Long text is judged every time and never cached.
  const std::string long_text = "SELECT 1" + std::string(20000, ' ');
  const auto size_before = c.cache_stats().size;
  BOOST_TEST(c.classify(long_text).allowed());
  BOOST_TEST(c.cache_stats().size == size_before);
}

// Proves set_function_rules applies to the next classify even for a text
// whose earlier decision was cached, and empties the cache.
BOOST_AUTO_TEST_CASE(set_function_rules_invalidates) {
  Classifier c;
  const std::string_view sql = "SELECT archive_old_payments()";
  BOOST_TEST(!c.classify(sql).allowed());
  BOOST_TEST(!c.classify(sql).allowed());
  BOOST_TEST(c.cache_stats().size == 1u);

  FunctionRules rules;
  rules.allowed = {"ARCHIVE_OLD_PAYMENTS"};
  c.set_function_rules(rules);
  BOOST_TEST(c.cache_stats().size == 0u);
  BOOST_TEST(c.classify(sql).allowed());
  BOOST_TEST(c.classify(sql).allowed());

  c.set_function_rules({});
  BOOST_TEST(!c.classify(sql).allowed());
  BOOST_TEST(c.classify("SELECT public.archive_old_payments()").message ==
             "customer function archive_old_payments() is not known to be read-only");
}

// Proves concurrent classify calls (as from several event-loop threads) give
// the same decisions as a single thread, while the rules change underneath a
// rule-dependent text.
BOOST_AUTO_TEST_CASE(concurrent_classify) {
  const std::string_view texts[] = {
      "SELECT 1",
      "DELETE FROM t",
      "SELECT pg_sleep(1)",
      "SELEC 1",
      "BEGIN READ ONLY",
      "SET jit = off",
      "SELECT a INTO t FROM x UNION SELECT 1",
      "SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new"};
  const Classifier reference({.cache_capacity = 0});
  std::vector<Decision> expected;
  for (const auto sql : texts) expected.push_back(reference.classify(sql));

  FunctionRules allow_fn;
  allow_fn.allowed = {"f"};
  Classifier c({.cache_capacity = 4});  // small: evictions under contention
  std::atomic<bool> stop{false};
  std::atomic<int> mismatches{0};
  std::thread flipper([&] {
    for (int i = 0; !stop.load(); ++i)
      c.set_function_rules(i % 2 == 0 ? allow_fn : FunctionRules{});
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i) {
        const std::size_t k = static_cast<std::size_t>(i + t) % std::size(texts);
        if (!(c.classify(texts[k]) == expected[k])) ++mismatches;
        const Decision f = c.classify("SELECT f()");
        const bool valid =
            f.allowed() || f.message == "customer function f() is not known to be read-only";
        if (!valid) ++mismatches;
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  flipper.join();
  BOOST_TEST(mismatches.load() == 0);
  c.set_function_rules(allow_fn);
  BOOST_TEST(c.classify("SELECT f()").allowed());
}

// Proves every seed of the fuzz corpus gets a consistent decision, the same
// from a cache hit as from a fresh parse, in ordinary (non-fuzz) builds too.
BOOST_AUTO_TEST_CASE(fuzz_seed_corpus) {
  const Classifier cached;
  const Classifier uncached({.cache_capacity = 0});
  std::size_t seeds = 0;
  std::size_t allowed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(PGWARDEN_CLASSIFIER_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const std::string sql = text.str();
    BOOST_TEST_CONTEXT("seed: " << entry.path().filename()) {
      const Decision d = cached.classify(sql);
      BOOST_TEST((cached.classify(sql) == d));
      BOOST_TEST((uncached.classify(sql) == d));
      BOOST_TEST(d.allowed() == d.sqlstate.empty());
      BOOST_TEST(d.allowed() == d.message.empty());
    }
    ++seeds;
    allowed += cached.classify(sql).allowed() ? 1 : 0;
  }
  BOOST_TEST(seeds >= 30u);
  BOOST_TEST(allowed > 0u);
  BOOST_TEST(allowed < seeds);
}
