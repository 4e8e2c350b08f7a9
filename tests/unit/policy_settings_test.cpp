// Classifier cases for settings (POLICY.md VariableSetStmt and set_config):
// the exact parameter allow-list, value checks with PostgreSQL's boolean
// spellings, SET TRANSACTION / SESSION CHARACTERISTICS, and set_config().
#define BOOST_TEST_MODULE policy_settings
#include "policy_cases.h"

using policy_test::allow;
using policy_test::Case;
using policy_test::check_cases;
using policy_test::deny;

// Proves the parameters drivers set may be set to anything, reset and
// defaulted, whatever the spelling of their names.
BOOST_AUTO_TEST_CASE(harmless_parameters) {
  static constexpr Case kCases[] = {
      allow("SET application_name = 'psql'"),
      allow("SET application_name TO 'PostgreSQL JDBC Driver'"),
      allow("SET SESSION application_name = agent"),
      allow("SET LOCAL application_name = 'x'"),
      allow("SET extra_float_digits = 3"),
      allow("SET extra_float_digits TO -1"),
      allow("SET DateStyle = 'ISO, MDY'"),
      allow("SET datestyle TO ISO"),
      allow("SET \"DateStyle\" = 'ISO'"),
      allow("SET TimeZone = 'UTC'"),
      allow("SET TIME ZONE 'Europe/Paris'"),
      allow("SET TIME ZONE LOCAL"),
      allow("SET TIME ZONE DEFAULT"),
      allow("SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE"),
      allow("SET IntervalStyle = postgres"),
      allow("SET bytea_output = 'hex'"),
      allow("SET client_min_messages = warning"),
      allow("SET jit = off"),
      allow("SET jit TO DEFAULT"),
      allow("SET LOCAL jit = on"),
      allow("SET default_transaction_isolation = 'serializable'"),
      allow("SET transaction_isolation = 'repeatable read'"),
      allow("RESET application_name"),
      allow("RESET jit"),
      allow("RESET TIME ZONE"),
      allow("RESET ALL"),
  };
  check_cases(kCases);
}

// Proves the constrained parameters accept only the values that keep the
// server lexing like the parser and in read-only mode.
BOOST_AUTO_TEST_CASE(constrained_parameters_allowed_values) {
  static constexpr Case kCases[] = {
      allow("SET client_encoding = 'UTF8'"),
      allow("SET client_encoding TO 'utf-8'"),
      allow("SET client_encoding = unicode"),
      allow("SET NAMES 'UTF8'"),
      allow("SET search_path = public"),
      allow("SET search_path TO public, analytics"),
      allow("SET search_path = pg_catalog, public"),
      allow("SET search_path = \"$user\", public"),
      allow("SET search_path = ''"),
      allow("SET SCHEMA 'analytics'"),
      allow("SET search_path TO DEFAULT"),
      allow("RESET search_path"),
      allow("SET standard_conforming_strings = on"),
      allow("SET standard_conforming_strings TO true"),
      allow("SET default_transaction_read_only = on"),
      allow("SET default_transaction_read_only = 1"),
      allow("SET default_transaction_read_only = 't'"),
      allow("SET default_transaction_read_only = yes"),
      allow("SET default_transaction_read_only = 'TRUE'"),
      allow("SET default_transaction_read_only = 'tr'"),
      allow("SET transaction_read_only = on"),
      allow("SET transaction_read_only TO 'y'"),
      allow("SET SESSION default_transaction_read_only = 'On'"),
  };
  check_cases(kCases);
}

