// Session parameter reconciliation: which SETs a leased server needs.
#define BOOST_TEST_MODULE params
#include "daemon/params.h"

#include <boost/test/unit_test.hpp>

using pgwarden::daemon::build_parameter_sync;
using pgwarden::daemon::ParameterMap;
using pgwarden::daemon::quote_literal;
using pgwarden::daemon::tracked_parameter;

// Proves a server that already has the client's values gets no SET at all,
// so the common case costs no round trip.
BOOST_AUTO_TEST_CASE(no_set_when_values_match) {
  ParameterMap client{{"application_name", "psql"}, {"TimeZone", "UTC"}};
  ParameterMap server{{"application_name", "psql"}, {"TimeZone", "UTC"}, {"DateStyle", "ISO"}};
  std::string sql;
  BOOST_TEST(!build_parameter_sync(client, server, sql));
  BOOST_TEST(sql.empty());
}

// Proves only the differing tracked parameters are set, in a stable order.
BOOST_AUTO_TEST_CASE(sets_only_differences) {
  ParameterMap client{
      {"application_name", "agent"}, {"TimeZone", "Europe/Paris"}, {"DateStyle", "ISO, MDY"}};
  ParameterMap server{{"application_name", "psql"}, {"TimeZone", "UTC"}, {"DateStyle", "ISO, MDY"}};
  std::string sql;
  BOOST_TEST(build_parameter_sync(client, server, sql));
  BOOST_TEST(sql == "SET application_name = 'agent';SET TimeZone = 'Europe/Paris';");
}

// Proves a parameter the server never reported is still set.
BOOST_AUTO_TEST_CASE(sets_missing_on_server) {
  ParameterMap client{{"IntervalStyle", "iso_8601"}};
  ParameterMap server;
  std::string sql;
  BOOST_TEST(build_parameter_sync(client, server, sql));
  BOOST_TEST(sql == "SET IntervalStyle = 'iso_8601';");
}

// Proves untracked names in the client's map (server_version, is_superuser...)
// never turn into SETs.
BOOST_AUTO_TEST_CASE(untracked_are_ignored) {
  ParameterMap client{{"server_version", "99"}, {"is_superuser", "on"}};
  ParameterMap server{{"server_version", "15.8"}, {"is_superuser", "off"}};
  std::string sql;
  BOOST_TEST(!build_parameter_sync(client, server, sql));
}

// Proves a value cannot break out of its literal: quotes are doubled (with
// standard_conforming_strings pinned on, backslashes are plain characters).
BOOST_AUTO_TEST_CASE(quoting_is_injection_safe) {
  BOOST_TEST(quote_literal("x'; DROP TABLE t; --") == "'x''; DROP TABLE t; --'");
  BOOST_TEST(quote_literal("back\\slash") == "'back\\slash'");
  BOOST_TEST(quote_literal("") == "''");
}

// Proves startup parameter names match case-insensitively and map to the
// server's spelling, so "datestyle" from one driver and "DateStyle" from
// another compare equal.
BOOST_AUTO_TEST_CASE(tracked_names_are_case_insensitive) {
  BOOST_TEST(tracked_parameter("datestyle") == "DateStyle");
  BOOST_TEST(tracked_parameter("TIMEZONE") == "TimeZone");
  BOOST_TEST(tracked_parameter("search_path").empty());
}
