// Table-driven classifier cases shared by the policy_*_test files: each case
// names the SQL, the verdict, the SQLSTATE and a fragment of the message.
#pragma once

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "policy/classifier.h"
#include "policy_literals.h"

namespace policy_test {

using pgwarden::policy::Classifier;
using pgwarden::policy::Decision;
using pgwarden::policy::Verdict;

struct Case {
  std::string_view sql;
  Verdict verdict;
  std::string_view sqlstate;  // "" when allowed
  std::string_view fragment;  // must appear in the message; "" when allowed
};

constexpr Case allow(std::string_view sql) {
  return {sql, Verdict::Allow, "", ""};
}
constexpr Case deny(std::string_view sql, std::string_view fragment,
                    std::string_view sqlstate = "42501") {
  return {sql, Verdict::Deny, sqlstate, fragment};
}

//! The SQL as a test log can show it: control and non-ASCII bytes escaped,
//! long text cut.
inline std::string printable(std::string_view sql) {
  std::string out;
  for (char c : sql.substr(0, 160)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(u));
      out += hex;
    }
  }
  if (sql.size() > 160) out += "... (" + std::to_string(sql.size()) + " bytes)";
  return out;
}

//! Checks one decision against its case.
inline void check_decision(const Case& k, const Decision& d) {
  BOOST_TEST_CONTEXT("sql: " << printable(k.sql)) {
    BOOST_TEST((d.verdict == k.verdict),
               "verdict " << (d.allowed() ? "Allow" : "Deny") << ", message: " << d.message);
    BOOST_TEST(d.sqlstate == k.sqlstate);
    if (k.verdict == Verdict::Allow) {
      BOOST_TEST(d.message.empty());
      BOOST_TEST(d.hint.empty());
    } else {
      BOOST_TEST(d.message.find(k.fragment) != std::string::npos,
                 "message \"" << d.message << "\" lacks \"" << k.fragment << "\"");
      BOOST_TEST(d.message.find("pgwarden:") == std::string::npos);
      BOOST_TEST(!d.clears_prepared_statements);
    }
  }
}

//! A decision as a test log can show it.
inline std::string describe(const Decision& d) {
  char fingerprint[24];
  std::snprintf(fingerprint, sizeof fingerprint, "%016llx",
                static_cast<unsigned long long>(d.fingerprint));
  return std::string(d.allowed() ? "Allow" : "Deny") + " " + d.sqlstate + " \"" + d.message +
         "\" statements " + std::to_string(d.statement_count) + " clears " +
         (d.clears_prepared_statements ? "yes" : "no") + " fingerprint " + fingerprint;
}

//! The differential check of the normalised cache: `sql` judged by a
//! normalising classifier, cold and after priming it with a variant whose
//! literals all differ (same normalised key), must get exactly `cold`, the
//! cache-less decision (message, fingerprint and all). Returns true when the
//! primed classifier answered from the variant's entry.
inline bool check_normalized(std::string_view sql, const Decision& cold,
                             const pgwarden::policy::FunctionRules& rules = {}) {
  bool shared = false;
  BOOST_TEST_CONTEXT("sql: " << printable(sql)) {
    const Classifier fresh({.normalize_literals = true}, rules);
    const Decision first = fresh.classify(sql);
    BOOST_TEST((first == cold), describe(first) << " != cold " << describe(cold));
    const Decision again = fresh.classify(sql);
    BOOST_TEST((again == cold), describe(again) << " != cold " << describe(cold));
    if (const auto variant = vary_literals(sql)) {
      BOOST_TEST_CONTEXT("variant: " << printable(*variant)) {
        const Classifier primed({.normalize_literals = true}, rules);
        primed.classify(*variant);
        const auto before = primed.cache_stats().normalized_hits;
        const Decision d = primed.classify(sql);
        shared = primed.cache_stats().normalized_hits > before;
        BOOST_TEST((d == cold), describe(d) << " != cold " << describe(cold)
                                            << (shared ? " (shared entry)" : ""));
      }
    }
  }
  return shared;
}

//! Runs every case through a cache-less classifier and through a caching
//! one twice (miss, then hit): all three must agree with the case. Then the
//! differential check of the normalised cache (check_normalized).
inline void check_cases(std::span<const Case> cases, pgwarden::policy::FunctionRules rules = {}) {
  const Classifier uncached({.cache_capacity = 0}, rules);
  const Classifier cached({}, rules);
  for (const Case& k : cases) {
    const Decision cold = uncached.classify(k.sql);
    check_decision(k, cold);
    check_decision(k, cached.classify(k.sql));
    check_decision(k, cached.classify(k.sql));
    check_normalized(k.sql, cold, rules);
  }
}

}  // namespace policy_test