// Proves every other parameter, and every bad value of a constrained one
// (booleans are not normalised by the parser), is refused.
BOOST_AUTO_TEST_CASE(refused_parameters_and_values) {
  static constexpr Case kCases[] = {
      deny("SET statement_timeout = 0", "SET statement_timeout is not allowed"),
      deny("SET LOCAL statement_timeout = '1h'", "SET LOCAL statement_timeout is not allowed"),
      deny("RESET statement_timeout", "RESET statement_timeout is not allowed"),
      deny("SET work_mem = '1GB'", "SET work_mem is not allowed"),
      deny("SET lock_timeout = 0", "SET lock_timeout"),
      deny("SET idle_in_transaction_session_timeout = 0",
           "SET idle_in_transaction_session_timeout"),
      deny("SET ROLE postgres", "SET role is not allowed"),
      deny("SET ROLE NONE", "SET role"),
      deny("RESET ROLE", "RESET role"),
      deny("SET SESSION AUTHORIZATION postgres", "SET session_authorization"),
      deny("SET SESSION AUTHORIZATION DEFAULT", "SET session_authorization"),
      deny("RESET SESSION AUTHORIZATION", "RESET session_authorization"),
      deny("SET session_replication_role = replica", "SET session_replication_role"),
      deny("SET row_security = off", "SET row_security"),
      deny("SET XML OPTION DOCUMENT", "SET xmloption"),
      deny("SET myapp.user_id = 5", "SET myapp.user_id"),
      deny("SET search_path = public, pg_catalog", "pg_catalog after another schema"),
      deny("SET search_path TO \"$user\", pg_catalog", "pg_catalog after another schema"),
      deny("SET search_path = 'public, pg_catalog'", "pg_catalog after another schema"),
      deny("SET search_path = pg_temp, pg_catalog", "pg_catalog after another schema"),
      deny("SET client_encoding = 'LATIN1'", "SET client_encoding to 'LATIN1' is not allowed"),
      deny("SET NAMES 'SQL_ASCII'", "SET client_encoding to 'SQL_ASCII'"),
      deny("SET client_encoding = 'UTF16'", "'UTF16'"),
      deny("SET client_encoding TO DEFAULT", "SET client_encoding to DEFAULT is not allowed"),
      deny("RESET client_encoding", "RESET client_encoding is not allowed"),
      deny("SET standard_conforming_strings = off", "to 'off' is not allowed"),
      deny("SET standard_conforming_strings = false", "to 'false'"),
      deny("SET standard_conforming_strings TO DEFAULT", "to DEFAULT"),
      deny("RESET standard_conforming_strings", "RESET standard_conforming_strings"),
      deny("SET default_transaction_read_only = off", "to 'off' is not allowed"),
      deny("SET default_transaction_read_only = false", "to 'false'"),
      deny("SET default_transaction_read_only = 0", "to '0'"),
      deny("SET default_transaction_read_only = 'of'", "to 'of'"),
      deny("SET default_transaction_read_only = 'n'", "to 'n'"),
      deny("SET default_transaction_read_only = 'OFF'", "to 'OFF'"),
      deny("SET default_transaction_read_only = no", "to 'no'"),
      deny("SET default_transaction_read_only = 'f'", "to 'f'"),
      deny("SET default_transaction_read_only = 'o'", "to 'o'"),
      deny("SET default_transaction_read_only = ' on'", "to ' on'"),
      deny("SET default_transaction_read_only = 'nonsense'", "to 'nonsense'"),
      deny("SET default_transaction_read_only = 2", "to '2'"),
      deny("SET default_transaction_read_only = -1", "to '0'"),
      deny("SET default_transaction_read_only = 1.0", "to '1.0'"),
      deny("SET default_transaction_read_only = on, off", "several values"),
      deny("SET default_transaction_read_only TO DEFAULT", "to DEFAULT is not allowed"),
      deny("RESET default_transaction_read_only", "RESET default_transaction_read_only"),
      deny("SET default_transaction_read_only FROM CURRENT", "FROM CURRENT is not allowed"),
      deny("SET SESSION default_transaction_read_only = off", "to 'off'"),
      deny("SET transaction_read_only = off", "SET transaction_read_only to 'off'"),
      deny("SET LOCAL transaction_read_only TO false", "SET LOCAL transaction_read_only"),
      deny("RESET transaction_read_only", "RESET transaction_read_only"),
      deny("SET jit = off; SET ROLE postgres", "SET role"),
  };
  check_cases(kCases);
}

