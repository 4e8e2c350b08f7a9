// The literal normaliser and the normalised decision cache: keys, what gets
// no key, literal spans equal to libpg_query's scanner, which decisions are
// shared across literal values and which are not, and the fingerprint taken
// from the same parse.
#define BOOST_TEST_MODULE policy_normalize
#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "policy/normalize.h"
#include "policy_cases.h"
#include "policy_literals.h"

using namespace std::string_view_literals;
using pgwarden::policy::detail::LiteralSpan;
using pgwarden::policy::detail::normalize_literals;
using policy_test::Classifier;
using policy_test::Decision;
using policy_test::printable;

namespace {

std::string key_of(std::string_view sql) {
  std::string key;
  if (!normalize_literals(sql, key)) return "<none>";
  for (auto& c : key) {
    if (c == pgwarden::policy::detail::kLiteralMark) c = '?';
  }
  return key;
}

// Texts whose literals the normaliser must find exactly as the scanner does.
constexpr std::string_view kLexed[] = {
    "SELECT abalance FROM pgbench_accounts WHERE aid = 88123;",
    "SELECT 1, 1.5, .5, 1., 1e5, 1.e5, 1E-5, 2147483647, 2147483648, 00000000002147483647",
    "SELECT 'a', 'it''s', E'x\\'y', e'\\\\', E'a''b', B'101', b'', X'1F', x'', N'n', n'x'",
    "SELECT $$a$$, $tag$ $$ $ta $tag$, $a$$b$ $b$ $a$, $_1$x$_1$",
    "SELECT $1, $2::int, a$b, \"q\"\"uote\" FROM t WHERE x = -5 AND y - 3 > - 2.5",
    "SELECT 1 -- comment 'x'\n, /* c /* nested */ 'y' */ 2",
    "SELECT 'a'/**/, 'b'--x\n",
    "SELECT x::text, y[1:2], z .. 5, t.5, 1+-2, 3--4\n",
    "SELECT 'é', \"ü\", ü FROM t",
    "SELECT interval '30 days', DATE '2024-01-01', 'x'::varchar(10)",
    "SELECT 1;SELECT 2;;",
};

// Texts with no key: what the normaliser cannot lex with certainty.
constexpr std::string_view kNoKey[] = {
    "SELECT 'unterminated",
    "SELECT E'unterminated\\'",
    "SELECT \"unterminated",
    "SELECT $$unterminated",
    "SELECT $a$ $b$",
    "SELECT /* unterminated /* */",
    "SELECT U&'\\0041'",
    "SELECT U&\"\\0041\"",
    "SELECT u&'x'",
    "SELECT 'a\\b'",      // backslash in a plain string
    "SELECT E'\\101'",    // octal escape
    "SELECT E'\\x41'",    // hex escape
    "SELECT E'\\u0041'",  // Unicode escape
    "SELECT 'a'\n'b'",    // continued string
    "SELECT 'a' 'b'",     //
    "SELECT B'1''0'",     //
    "SELECT 1..10",       // decimalfail
    "SELECT 1e",          // junk after a number
    "SELECT 1e+",         //
    "SELECT 1abc",        //
    "SELECT 1.2.3",       //
    "SELECT 1$",          //
    "SELECT $1abc",       // param_junk
    "SELECT $1$",         //
    "SELECT $",           //
    "SELECT :var",        // psql variables
    "SELECT :'var'",      //
    "SELECT :\"var\"",    //
    "\\d t",              // psql meta-command
    "SELECT 1\v",         // \v is not a space to PostgreSQL 15
    "SELECT 'a\0b'"sv,    // NUL
    "SELECT 1\x01",       // control byte
    "SELECT '\xc3\x28'",  // invalid UTF-8 in a literal
    "SELECT \xff",        // invalid UTF-8 outside
};

}  // namespace

// Proves the key keeps identifiers, keywords and operators byte for byte,
// turns literals into kind-tagged marks and whitespace and comments into one
// space.
BOOST_AUTO_TEST_CASE(keys) {
  BOOST_TEST(key_of("SELECT abalance FROM pgbench_accounts WHERE aid = 88123;") ==
             "SELECT abalance FROM pgbench_accounts WHERE aid = ?i;");
  BOOST_TEST(key_of("  SELECT\t\"A\"  /* x */ FROM t --y\n WHERE a=-1.5  ") ==
             "SELECT \"A\" FROM t WHERE a=-?n");
  BOOST_TEST(key_of("select 'x', E'y', $$z$$, B'1', X'f', 2147483648") ==
             "select ?s, ?s, ?s, ?b, ?x, ?n");
  BOOST_TEST(key_of("SELECT N'x', $1") == "SELECT N?s, $1");
  BOOST_TEST(key_of("") == "");
  BOOST_TEST(key_of("-- only a comment") == "");
  // Different shapes never share a key.
  BOOST_TEST(key_of("SELECT 1") != key_of("SELECT '1'"));
  BOOST_TEST(key_of("SELECT 1") != key_of("SELECT 1.0"));
  BOOST_TEST(key_of("SELECT x'1'") != key_of("SELECT x '1'"));
  BOOST_TEST(key_of("SELECT \"A\"") != key_of("SELECT \"a\""));
  BOOST_TEST(key_of("SELECT a+ -1") != key_of("SELECT a+-1"));
}

