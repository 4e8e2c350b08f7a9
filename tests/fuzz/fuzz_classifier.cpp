// libFuzzer target for the statement classifier: any bytes in, a decision out,
// never a crash, leak or hang; decisions are consistent and cached ones equal
// fresh ones.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/classifier.h"

namespace {

using pgwarden::policy::Classifier;
using pgwarden::policy::Decision;
using pgwarden::policy::FunctionRules;

FunctionRules fuzz_rules() {
  FunctionRules rules;
  rules.allowed = {"f", "archive_old_payments"};
  rules.shadowing = {"lower"};
  return rules;
}

// Small cache: inputs keep evicting each other, exercising the LRU.
const Classifier& cached() {
  static const Classifier c({.cache_capacity = 64}, fuzz_rules());
  return c;
}

const Classifier& uncached() {
  static const Classifier c({.cache_capacity = 0}, fuzz_rules());
  return c;
}

void check(bool ok) {
  if (!ok) std::abort();
}

void check_consistent(const Decision& d) {
  if (d.allowed()) {
    check(d.sqlstate.empty() && d.message.empty() && d.hint.empty() && d.position == 0);
  } else {
    check(d.sqlstate.size() == 5 && !d.message.empty() && !d.clears_prepared_statements);
    check(d.position >= 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const Decision first = cached().classify(sql);
  check_consistent(first);
  check(cached().classify(sql) == first);  // hit (or evicted: judged again)
  check(uncached().classify(sql) == first);
  return 0;
}
