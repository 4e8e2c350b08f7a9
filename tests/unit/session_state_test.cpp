// Which statements change a pooled server's session beyond the transaction,
// and what pgwarden does about each (daemon/session_state.h).
#define BOOST_TEST_MODULE session_state
#include "daemon/session_state.h"

#include <boost/test/unit_test.hpp>

using pgwarden::daemon::build_settings_sync;
using pgwarden::daemon::session_effect;
using pgwarden::daemon::SessionEffect;
using pgwarden::daemon::SessionSettings;
using Kind = SessionEffect::Kind;

namespace {
Kind kind(std::string_view sql, std::size_t count = 1) {
  return session_effect(sql, count).kind;
}
}  // namespace

// Proves plain queries and transaction-scoped settings cost nothing.
BOOST_AUTO_TEST_CASE(queries_and_transaction_scoped_sets_are_none) {
  BOOST_TEST((kind("SELECT 1") == Kind::None));
  BOOST_TEST((kind("  select * from loans where purpose = 'set'") == Kind::None));
  BOOST_TEST((kind("SET LOCAL search_path = x") == Kind::None));
  BOOST_TEST((kind("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE") == Kind::None));
  BOOST_TEST((kind("set constraints all deferred") == Kind::None));
  BOOST_TEST((kind("DISCARD PLANS") == Kind::None));
  BOOST_TEST((kind("SELECT 1; SELECT 2", 2) == Kind::None));
}

// Proves the reported parameters are left to ParameterStatus tracking.
BOOST_AUTO_TEST_CASE(reported_parameters_follow_parameter_status) {
  BOOST_TEST((kind("SET TimeZone = 'UTC'") == Kind::None));
  BOOST_TEST((kind("SET TIME ZONE 'Europe/Paris'") == Kind::None));
  BOOST_TEST((kind("SET SESSION datestyle TO ISO, DMY") == Kind::None));
  BOOST_TEST((kind("set application_name = 'x'") == Kind::None));
  BOOST_TEST((kind("RESET timezone") == Kind::None));
}

// Proves session SETs of other parameters are tracked under their name with
// the statement to replay, whatever the spelling.
BOOST_AUTO_TEST_CASE(session_sets_are_tracked) {
  auto e = session_effect("  SET search_path TO analytics, public;  ", 1);
  BOOST_TEST((e.kind == Kind::Track));
  BOOST_TEST(e.name == "search_path");
  BOOST_TEST(e.sql == "SET search_path TO analytics, public");
  e = session_effect("/* driver */ SET SESSION Extra_Float_Digits = 3", 1);
  BOOST_TEST((e.kind == Kind::Track));
  BOOST_TEST(e.name == "extra_float_digits");
  e = session_effect("SET SCHEMA 'analytics'", 1);
  BOOST_TEST(e.name == "search_path");
  e = session_effect("-- comment\nSET \"jit\" = off", 1);
  BOOST_TEST(e.name == "jit");
  e = session_effect("RESET search_path", 1);
  BOOST_TEST((e.kind == Kind::Reset));
  BOOST_TEST(e.name == "search_path");
  BOOST_TEST((kind("RESET ALL") == Kind::ResetAll));
  BOOST_TEST((kind("discard all") == Kind::ResetAll));
}

// Proves what cannot be followed makes the server dirty.
BOOST_AUTO_TEST_CASE(unfollowable_state_is_dirty) {
  BOOST_TEST((kind("SELECT set_config('jit', 'off', false)") == Kind::Dirty));
  BOOST_TEST((kind("SELECT current_setting('jit') AS cur, SET_CONFIG('jit', 'off', false)") ==
              Kind::Dirty));
  BOOST_TEST((kind("DECLARE c CURSOR WITH HOLD FOR SELECT 1") == Kind::Dirty));
  BOOST_TEST((kind("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE") ==
              Kind::Dirty));
  BOOST_TEST((kind("SELECT 1; SET search_path = x", 2) == Kind::Dirty));
  BOOST_TEST((kind("SET") == Kind::Dirty));
  BOOST_TEST((kind("SET \"unterminated") == Kind::Dirty));
  BOOST_TEST((kind("/* /* nested */ */ SET ROLE x") == Kind::Dirty));
}

// Proves the sync undoes the server's extra settings and applies the
// client's differing ones, and says nothing when they match.
BOOST_AUTO_TEST_CASE(settings_sync) {
  const SessionSettings client{{"search_path", "SET search_path = a"}, {"jit", "SET jit = off"}};
  SessionSettings server{{"search_path", "SET search_path = a"}, {"bytea_output", "SET x"}};
  std::string sql;
  BOOST_TEST(build_settings_sync(client, server, sql));
  BOOST_TEST(sql == "RESET \"bytea_output\";SET jit = off;");
  sql.clear();
  BOOST_TEST(!build_settings_sync(client, client, sql));
  BOOST_TEST(sql.empty());
  server = {{"we\"ird", "SET x"}};
  BOOST_TEST(build_settings_sync({}, server, sql));
  BOOST_TEST(sql == "RESET \"we\"\"ird\";");
}