// Proves every text the normaliser keys has exactly the scanner's constant
// tokens as its literals.
BOOST_AUTO_TEST_CASE(spans_match_the_scanner) {
  for (const auto sql : kLexed) {
    BOOST_TEST_CONTEXT("sql: " << printable(sql)) {
      std::string key;
      std::vector<LiteralSpan> spans;
      BOOST_TEST_REQUIRE(normalize_literals(sql, key, &spans));
      const auto scanned = policy_test::scan_literals(sql);
      BOOST_TEST_REQUIRE(scanned.has_value());
      const auto mine = policy_test::as_scanned(spans);
      BOOST_TEST(mine.size() == scanned->size());
      for (std::size_t i = 0; i < std::min(mine.size(), scanned->size()); ++i) {
        BOOST_TEST_CONTEXT("literal " << i) {
          BOOST_TEST(mine[i].start == (*scanned)[i].start);
          BOOST_TEST(mine[i].end == (*scanned)[i].end);
          BOOST_TEST(mine[i].kind == (*scanned)[i].kind);
        }
      }
    }
  }
}

// Proves what the normaliser cannot lex with certainty gets no key.
BOOST_AUTO_TEST_CASE(refusals) {
  for (const auto sql : kNoKey) {
    BOOST_TEST_CONTEXT("sql: " << printable(sql)) {
      std::string key;
      BOOST_TEST(!normalize_literals(sql, key));
    }
  }
}

// Proves the pgbench -M simple statement is judged once for all its values,
// with the fingerprint of each, while a normalising classifier still answers
// repeated text by exact text.
BOOST_AUTO_TEST_CASE(pgbench_statements_share_one_entry) {
  const Classifier c({.normalize_literals = true});
  const Classifier cold({.cache_capacity = 0});
  for (int aid = 1; aid <= 100; ++aid) {
    const std::string sql =
        "SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(aid * 7919) + ";";
    BOOST_TEST((c.classify(sql) == cold.classify(sql)));
  }
  const auto stats = c.cache_stats();
  BOOST_TEST(stats.misses == 1u);
  BOOST_TEST(stats.hits == 99u);
  BOOST_TEST(stats.normalized_hits == 99u);
  BOOST_TEST(stats.size == 2u);  // the shared entry, and the first text's own

  // A repeated text is found by its exact text, before any normalising.
  const std::string first = "SELECT abalance FROM pgbench_accounts WHERE aid = 7919;";
  BOOST_TEST((c.classify(first) == cold.classify(first)));
  BOOST_TEST(c.cache_stats().hits == 100u);
  BOOST_TEST(c.cache_stats().normalized_hits == 99u);
}

// Proves decisions that read a constant, and texts whose literals did not all
// become constants of the tree, are not shared: each text is judged itself.
BOOST_AUTO_TEST_CASE(literal_dependent_decisions_are_not_shared) {
  struct Pair {
    std::string_view first;
    std::string_view second;
  };
  constexpr Pair kPairs[] = {
      {"SET standard_conforming_strings = 'on'", "SET standard_conforming_strings = 'off'"},
      {"SET application_name = 'a'", "SET application_name = 'b'"},
      {"SET search_path = 'public'", "SET search_path = 'public, pg_catalog'"},
      {"SET client_encoding = 'UTF8'", "SET client_encoding = 'LATIN1'"},
      {"SELECT set_config('jit', 'off', false)", "SELECT set_config('role', 'off', false)"},
      {"SELECT set_config('jit', $1, false)", "SELECT set_config('work_mem', $1, false)"},
      {"FETCH 5 FROM c", "FETCH 6 FROM c"},                          // not an A_Const
      {"SELECT x::float(24) FROM t", "SELECT x::float(99) FROM t"},  // decides the type
      {"COPY t TO '/tmp/a'", "COPY t TO '/tmp/b'"},                  // a file name
      {"SELECT interval '1' day", "SELECT interval '2' day"},        // a constant from DAY
      {"SELECT - - 5", "SELECT - - 6"},                              // sign two tokens away
  };
  for (const auto& p : kPairs) {
    BOOST_TEST_CONTEXT("sql: " << p.first << " / " << p.second) {
      BOOST_TEST(key_of(p.first) == key_of(p.second));
      const Classifier c({.normalize_literals = true});
      c.classify(p.first);
      const Decision d = c.classify(p.second);
      BOOST_TEST(c.cache_stats().normalized_hits == 0u);
      BOOST_TEST((d == Classifier({.cache_capacity = 0}).classify(p.second)));
    }
  }
}

