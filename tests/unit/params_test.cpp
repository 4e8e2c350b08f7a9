// Session parameter reconciliation: which SETs a leased server needs.
#define BOOST_TEST_MODULE params
#include "daemon/params.h"

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using pgwarden::daemon::build_parameter_sync;
using pgwarden::daemon::intern_parameters;
using pgwarden::daemon::ParameterMap;
using pgwarden::daemon::quote_literal;
using pgwarden::daemon::SharedParameters;
using pgwarden::daemon::tracked_parameter;
using pgwarden::daemon::with_parameter;

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

// Proves equal parameter maps are one shared object (sessions hold a pointer,
// and a server compares clients by address), different ones are not, and a
// change makes a new map without touching the one others hold.
BOOST_AUTO_TEST_CASE(interned_maps_are_shared_and_immutable) {
  const SharedParameters a = intern_parameters({{"application_name", "psql"}, {"TimeZone", "UTC"}});
  const SharedParameters b = intern_parameters({{"TimeZone", "UTC"}, {"application_name", "psql"}});
  BOOST_TEST(a.get() == b.get());
  const SharedParameters c = intern_parameters({{"application_name", "psql"}});
  BOOST_TEST(a.get() != c.get());

  BOOST_TEST(with_parameter(a, "TimeZone", "UTC").get() == a.get());  // unchanged: same map
  const SharedParameters tokyo = with_parameter(a, "TimeZone", "Asia/Tokyo");
  BOOST_TEST(tokyo.get() != a.get());
  BOOST_TEST(tokyo->at("TimeZone") == "Asia/Tokyo");
  BOOST_TEST(a->at("TimeZone") == "UTC");
  BOOST_TEST(with_parameter(tokyo, "TimeZone", "UTC").get() == a.get());  // back to a's values

  const SharedParameters fresh = with_parameter(nullptr, "DateStyle", "ISO, MDY");
  BOOST_TEST(fresh->size() == 1u);
  BOOST_TEST(fresh->at("DateStyle") == "ISO, MDY");
}

// Proves the table keeps no map alive (a map nobody holds is freed and made
// anew when asked for), also while threads intern and drop the same values at
// once (this runs under TSan in CI).
BOOST_AUTO_TEST_CASE(interned_maps_live_only_with_their_holders) {
  const ParameterMap values{{"application_name", "only-here"}};
  {
    const SharedParameters first = intern_parameters(values);
    BOOST_TEST(first.use_count() == 1);  // the table holds no strong reference
  }
  const SharedParameters again = intern_parameters(values);
  BOOST_TEST(again.use_count() == 1);
  BOOST_TEST(*again == values);

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 2000; ++i) {
        const SharedParameters p =
            intern_parameters({{"application_name", "worker-" + std::to_string((t + i) % 3)}});
        if (p->at("application_name").empty()) std::abort();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  BOOST_TEST(intern_parameters({{"application_name", "worker-1"}})->size() == 1u);
}