// Proves SET TRANSACTION and SET SESSION CHARACTERISTICS pass unless any mode
// is read-write.
BOOST_AUTO_TEST_CASE(transaction_characteristics) {
  static constexpr Case kCases[] = {
      allow("SET TRANSACTION READ ONLY"),
      allow("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
      allow("SET TRANSACTION ISOLATION LEVEL READ COMMITTED READ ONLY DEFERRABLE"),
      allow("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
      allow("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
      allow("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'"),
      deny("SET TRANSACTION READ WRITE", "SET TRANSACTION READ WRITE is not allowed"),
      deny("SET TRANSACTION READ ONLY, READ WRITE", "SET TRANSACTION READ WRITE"),
      deny("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE", "READ WRITE"),
      deny("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
           "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE is not allowed"),
  };
  check_cases(kCases);
}

// Proves set_config() is judged like SET: constant names of settable
// parameters with acceptable constant values, or a bind parameter where any
// value is harmless (asyncpg's jit dance).
BOOST_AUTO_TEST_CASE(set_config_allowed) {
  static constexpr Case kCases[] = {
      allow("SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new"),
      allow("SELECT set_config('jit', $1, false)"),
      allow("SELECT set_config('application_name', 'x', false)"),
      allow("SELECT pg_catalog.set_config('search_path', 'public', false)"),
      allow("SELECT set_config('search_path', 'pg_catalog, public', true)"),
      allow("SELECT set_config('search_path', '\"$user\", public', false)"),
      allow("SELECT set_config('default_transaction_read_only', 'on', false)"),
      allow("SELECT set_config('transaction_read_only', 'true', true)"),
      allow("SELECT set_config('client_encoding', 'UTF8', false)"),
      allow("SELECT set_config('TimeZone', 'UTC', false)"),
      allow("SELECT set_config('DateStyle', NULL, false)"),
      allow("SELECT set_config(setting_name => 'jit', new_value => 'off', is_local => false)"),
      allow("SELECT set_config('jit', new_value => $1, is_local => false)"),
      allow("SELECT set_config('jit'::text, 'off'::text, false)"),
      allow("SELECT set_config('jit', 'off', $2)"),
  };
  check_cases(kCases);
}

// Proves set_config() with a refused parameter or value, or with a name or
// value computed from anything but a constant, is refused wherever it is.
BOOST_AUTO_TEST_CASE(set_config_refused) {
  static constexpr Case kCases[] = {
      deny("SELECT set_config('default_transaction_read_only', 'off', false)",
           "set_config() of default_transaction_read_only to 'off' is not allowed"),
      deny("SELECT set_config('default_transaction_read_only', 'of', false)", "to 'of'"),
      deny("SELECT set_config('transaction_read_only', 'false', true)", "to 'false'"),
      deny("SELECT set_config('standard_conforming_strings', 'off', false)", "to 'off'"),
      deny("SELECT set_config('statement_timeout', '0', false)",
           "set_config() of statement_timeout is not allowed"),
      deny("SELECT set_config('role', 'postgres', false)", "set_config() of role"),
      deny("SELECT set_config('session_authorization', 'postgres', false)",
           "set_config() of session_authorization"),
      deny("SELECT set_config('x.y', '1', false)", "set_config() of x.y"),
      deny("SELECT set_config('search_path', 'public, pg_catalog', false)",
           "pg_catalog after another schema"),
      deny("SELECT set_config('search_path', 'public,PG_CATALOG', false)",
           "pg_catalog after another schema"),
      deny("SELECT set_config('search_path', $1, false)", "with a bind parameter"),
      deny("SELECT set_config('default_transaction_read_only', $1, false)",
           "with a bind parameter"),
      deny("SELECT set_config('statement_timeout', $1, false)", "statement_timeout is not allowed"),
      deny("SELECT set_config('client_encoding', 'LATIN1', false)", "to 'LATIN1'"),
      deny("SELECT set_config('default_transaction_read_only', NULL, false)", "to NULL"),
      deny("SELECT set_config(name, 'off', false) FROM pg_settings",
           "setting name that is not a constant"),
      deny("SELECT set_config(lower('JIT'), 'off', false)", "setting name that is not a constant"),
      deny("SELECT set_config((SELECT 'jit'), 'off', false)",
           "setting name that is not a constant"),
      deny("SELECT set_config($1, 'off', false)", "setting name that is not a constant"),
      deny("SELECT set_config('default_transaction_read_only', (SELECT 'off'), false)",
           "value that is not a constant"),
      deny("SELECT set_config('default_transaction_read_only', setting, false) FROM pg_settings",
           "value that is not a constant"),
      deny("SELECT set_config('default_transaction_read_only', 'of' || 'f', false)",
           "value that is not a constant"),
      deny("SELECT set_config('jit', 'off')", "unexpected arguments"),
      deny("SELECT set_config('jit', 'off', false, true)", "unexpected arguments"),
      deny("SELECT set_config(setting_name => 'statement_timeout', new_value => '0', "
           "is_local => false)",
           "statement_timeout is not allowed"),
      deny("SELECT set_config(new_value => 'off', setting_name => 'transaction_read_only', "
           "is_local => true)",
           "to 'off'"),
      deny("SELECT set_config('jit', 'off', false), set_config('statement_timeout', '0', false)",
           "statement_timeout"),
      deny("SELECT 1 WHERE set_config('default_transaction_read_only', 'off', false) IS NOT NULL",
           "to 'off'"),
      deny("SELECT * FROM t ORDER BY set_config('transaction_read_only', 'off', true)", "to 'off'"),
      deny("WITH s AS (SELECT set_config('role', 'postgres', false)) SELECT * FROM s",
           "set_config() of role"),
      deny("SELECT public.set_config('jit', 'off', false)", "customer function set_config()"),
  };
  check_cases(kCases);
}
