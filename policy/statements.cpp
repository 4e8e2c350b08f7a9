// Per-statement rules: which kinds of top-level statement may run, and how
// the ones that carry a query (EXPLAIN, DECLARE, COPY) are judged.
#include <string>
#include <string_view>

#include "policy/judge.h"

namespace pgwarden::policy::detail {
namespace {

Outcome judge_transaction(const boost::json::object& f, const JudgeContext& ctx) {
  const auto kind = string_field(f, "kind");
  if (kind == "TRANS_STMT_BEGIN")
    return judge_transaction_modes(list_field(f, "options"), "BEGIN", ctx);
  if (kind == "TRANS_STMT_START") {
    return judge_transaction_modes(list_field(f, "options"), "START TRANSACTION", ctx);
  }
  if (kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK" ||
      kind == "TRANS_STMT_SAVEPOINT" || kind == "TRANS_STMT_RELEASE" ||
      kind == "TRANS_STMT_ROLLBACK_TO") {
    return std::nullopt;
  }
  // Two-phase commit leaves a prepared transaction behind, holding locks.
  if (kind == "TRANS_STMT_PREPARE") return deny("PREPARE TRANSACTION is not allowed");
  if (kind == "TRANS_STMT_COMMIT_PREPARED") return deny("COMMIT PREPARED is not allowed");
  if (kind == "TRANS_STMT_ROLLBACK_PREPARED") return deny("ROLLBACK PREPARED is not allowed");
  return deny("transaction control statement " + std::string(kind) + " is not allowed");
}

Outcome judge_copy(const boost::json::object& f, const JudgeContext& ctx) {
  // psql's \copy ... to sends COPY ... TO STDOUT; anything else reads or
  // writes server files, runs programs or loads data.
  if (bool_field(f, "is_from")) return deny("COPY FROM is not allowed", "COPY FROM loads data");
  if (bool_field(f, "is_program")) return deny("COPY TO PROGRAM is not allowed");
  if (field(f, "filename") != nullptr) {
    return deny("COPY to a server file is not allowed", "use COPY ... TO STDOUT (psql's \\copy)");
  }
  if (const auto* query = field(f, "query")) {
    const Node n = as_node(*query);
    if (!n || n.type != "SelectStmt") {
      return deny("COPY of " + (n ? statement_name(n) : std::string("a statement")) +
                  " is not allowed");
    }
    return judge_query(*query, ctx);
  }
  if (object_field(f, "relation") == nullptr) return deny("COPY without a table is not allowed");
  return std::nullopt;
}

}  // namespace

Outcome judge_statement(const boost::json::value& stmt, const JudgeContext& ctx) {
  const Node n = as_node(stmt);
  if (!n) return deny("a statement pgwarden cannot read is not allowed");
  const auto t = n.type;
  const auto& f = *n.fields;

  if (t == "SelectStmt") return judge_query(stmt, ctx);
  if (t == "ExplainStmt") {
    // Judged by what it explains, whatever the options: EXPLAIN ANALYZE runs
    // it, and PostgreSQL 15 lets EXPLAIN ANALYZE CREATE TABLE AS create the
    // table even in a read-only transaction.
    const auto* inner = field(f, "query");
    if (inner == nullptr) return deny("EXPLAIN without a statement is not allowed");
    return judge_statement(*inner, ctx);
  }
  if (t == "DeclareCursorStmt") {
    const auto* query = field(f, "query");
    const Node q = query != nullptr ? as_node(*query) : Node{};
    if (!q || q.type != "SelectStmt") return deny("DECLARE CURSOR for a non-SELECT is not allowed");
    return judge_query(*query, ctx);
  }
  if (t == "CopyStmt") return judge_copy(f, ctx);
  if (t == "VariableSetStmt") return judge_variable_set(f, ctx);
  if (t == "TransactionStmt") return judge_transaction(f, ctx);
  // Safe only because pgwarden's own safety settings travel in the upstream
  // startup packet (RESET and DISCARD return to them) and it logs in upstream
  // as the configured role.
  if (t == "VariableShowStmt" || t == "FetchStmt" || t == "ClosePortalStmt" ||
      t == "DeallocateStmt" || t == "DiscardStmt" || t == "UnlistenStmt") {
    return std::nullopt;
  }
  return deny(statement_name(n) + " is not allowed");
}

}  // namespace pgwarden::policy::detail