// Proves ordinary queries with literals of every kind, negative numbers,
// casts and typed literals are shared.
BOOST_AUTO_TEST_CASE(literal_free_decisions_are_shared) {
  constexpr std::string_view kShared[] = {
      "SELECT abalance FROM pgbench_accounts WHERE aid = 1",
      "SELECT * FROM t WHERE a = -1 AND b > - 2.5 AND c = 'x' AND d = E'y' AND e = $$z$$",
      "SELECT B'1', X'f', 2147483648, 1e5, 'a'::text, DATE '2024-01-01', interval '30 days'",
      "SELECT x FROM t ORDER BY 1 LIMIT 10 OFFSET 5",
      "SELECT pg_sleep(5)",  // denied for every value
      "DELETE FROM t WHERE id = 5",
      "SELECT 1; SELECT 'two'",
      "SELECT * FROM t WHERE x IN (1, 2, 3) AND y::varchar(10) = 'a'",
  };
  for (const auto sql : kShared) {
    const Decision cold = Classifier({.cache_capacity = 0}).classify(sql);
    BOOST_TEST(policy_test::check_normalized(sql, cold), "not shared: " << sql);
  }
}

// Proves the fingerprint taken from the classifier's own parse equals
// pg_query_fingerprint of the text (and that the same parse's JSON is what
// pg_query_parse gives: the decisions of every case table are unchanged).
BOOST_AUTO_TEST_CASE(fingerprint_from_the_same_parse) {
  const Classifier c({.cache_capacity = 0});
  for (const auto sql : kLexed) {
    const std::string text(sql);
    PgQueryFingerprintResult expected = pg_query_fingerprint(text.c_str());
    BOOST_TEST_CONTEXT("sql: " << printable(sql)) {
      const Decision d = c.classify(sql);
      BOOST_TEST(d.fingerprint == (expected.error == nullptr ? expected.fingerprint : 0u));
      BOOST_TEST((d.fingerprint != 0u) == (expected.error == nullptr));
    }
    pg_query_free_fingerprint_result(expected);
  }
  BOOST_TEST(c.classify("SELEC 1").fingerprint == 0u);
  BOOST_TEST(c.classify("").fingerprint == 0u);
}

// Proves a normalising classifier gives every thread the cache-less decision
// while texts of one shape race to create the shared entry, literal-dependent
// texts of one key alternate, and the function rules flip underneath.
BOOST_AUTO_TEST_CASE(concurrent_normalised_classify) {
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) {
    texts.push_back("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(i));
    texts.push_back(i % 2 == 0 ? "SET application_name = 'a" + std::to_string(i) + "'"
                               : "SET standard_conforming_strings = 'of" + std::to_string(i) + "'");
    texts.push_back("SELECT f(" + std::to_string(i) + ")");
  }
  const Classifier reference({.cache_capacity = 0});
  std::vector<Decision> expected;
  for (const auto& sql : texts) expected.push_back(reference.classify(sql));

  pgwarden::policy::FunctionRules allow_fn;
  allow_fn.allowed = {"f"};
  Classifier c({.cache_capacity = 16, .normalize_literals = true});  // small: evictions
  std::atomic<bool> stop{false};
  std::atomic<int> mismatches{0};
  std::thread flipper([&] {
    for (int i = 0; !stop.load(); ++i) {
      c.set_function_rules(i % 2 == 0 ? allow_fn : pgwarden::policy::FunctionRules{});
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i) {
        const std::size_t k = static_cast<std::size_t>(i * 7 + t) % texts.size();
        const Decision d = c.classify(texts[k]);
        if (texts[k].starts_with("SELECT f(")) {
          if (!d.allowed() && d.message != "customer function f() is not known to be read-only") {
            ++mismatches;
          }
        } else if (!(d == expected[k])) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  flipper.join();
  BOOST_TEST(mismatches.load() == 0);
  c.set_function_rules(allow_fn);
  BOOST_TEST(c.classify("SELECT f(12345)").allowed());
  BOOST_TEST(c.cache_stats().normalized_hits > 0u);
}
