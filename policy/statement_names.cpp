// Names of statement kinds as a user writes them ("DELETE", "CREATE TABLE"),
// for the messages of denied statements.
#include <string>
#include <string_view>
#include <utility>

#include "policy/judge.h"

namespace pgwarden::policy::detail {
namespace {

// Parse-tree node type -> statement name, where splitting the type name
// ("CreateForeignTableStmt" -> "CREATE FOREIGN TABLE") would read wrong.
constexpr std::pair<std::string_view, std::string_view> kNames[] = {
    {"InsertStmt", "INSERT"},
    {"UpdateStmt", "UPDATE"},
    {"DeleteStmt", "DELETE"},
    {"MergeStmt", "MERGE"},
    {"SelectStmt", "SELECT"},
    {"CreateStmt", "CREATE TABLE"},
    {"IndexStmt", "CREATE INDEX"},
    {"ViewStmt", "CREATE VIEW"},
    {"RuleStmt", "CREATE RULE"},
    {"CreatedbStmt", "CREATE DATABASE"},
    {"DropdbStmt", "DROP DATABASE"},
    {"CreateSeqStmt", "CREATE SEQUENCE"},
    {"AlterSeqStmt", "ALTER SEQUENCE"},
    {"CreateTrigStmt", "CREATE TRIGGER"},
    {"CreateEventTrigStmt", "CREATE EVENT TRIGGER"},
    {"AlterEventTrigStmt", "ALTER EVENT TRIGGER"},
    {"CreatePLangStmt", "CREATE LANGUAGE"},
    {"CreateFdwStmt", "CREATE FOREIGN DATA WRAPPER"},
    {"AlterFdwStmt", "ALTER FOREIGN DATA WRAPPER"},
    {"CreateForeignServerStmt", "CREATE SERVER"},
    {"AlterForeignServerStmt", "ALTER SERVER"},
    {"CreateAmStmt", "CREATE ACCESS METHOD"},
    {"CreateOpClassStmt", "CREATE OPERATOR CLASS"},
    {"CreateOpFamilyStmt", "CREATE OPERATOR FAMILY"},
    {"AlterOpFamilyStmt", "ALTER OPERATOR FAMILY"},
    {"CompositeTypeStmt", "CREATE TYPE"},
    {"CreateEnumStmt", "CREATE TYPE"},
    {"CreateRangeStmt", "CREATE TYPE"},
    {"AlterEnumStmt", "ALTER TYPE"},
    {"CreateStatsStmt", "CREATE STATISTICS"},
    {"AlterStatsStmt", "ALTER STATISTICS"},
    {"AlterTSDictionaryStmt", "ALTER TEXT SEARCH DICTIONARY"},
    {"AlterTSConfigurationStmt", "ALTER TEXT SEARCH CONFIGURATION"},
    {"AlterDatabaseSetStmt", "ALTER DATABASE"},
    {"AlterDatabaseRefreshCollStmt", "ALTER DATABASE"},
    {"AlterRoleSetStmt", "ALTER ROLE"},
    {"AlterTableMoveAllStmt", "ALTER TABLE"},
    {"CreateTableSpaceStmt", "CREATE TABLESPACE"},
    {"DropTableSpaceStmt", "DROP TABLESPACE"},
    {"AlterTableSpaceOptionsStmt", "ALTER TABLESPACE"},
    {"AlterExtensionContentsStmt", "ALTER EXTENSION"},
    {"AlterObjectDependsStmt", "ALTER ... DEPENDS ON EXTENSION"},
    {"CommentStmt", "COMMENT ON"},
    {"SecLabelStmt", "SECURITY LABEL"},
    {"CheckPointStmt", "CHECKPOINT"},
    {"ConstraintsSetStmt", "SET CONSTRAINTS"},
    {"DeclareCursorStmt", "DECLARE CURSOR"},
    {"ClosePortalStmt", "CLOSE"},
    {"VariableSetStmt", "SET"},
    {"VariableShowStmt", "SHOW"},
    {"RefreshMatViewStmt", "REFRESH MATERIALIZED VIEW"},
    {"ReturnStmt", "RETURN"},
    {"PLAssignStmt", "assignment"},
};

// ObjectType enum -> SQL object name, where "OBJECT_X_Y" -> "X Y" reads wrong.
constexpr std::pair<std::string_view, std::string_view> kObjects[] = {
    {"OBJECT_MATVIEW", "MATERIALIZED VIEW"},
    {"OBJECT_FDW", "FOREIGN DATA WRAPPER"},
    {"OBJECT_FOREIGN_SERVER", "SERVER"},
    {"OBJECT_TSCONFIGURATION", "TEXT SEARCH CONFIGURATION"},
    {"OBJECT_TSDICTIONARY", "TEXT SEARCH DICTIONARY"},
    {"OBJECT_TSPARSER", "TEXT SEARCH PARSER"},
    {"OBJECT_TSTEMPLATE", "TEXT SEARCH TEMPLATE"},
    {"OBJECT_OPCLASS", "OPERATOR CLASS"},
    {"OBJECT_OPFAMILY", "OPERATOR FAMILY"},
    {"OBJECT_LARGEOBJECT", "LARGE OBJECT"},
    {"OBJECT_TABCONSTRAINT", "CONSTRAINT"},
    {"OBJECT_DOMCONSTRAINT", "CONSTRAINT"},
    {"OBJECT_STATISTIC_EXT", "STATISTICS"},
    {"OBJECT_DEFACL", "DEFAULT PRIVILEGES"},
    {"OBJECT_PUBLICATION_NAMESPACE", "PUBLICATION"},
    {"OBJECT_PUBLICATION_REL", "PUBLICATION"},
};

std::string object_name(std::string_view object_type) {
  for (const auto& [key, name] : kObjects) {
    if (key == object_type) return std::string(name);
  }
  if (object_type.substr(0, 7) != "OBJECT_") return "OBJECT";
  std::string out(object_type.substr(7));
  for (auto& c : out) {
    if (c == '_') c = ' ';
  }
  return out;
}

//! "CreateForeignTableStmt" -> "CREATE FOREIGN TABLE".
std::string split_type_name(std::string_view type) {
  if (type.size() > 4 && type.substr(type.size() - 4) == "Stmt") type.remove_suffix(4);
  std::string out;
  for (std::size_t i = 0; i < type.size(); ++i) {
    const char c = type[i];
    if (c >= 'A' && c <= 'Z') {
      if (i > 0) out += ' ';
      out += c;
    } else if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string statement_name(const Node& stmt) {
  const auto& f = *stmt.fields;
  const auto t = stmt.type;
  if (t == "DropStmt") return "DROP " + object_name(string_field(f, "removeType"));
  if (t == "AlterTableStmt") return "ALTER " + object_name(string_field(f, "objtype"));
  if (t == "RenameStmt") return "ALTER " + object_name(string_field(f, "renameType"));
  if (t == "AlterObjectSchemaStmt" || t == "AlterOwnerStmt") {
    return "ALTER " + object_name(string_field(f, "objectType"));
  }
  if (t == "AlterFunctionStmt") return "ALTER " + object_name(string_field(f, "objtype"));
  if (t == "DefineStmt") return "CREATE " + object_name(string_field(f, "kind"));
  if (t == "CreateFunctionStmt") {
    return bool_field(f, "is_procedure") ? "CREATE PROCEDURE" : "CREATE FUNCTION";
  }
  if (t == "CreateTableAsStmt") {
    if (bool_field(f, "is_select_into")) return "SELECT INTO";
    return string_field(f, "objtype") == "OBJECT_MATVIEW" ? "CREATE MATERIALIZED VIEW"
                                                          : "CREATE TABLE AS";
  }
  if (t == "GrantStmt" || t == "GrantRoleStmt")
    return bool_field(f, "is_grant") ? "GRANT" : "REVOKE";
  if (t == "VacuumStmt") return bool_field(f, "is_vacuumcmd") ? "VACUUM" : "ANALYZE";
  if (t == "CreateRoleStmt") {
    const auto kind = string_field(f, "stmt_type");
    return kind == "ROLESTMT_USER"    ? "CREATE USER"
           : kind == "ROLESTMT_GROUP" ? "CREATE GROUP"
                                      : "CREATE ROLE";
  }
  if (t == "TransactionStmt") {
    const auto kind = string_field(f, "kind");
    if (kind == "TRANS_STMT_PREPARE") return "PREPARE TRANSACTION";
    if (kind == "TRANS_STMT_COMMIT_PREPARED") return "COMMIT PREPARED";
    if (kind == "TRANS_STMT_ROLLBACK_PREPARED") return "ROLLBACK PREPARED";
    return "transaction control";
  }
  for (const auto& [key, name] : kNames) {
    if (key == t) return std::string(name);
  }
  return split_type_name(t);
}

}  // namespace pgwarden::policy::detail
