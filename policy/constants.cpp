// Matches the parse tree's A_Const nodes with the normaliser's literals (see
// constants.h). Walks the whole tree, not only what the judge looked at: a
// denial stops the judge early, and the literals of every statement count.
#include "policy/constants.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "policy/json_tree.h"

namespace pgwarden::policy::detail {

bool constants_match_literals(const boost::json::value& root,
                              std::span<const LiteralSpan> literals) {
  std::vector<std::int64_t> locations;
  locations.reserve(literals.size());
  std::vector<const boost::json::value*> stack{&root};
  while (!stack.empty()) {
    const boost::json::value* v = stack.back();
    stack.pop_back();
    if (const auto* arr = v->if_array()) {
      for (const auto& item : *arr) {
        if (item.is_structured()) stack.push_back(&item);
      }
      continue;
    }
    const auto* obj = v->if_object();
    if (obj == nullptr) continue;
    if (const Node n = as_node(*v); n && n.type == "A_Const") {
      const auto& f = *n.fields;
      if (bool_field(f, "isnull") || field(f, "boolval") != nullptr) continue;
      // A missing location is 0, as libpg_query omits zeros.
      locations.push_back(int_field(f, "location"));
      if (locations.size() > literals.size()) return false;
      continue;
    }
    for (const auto& kv : *obj) {
      if (kv.value().is_structured()) stack.push_back(&kv.value());
    }
  }
  if (locations.size() != literals.size()) return false;

  // Literals come in text order, so their offsets are sorted; a minus sign
  // lies before its literal and after the previous one.
  std::sort(locations.begin(), locations.end());
  std::vector<bool> used(literals.size(), false);
  for (const std::int64_t at : locations) {
    const auto it = std::lower_bound(literals.begin(), literals.end(), at,
                                     [](const LiteralSpan& l, std::int64_t x) {
                                       return static_cast<std::int64_t>(l.offset) < x;
                                     });
    std::size_t k = static_cast<std::size_t>(it - literals.begin());
    bool found = it != literals.end() && static_cast<std::int64_t>(it->offset) == at;
    if (!found && it != literals.end() && it->minus == at) found = true;
    if (!found || used[k]) return false;
    used[k] = true;
  }
  return true;
}

}  // namespace pgwarden::policy::detail
