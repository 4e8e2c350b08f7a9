// libFuzzer target for the literal normaliser: whenever it gives a text a key,
// its literals are exactly the constant tokens of libpg_query's own scanner
// (pg_query_scan), a variant with every literal changed has the same key, and
// a normalising classifier primed with that variant decides the text exactly
// as a cache-less one does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "policy/classifier.h"
#include "policy/normalize.h"
#include "tests/unit/policy_literals.h"

namespace {

using pgwarden::fuzz::check;
using pgwarden::policy::Classifier;
using pgwarden::policy::Decision;
using pgwarden::policy::FunctionRules;

FunctionRules fuzz_rules() {
  FunctionRules rules;
  rules.allowed = {"f", "archive_old_payments"};
  rules.shadowing = {"lower"};
  return rules;
}

// One cache for every input: an entry one input shares must hold for every
// later text with its key, not only for its own variant.
const Classifier& normalising() {
  static const Classifier c({.cache_capacity = 4096, .normalize_literals = true}, fuzz_rules());
  return c;
}

const Classifier& uncached() {
  static const Classifier c({.cache_capacity = 0}, fuzz_rules());
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  std::string key;
  std::vector<pgwarden::policy::detail::LiteralSpan> spans;
  if (!pgwarden::policy::detail::normalize_literals(sql, key, &spans)) return 0;
  check(key.size() <= sql.size() + spans.size(), "a key is never much longer than its text");

  // The scanner stops at a NUL, which the normaliser refuses; it reports an
  // error for what no literal can fix (a zero-length "" identifier): then
  // only the decisions below are compared.
  if (const auto scanned = policy_test::scan_literals(sql)) {
    check(policy_test::as_scanned(spans) == *scanned,
          "literal spans equal the scanner's constants");
  }

  const Decision cold = uncached().classify(sql);
  if (const auto variant = policy_test::vary_literals(sql)) {
    std::string variant_key;
    if (pgwarden::policy::detail::normalize_literals(*variant, variant_key) && variant_key == key) {
      normalising().classify(*variant);
    }
  }
  check(normalising().classify(sql) == cold, "a normalised-cache decision equals a fresh one");
  return 0;
}
