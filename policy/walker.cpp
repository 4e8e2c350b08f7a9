// The query walker: visits every node of a SELECT tree iteratively (trees can
// be thousands of levels deep) and refuses what a read-only query must not do.
#include <string>
#include <vector>

#include "policy/judge.h"

namespace pgwarden::policy::detail {
namespace {

std::string locking_name(const boost::json::array& clauses) {
  std::string_view strength;
  if (!clauses.empty()) {
    if (const Node n = as_node(clauses.front())) strength = string_field(*n.fields, "strength");
  }
  if (strength == "LCS_FORKEYSHARE") return "FOR KEY SHARE";
  if (strength == "LCS_FORSHARE") return "FOR SHARE";
  if (strength == "LCS_FORNOKEYUPDATE") return "FOR NO KEY UPDATE";
  return "FOR UPDATE";
}

Outcome judge_node(const Node& n, const JudgeContext& ctx) {
  if (n.type == "FuncCall") return judge_function_call(*n.fields, ctx);
  if (n.type == "SelectStmt") return std::nullopt;
  if (n.type == "InsertStmt" || n.type == "UpdateStmt" || n.type == "DeleteStmt" ||
      n.type == "MergeStmt") {
    return deny(statement_name(n) + " in a WITH query is not allowed",
                "data-modifying WITH queries write, whatever the outer SELECT does");
  }
  // No other statement belongs inside a query: refuse rather than guess.
  if (n.type.size() > 4 && n.type.substr(n.type.size() - 4) == "Stmt") {
    return deny(statement_name(n) + " is not allowed");
  }
  return std::nullopt;
}

}  // namespace

Outcome judge_query(const boost::json::value& query, const JudgeContext& ctx) {
  struct Item {
    const boost::json::value* value;
    std::size_t depth;
  };
  std::vector<Item> stack;
  stack.reserve(64);
  stack.push_back({&query, 0});
  while (!stack.empty()) {
    const Item item = stack.back();
    stack.pop_back();
    const boost::json::value& v = *item.value;

    if (const auto* arr = v.if_array()) {
      for (auto it = arr->rbegin(); it != arr->rend(); ++it) {
        if (it->is_structured()) stack.push_back({&*it, item.depth});
      }
      continue;
    }
    const auto* obj = v.if_object();
    if (obj == nullptr) continue;

    if (const Node n = as_node(v)) {
      if (auto denial = judge_node(n, ctx)) return denial;
      stack.push_back({&obj->begin()->value(), item.depth});
      continue;
    }

    // A node's fields, or a struct-typed field that is not wrapped (larg,
    // rarg, withClause, intoClause...): checked by field name, so a SELECT
    // INTO in a set-operation arm is seen as well as one at the top.
    const std::size_t depth = item.depth + 1;
    if (depth > ctx.max_depth) {
      return Denial{
          sqlstate::kProgramLimitExceeded,
          "statement is nested too deeply (more than " + std::to_string(ctx.max_depth) + " levels)",
          {}};
    }
    for (auto it = obj->end(); it != obj->begin();) {
      --it;
      const auto key = std::string_view(it->key());
      if (key == "intoClause") {
        return deny("SELECT INTO is not allowed", "SELECT INTO creates a table");
      }
      if (key == "lockingClause") {
        const auto* clauses = it->value().if_array();
        return deny("SELECT " + locking_name(clauses != nullptr ? *clauses : boost::json::array{}) +
                        " is not allowed",
                    "row locks are writes; remove the locking clause");
      }
      if (it->value().is_structured()) stack.push_back({&it->value(), depth});
    }
  }
  return std::nullopt;
}

}  // namespace pgwarden::policy::detail
