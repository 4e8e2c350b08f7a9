// Reads a customer database's schema with four catalog queries (relations,
// columns, keys, functions) and assembles the schema document.
#include "catalog/introspect.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <unordered_map>

namespace pgwarden::catalog {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// The same filter in every query: user relations in non-system schemas,
// partitions excluded.
#define PGW_USER_RELATION                                           \
  "c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition" \
  " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"      \
  " AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'"

constexpr const char* kRelations =
    "SELECT c.oid::int8, n.nspname, c.relname, c.relkind, obj_description(c.oid, 'pg_class'),"
    " c.reltuples::float8,"
    " has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')"
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE " PGW_USER_RELATION " ORDER BY n.nspname, c.relname";

constexpr const char* kColumns =
    "SELECT a.attrelid::int8, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),"
    " NOT a.attnotnull, col_description(a.attrelid, a.attnum)"
    " FROM pg_catalog.pg_attribute a"
    " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND " PGW_USER_RELATION
    " ORDER BY a.attrelid, a.attnum";

// Key columns come as JSON arrays in key order (names may hold any character,
// which PostgreSQL's array text format would quote). conparentid = 0 skips the
// per-partition copies PostgreSQL makes of a constraint.
constexpr const char* kKeys =
    "SELECT con.conrelid::int8, con.contype, con.conname,"
    " (SELECT json_agg(a.attname ORDER BY k.ord)"
    "    FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)"
    "    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = "
    "k.attnum)::text,"
    " fn.nspname, fc.relname,"
    " (SELECT json_agg(a.attname ORDER BY k.ord)"
    "    FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)"
    "    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = "
    "k.attnum)::text"
    " FROM pg_catalog.pg_constraint con"
    " JOIN pg_catalog.pg_class c ON c.oid = con.conrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid"
    " LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace"
    " WHERE con.contype IN ('p', 'f') AND con.conparentid = 0 AND " PGW_USER_RELATION
    " ORDER BY con.conrelid, con.conname";

constexpr const char* kFunctions =
    "SELECT n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid),"
    " pg_catalog.pg_get_function_result(p.oid), p.provolatile, p.prokind, e.extname"
    " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
    " LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass"
    "   AND d.objid = p.oid AND d.deptype = 'e'"
    " LEFT JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid"
    " WHERE p.prokind IN ('f', 'a', 'w')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'"
    " ORDER BY n.nspname, p.proname, 3";

#undef PGW_USER_RELATION

double millis_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

json::value nullable_text(const PGresult* r, int row, int column) {
  if (pq::is_null(r, row, column)) return nullptr;
  return json::string(pq::text(r, row, column));
}

std::string_view relation_kind(std::string_view relkind) {
  if (relkind == "r") return "table";
  if (relkind == "p") return "partitioned_table";
  if (relkind == "v") return "view";
  if (relkind == "m") return "materialized_view";
  return "foreign_table";
}

json::array name_array(const std::string& json_text) {
  if (json_text.empty()) return {};
  json::error_code ec;
  json::value parsed = json::parse(json_text, ec);
  if (ec || !parsed.is_array()) return {};
  return parsed.as_array();
}

// Runs one query of the pass; on failure records why in `result`.
pq::Result run(PGconn* conn, const char* sql, ProbeResult& result) {
  pq::Result r(PQexec(conn, sql));
  const auto status = PQresultStatus(r.get());
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return r;
  result.query_error = pq::primary_message(r.get());
  result.sqlstate = pq::sqlstate(r.get());
  if (result.query_error.empty()) result.failure = ConnectFailure::Other;
  return nullptr;
}

json::array read_functions(const PGresult* r) {
  json::array functions;
  for (int row = 0; row < PQntuples(r); ++row) {
    const std::string volatility = pq::text(r, row, 4);
    const std::string kind = pq::text(r, row, 5);
    json::object f;
    f["schema"] = pq::text(r, row, 0);
    f["name"] = pq::text(r, row, 1);
    f["arguments"] = pq::text(r, row, 2);
    f["result"] = pq::text(r, row, 3);
    f["volatility"] = volatility == "i" ? "immutable" : volatility == "s" ? "stable" : "volatile";
    f["kind"] = kind == "a" ? "aggregate" : kind == "w" ? "window" : "function";
    f["extension"] = nullable_text(r, row, 6);
    functions.push_back(std::move(f));
  }
  return functions;
}

}  // namespace

