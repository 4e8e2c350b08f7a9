// Function rules: the deny list, built-in versus customer functions, and the
// hand-off of set_config() to the setting rules.
#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "policy/judge.h"

namespace pgwarden::policy {
namespace {

constexpr std::string_view kBuiltins[] = {
#include "policy/builtin_functions.inc"
};
static_assert(std::is_sorted(std::begin(kBuiltins), std::end(kBuiltins)),
              "builtin_functions.inc must be sorted bytewise (COLLATE \"C\")");

//! A deny-list entry: an exact name, or a prefix (`name*`), and why.
struct DenyRule {
  std::string_view pattern;
  std::string_view why;
};

constexpr std::string_view kSignals = "it signals or controls other sessions or the server";
constexpr std::string_view kFiles = "it reads or writes the server's files";
constexpr std::string_view kLocks =
    "it takes an advisory lock, which outlives the statement on a pooled server connection";
constexpr std::string_view kWal = "it controls WAL, backups or replication";
constexpr std::string_view kHiddenSql = "it runs SQL passed as text, which pgwarden cannot check";
constexpr std::string_view kWrites = "it writes to the database";

// Matched against the last part of the name, lower-case, wherever the call
// appears. The unlock functions (pg_advisory_unlock*) stay allowed: asyncpg's
// connection reset calls pg_advisory_unlock_all().
constexpr DenyRule kDenied[] = {
    {"pg_sleep*", "it holds a pooled server connection while doing nothing"},
    {"pg_terminate_backend", kSignals},
    {"pg_cancel_backend", kSignals},
    {"pg_reload_conf", kSignals},
    {"pg_rotate_logfile*", kSignals},
    {"pg_log_backend_memory_contexts", kSignals},
    {"pg_promote", kWal},
    {"nextval", "it advances a sequence"},
    {"setval", "it changes a sequence"},
    {"lo_*", "large-object functions write the database or the server's files"},
    {"lowrite", "large-object functions write the database or the server's files"},
    {"loread", "large-object functions write the database or the server's files"},
    {"pg_read_file*", kFiles},
    {"pg_read_binary_file*", kFiles},
    {"pg_ls_*", kFiles},
    {"pg_stat_file", kFiles},
    {"pg_file_*", kFiles},  // adminpack: pg_file_write, _rename, _unlink, _sync
    {"pg_logdir_ls", kFiles},
    {"dblink*", "it runs SQL over another connection, which pgwarden cannot check"},
    {"pg_advisory_lock*", kLocks},
    {"pg_advisory_xact_lock*", kLocks},
    {"pg_try_advisory_*", kLocks},
    {"pg_notify", "it sends a notification to other sessions"},
    {"txid_current", "it assigns a transaction id, which is a write"},
    {"pg_current_xact_id", "it assigns a transaction id, which is a write"},
    {"pg_switch_wal", kWal},
    {"pg_switch_xlog", kWal},
    {"pg_create_*", kWal},  // restore points and replication slots
    {"pg_drop_replication_slot", kWal},
    {"pg_copy_*", kWal},  // pg_copy_{physical,logical}_replication_slot
    {"pg_replication_slot_advance", kWal},
    {"pg_logical_*", kWal},  // slot changes, pg_logical_emit_message
    {"pg_replication_origin_*", kWal},
    {"pg_backup_*", kWal},
    {"pg_start_backup", kWal},
    {"pg_stop_backup", kWal},
    {"pg_wal_replay_*", kWal},
    {"pg_xlog_replay_*", kWal},
    {"pg_stat_reset*", "it resets the server's statistics"},
    {"pg_stat_statements_reset", "it resets the server's statistics"},
    {"pg_import_system_collations", kWrites},
    {"brin_summarize*", kWrites},
    {"brin_desummarize_range", kWrites},
    {"gin_clean_pending_list", kWrites},
    {"binary_upgrade_*", kWrites},
    {"pg_nextoid", kWrites},
    {"query_to_xml*", kHiddenSql},
    {"ts_stat", kHiddenSql},
    {"ts_rewrite", kHiddenSql},
};

const DenyRule* deny_rule(std::string_view name) {
  for (const auto& rule : kDenied) {
    const auto p = rule.pattern;
    if (p.back() == '*') {
      if (name.substr(0, p.size() - 1) == p.substr(0, p.size() - 1)) return &rule;
    } else if (name == p) {
      return &rule;
    }
  }
  return nullptr;
}

}  // namespace

bool is_builtin_function(std::string_view name) {
  return std::binary_search(std::begin(kBuiltins), std::end(kBuiltins), name);
}

namespace {

// information_schema's own helpers (PostgreSQL 15's information_schema.sql):
// core, read-only SQL functions that drivers' metadata queries call, e.g.
// pgjdbc's getPrimaryKeys uses _pg_expandarray. Sorted for binary search.
constexpr std::string_view kInformationSchemaFunctions[] = {
    "_pg_char_max_length",    "_pg_char_octet_length",
    "_pg_datetime_precision", "_pg_expandarray",
    "_pg_index_position",     "_pg_interval_type",
    "_pg_numeric_precision",  "_pg_numeric_precision_radix",
    "_pg_numeric_scale",      "_pg_truetypid",
    "_pg_truetypmod"};

bool is_information_schema_function(std::string_view name) {
  return std::binary_search(std::begin(kInformationSchemaFunctions),
                            std::end(kInformationSchemaFunctions), name);
}

}  // namespace

namespace detail {

Outcome judge_function_call(const boost::json::object& call, const JudgeContext& ctx) {
  const auto& name_list = list_field(call, "funcname");
  std::vector<std::string_view> parts;
  for (const auto& item : name_list) {
    const auto part = string_node(item);
    if (!part) return deny("a function call with an unusual name is not allowed");
    parts.push_back(*part);
  }
  if (parts.empty()) return deny("a function call without a name is not allowed");

  // Names arrive case-folded and with U&"..." escapes decoded; quoting,
  // qualification (db.pg_catalog.f) and named arguments do not matter here.
  const std::string name = lower(parts.back());
  if (const DenyRule* rule = deny_rule(name)) {
    return deny("function " + name + "() is not allowed",
                "pgwarden refuses " + name + "() because " + std::string(rule->why));
  }

  const bool unqualified = parts.size() == 1;
  if (!unqualified && lower(parts[parts.size() - 2]) == "information_schema" &&
      is_information_schema_function(name)) {
    return std::nullopt;
  }
  const bool in_pg_catalog = unqualified || lower(parts[parts.size() - 2]) == "pg_catalog";
  if (in_pg_catalog && is_builtin_function(name)) {
    if (name == "set_config") return judge_set_config(call, ctx);
    // A customer overload of a built-in name may win an unqualified call.
    if (!(unqualified && ctx.rules.shadowing.contains(name) && !ctx.rules.allowed.contains(name))) {
      return std::nullopt;
    }
  } else if (ctx.rules.allowed.contains(name)) {
    return std::nullopt;
  }
  return deny("customer function " + name + "() is not known to be read-only",
              "if " + name +
                  "() only reads data, list it in allow_functions in the connection's "
                  "configuration, or declare it STABLE or IMMUTABLE in the database");
}

}  // namespace detail
}  // namespace pgwarden::policy
