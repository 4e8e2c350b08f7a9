// Schema introspection of a customer database for the agent (tables, columns,
// keys, comments, size estimates) and for the query guard (function
// volatility): one catalog query per kind of fact, in one read-only snapshot.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <string>
#include <vector>

#include "catalog/probe.h"
#include "catalog/store.h"

namespace pgwarden::catalog {

// The schema document (what schema_cache holds), sorted by schema then name
// (bytewise, as PostgreSQL's "C" collation of `name`), columns in table order:
//
// {
//   "tables": [{
//     "schema": "public", "name": "loans",
//     "kind": "table" | "view" | "materialized_view" | "partitioned_table" | "foreign_table",
//     "description": "One row per loan disbursed." | null,      -- COMMENT ON TABLE
//     "selectable": true,        -- the login role has USAGE on the schema and SELECT
//     "row_count_estimate": 2000 | null,   -- pg_class.reltuples; null: never analysed, or a view
//     "columns": [{"name": "loan_id", "type": "integer",        -- format_type()
//                  "nullable": false, "description": "..." | null}],
//     "primary_key": ["loan_id"],                                -- [] when none
//     "foreign_keys": [{"name": "loans_borrower_id_fkey", "columns": ["borrower_id"],
//                       "references": {"schema": "public", "table": "borrowers",
//                                      "columns": ["borrower_id"]}}]
//   }],
//   "functions": [{"schema": "public", "name": "f", "arguments": "x integer",
//                  "result": "integer", "volatility": "immutable" | "stable" | "volatile",
//                  "kind": "function" | "aggregate" | "window", "extension": "pgcrypto" | null}],
//   "table_count": 3, "function_count": 0,
//   "database": "analytics", "server_version": "15.4",
//   "introspected_at": "2024-05-01T12:00:00.000Z", "elapsed_ms": 12.5
// }
//
// Non-system schemas are all but pg_catalog, information_schema, pg_toast*
// and pg_temp_*. Partitions are left out (their parent is listed).

struct SchemaResult : ProbeResult {
  boost::json::object schema;  //!< the document above, when ok
};

//! Connects (5 s), reads the schema in one REPEATABLE READ READ ONLY
//! transaction (30 s per statement) and disconnects. `now` stamps
//! introspected_at.
SchemaResult introspect_schema(const ConnInfo& info, UnixMillis now = now_millis(),
                               const pq::ConnectOptions& options = {});

//! Same on an open connection.
SchemaResult introspect_connection(PGconn* conn, UnixMillis now);

inline constexpr std::size_t kDefaultPageLimit = 100;
inline constexpr std::size_t kMaxPageLimit = 1000;

//! One page of tables: {"tables": [...], "offset", "limit", "total",
//! "next_offset": n | null, "introspected_at"}, plus "functions" on the first
//! page (offset 0), where the guard and the agent look for them.
boost::json::object schema_page(const boost::json::object& schema, std::size_t offset,
                                std::size_t limit = kDefaultPageLimit);

//! Function facts for the query guard (policy::FunctionRules): unqualified
//! names, as the guard matches calls. A name is read-only only when every
//! overload of it is IMMUTABLE or STABLE (the guard cannot tell which overload
//! a call resolves to); a name with any VOLATILE overload is volatile. Sorted,
//! without duplicates.
struct FunctionFacts {
  std::vector<std::string> read_only;
  std::vector<std::string> volatile_names;
};
FunctionFacts function_facts(const boost::json::object& schema);

//! introspected_at of a schema document as UnixMillis; 0 if absent or bad.
UnixMillis introspected_at(const boost::json::object& schema);

}  // namespace pgwarden::catalog