SchemaResult introspect_connection(PGconn* conn, UnixMillis now) {
  const auto start = Clock::now();
  SchemaResult result;
  // One snapshot for the four queries: a table dropped in between cannot
  // leave columns without their table.
  if (!run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", result)) return result;
  pq::Result relations = run(conn, kRelations, result);
  pq::Result columns = relations ? run(conn, kColumns, result) : nullptr;
  pq::Result keys = columns ? run(conn, kKeys, result) : nullptr;
  pq::Result functions = keys ? run(conn, kFunctions, result) : nullptr;
  if (!functions) return result;
  pq::Result ignored(PQexec(conn, "ROLLBACK"));

  json::array tables;
  std::unordered_map<std::string, std::size_t> by_oid;  // oid text -> index in tables
  const PGresult* r = relations.get();
  tables.reserve(static_cast<std::size_t>(PQntuples(r)));
  for (int row = 0; row < PQntuples(r); ++row) {
    const std::string relkind = pq::text(r, row, 3);
    json::object t;
    t["schema"] = pq::text(r, row, 1);
    t["name"] = pq::text(r, row, 2);
    t["kind"] = relation_kind(relkind);
    t["description"] = nullable_text(r, row, 4);
    t["selectable"] = pq::text(r, row, 6) == "t";
    const double reltuples = std::stod(pq::text(r, row, 5));
    // -1: never vacuumed or analysed (PostgreSQL 14+); views have no rows.
    if (reltuples < 0 || relkind == "v") {
      t["row_count_estimate"] = nullptr;
    } else {
      t["row_count_estimate"] = static_cast<std::int64_t>(reltuples + 0.5);
    }
    t["columns"] = json::array();
    t["primary_key"] = json::array();
    t["foreign_keys"] = json::array();
    by_oid.emplace(pq::text(r, row, 0), tables.size());
    tables.push_back(std::move(t));
  }

  r = columns.get();
  for (int row = 0; row < PQntuples(r); ++row) {
    auto it = by_oid.find(pq::text(r, row, 0));
    if (it == by_oid.end()) continue;
    json::object c;
    c["name"] = pq::text(r, row, 1);
    c["type"] = pq::text(r, row, 2);
    c["nullable"] = pq::text(r, row, 3) == "t";
    c["description"] = nullable_text(r, row, 4);
    tables[it->second].as_object()["columns"].as_array().push_back(std::move(c));
  }

  r = keys.get();
  for (int row = 0; row < PQntuples(r); ++row) {
    auto it = by_oid.find(pq::text(r, row, 0));
    if (it == by_oid.end()) continue;
    json::object& table = tables[it->second].as_object();
    if (pq::text(r, row, 1) == "p") {
      table["primary_key"] = name_array(pq::text(r, row, 3));
      continue;
    }
    json::object fk;
    fk["name"] = pq::text(r, row, 2);
    fk["columns"] = name_array(pq::text(r, row, 3));
    fk["references"] = json::object{{"schema", pq::text(r, row, 4)},
                                    {"table", pq::text(r, row, 5)},
                                    {"columns", name_array(pq::text(r, row, 6))}};
    table["foreign_keys"].as_array().push_back(std::move(fk));
  }

  json::array function_list = read_functions(functions.get());
  json::object& schema = result.schema;
  schema["table_count"] = tables.size();
  schema["function_count"] = function_list.size();
  schema["tables"] = std::move(tables);
  schema["functions"] = std::move(function_list);
  schema["database"] = PQdb(conn);
  const char* version = PQparameterStatus(conn, "server_version");
  schema["server_version"] = version != nullptr ? version : "";
  schema["introspected_at"] = format_timestamp(now);
  schema["elapsed_ms"] = millis_since(start);
  result.ok = true;
  result.elapsed_ms = millis_since(start);
  return result;
}

SchemaResult introspect_schema(const ConnInfo& info, UnixMillis now,
                               const pq::ConnectOptions& options) {
  const auto start = Clock::now();
  SchemaResult result;
  pq::Conn conn = pq::connect(info, options);
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    result.failure = pq::classify(conn.get());
  } else {
    result = introspect_connection(conn.get(), now);
  }
  result.elapsed_ms = millis_since(start);
  return result;
}

json::object schema_page(const json::object& schema, std::size_t offset, std::size_t limit) {
  static const json::array kEmpty;
  const json::value* tables_value = schema.if_contains("tables");
  const json::array& tables =
      tables_value != nullptr && tables_value->is_array() ? tables_value->as_array() : kEmpty;
  limit = std::clamp<std::size_t>(limit, 1, kMaxPageLimit);
  const std::size_t begin = std::min(offset, tables.size());
  const std::size_t end = std::min(tables.size(), begin + limit);

  json::object page;
  page["tables"] = json::array(tables.begin() + static_cast<std::ptrdiff_t>(begin),
                               tables.begin() + static_cast<std::ptrdiff_t>(end));
  page["offset"] = offset;
  page["limit"] = limit;
  page["total"] = tables.size();
  if (end < tables.size()) {
    page["next_offset"] = end;
  } else {
    page["next_offset"] = nullptr;
  }
  for (const char* key : {"introspected_at", "database", "server_version"}) {
    if (const json::value* v = schema.if_contains(key)) page[key] = *v;
  }
  if (offset == 0) {
    if (const json::value* functions = schema.if_contains("functions")) {
      page["functions"] = *functions;
    }
  }
  return page;
}

FunctionFacts function_facts(const json::object& schema) {
  std::set<std::string> read_only;
  std::set<std::string> volatile_names;
  const json::value* functions = schema.if_contains("functions");
  if (functions == nullptr || !functions->is_array()) return {};
  for (const json::value& f : functions->as_array()) {
    const json::object* o = f.if_object();
    if (o == nullptr) continue;
    const json::value* name = o->if_contains("name");
    const json::value* volatility = o->if_contains("volatility");
    if (name == nullptr || !name->is_string() || volatility == nullptr) continue;
    const std::string n(name->as_string());
    if (volatility->is_string() && volatility->as_string() != "volatile") {
      read_only.insert(n);
    } else {
      volatile_names.insert(n);
    }
  }
  FunctionFacts facts;
  for (const std::string& n : read_only) {
    if (!volatile_names.contains(n)) facts.read_only.push_back(n);
  }
  facts.volatile_names.assign(volatile_names.begin(), volatile_names.end());
  return facts;
}

UnixMillis introspected_at(const json::object& schema) {
  const json::value* v = schema.if_contains("introspected_at");
  if (v == nullptr || !v->is_string()) return 0;
  std::tm tm{};
  int millis = 0;
  const std::string text(v->as_string());
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<UnixMillis>(timegm(&tm)) * 1000 + millis;
}

}  // namespace pgwarden::catalog
