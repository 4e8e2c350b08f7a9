// The real session set-up, validation, introspection and reset traffic of
// psql, asyncpg, psycopg, node-pg and pgjdbc must keep working through the
// classifier.
#define BOOST_TEST_MODULE policy_drivers
#include <iterator>
#include <string_view>

#include "policy_cases.h"

using policy_test::allow;
using policy_test::Case;
using policy_test::check_cases;
using policy_test::Classifier;
using policy_test::deny;

namespace {

constexpr std::string_view kCapturedSql[] = {
#include "policy_driver_sql.inc"
#include "policy_psql_sql.inc"
};

}  // namespace

// Proves psql's backslash-command catalog queries, asyncpg's type
// introspection and psycopg's type-info queries, copied from the clients
// themselves, are allowed, and that the normalised cache decides each of them
// as a cold parse does (check_normalized).
BOOST_AUTO_TEST_CASE(captured_catalog_queries) {
  BOOST_TEST(std::size(kCapturedSql) >= 40u);
  const Classifier classifier;
  for (const auto sql : kCapturedSql) {
    BOOST_TEST_CONTEXT("sql: " << policy_test::printable(sql)) {
      const auto d = classifier.classify(sql);
      BOOST_TEST(d.allowed(), d.message);
      BOOST_TEST(d.statement_count == 1u);
      policy_test::check_normalized(sql, Classifier({.cache_capacity = 0}).classify(sql));
    }
  }
}

// Proves asyncpg's connection set-up, transactions, cursors, jit dance and
// pool reset are allowed.
BOOST_AUTO_TEST_CASE(asyncpg_traffic) {
  static constexpr Case kCases[] = {
      allow("SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new"),
      allow("SELECT set_config('jit', $1, false)"),
      allow("SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;"),
      allow("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY;"),
      allow("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY DEFERRABLE;"),
      allow("BEGIN;"),
      allow("COMMIT;"),
      allow("ROLLBACK;"),
      allow("SAVEPOINT asyncpg_1;"),
      allow("RELEASE SAVEPOINT asyncpg_1;"),
      allow("ROLLBACK TO asyncpg_1;"),
      allow("SELECT $1::mood, $2::int4range"),
      allow("SELECT generate_series(1,3)"),
      deny("BEGIN ISOLATION LEVEL SERIALIZABLE;\nUPDATE t SET a = 1;", "UPDATE"),
  };
  check_cases(kCases);
  const Classifier classifier;
  const auto reset =
      classifier.classify("SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;");
  BOOST_TEST(reset.statement_count == 4u);
}

// Proves psycopg 3's transaction starts (BEGIN with its isolation and
// read-only options), server-side cursors and housekeeping are allowed.
BOOST_AUTO_TEST_CASE(psycopg_traffic) {
  static constexpr Case kCases[] = {
      allow("BEGIN"),
      allow("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
      allow("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE"),
      allow("BEGIN READ ONLY NOT DEFERRABLE"),
      allow("SELECT $1::int"),
      allow("DECLARE \"srv\" CURSOR FOR SELECT generate_series(1,10)"),
      allow("DECLARE \"c1\" NO SCROLL CURSOR WITHOUT HOLD FOR SELECT * FROM t"),
      allow("FETCH FORWARD 3 FROM \"srv\""),
      allow("MOVE 2 FROM \"srv\""),
      allow("MOVE ABSOLUTE 2 FROM \"srv\""),
      allow("CLOSE \"srv\""),
      allow("SELECT 1 FROM pg_catalog.pg_cursors WHERE name = 'srv'"),
      allow("SELECT gid, prepared, owner, database FROM pg_prepared_xacts"),
      allow("SET DATESTYLE TO 'ISO'"),
      allow("SHOW default_transaction_isolation"),
      deny("BEGIN READ WRITE", "BEGIN READ WRITE"),
      deny("BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE DEFERRABLE", "BEGIN READ WRITE"),
  };
  check_cases(kCases);
}

// Proves pgjdbc's start-up, validation (the empty query), metadata,
// read-only and autosave traffic is allowed.
BOOST_AUTO_TEST_CASE(pgjdbc_traffic) {
  static constexpr Case kCases[] = {
      allow(""),
      allow("SET extra_float_digits = 3"),
      allow("SET application_name = 'PostgreSQL JDBC Driver'"),
      allow("SELECT 1"),
      allow("SHOW TRANSACTION ISOLATION LEVEL"),
      allow("BEGIN"),
      allow("COMMIT"),
      allow("ROLLBACK"),
      allow("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
      allow("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"),
      allow("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
      allow("BEGIN READ ONLY"),
      allow("SAVEPOINT PGJDBC_AUTOSAVE"),
      allow("RELEASE SAVEPOINT PGJDBC_AUTOSAVE"),
      allow("ROLLBACK TO SAVEPOINT PGJDBC_AUTOSAVE"),
      allow("DEALLOCATE ALL"),
      allow("DISCARD ALL"),
      allow("select current_schema()"),
      allow("SELECT pg_catalog.version()"),
      allow("SELECT t.oid, n.nspname = ANY(current_schemas(true)), n.nspname, t.typname "
            "FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
            "LEFT JOIN (SELECT s.r, (current_schemas(false))[r] AS nspname "
            "FROM generate_series(1, array_upper(current_schemas(false), 1)) AS s (r)) AS sp "
            "USING (nspname) WHERE t.typname = $1 ORDER BY sp.r, t.oid DESC LIMIT 1"),
      allow("SELECT typinput='pg_catalog.array_in'::regproc AS is_array, typtype, typname, "
            "pg_type.oid FROM pg_catalog.pg_type WHERE typname = $1"),
      deny("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "READ WRITE"),
  };
  check_cases(kCases);
}

// Proves node-postgres's ordinary traffic is allowed.
BOOST_AUTO_TEST_CASE(node_pg_traffic) {
  static constexpr Case kCases[] = {
      allow("SELECT NOW()"),
      allow("SELECT $1::text as name"),
      allow("SELECT * FROM payments WHERE id = $1 AND amount > $2"),
      allow("BEGIN"),
      allow("COMMIT"),
      allow("ROLLBACK"),
      allow("SELECT 1 AS \"?column?\""),
  };
  check_cases(kCases);
}
