// Which Query texts pgwarden answers locally as DEALLOCATE.
#define BOOST_TEST_MODULE deallocate
#include "daemon/deallocate.h"

#include <boost/test/unit_test.hpp>

using pgwarden::daemon::match_deallocate;

// Proves the forms drivers send are recognised, with names folded as
// PostgreSQL folds them (unquoted lower-cased, quoted kept verbatim).
BOOST_AUTO_TEST_CASE(recognised_forms) {
  auto d = match_deallocate("DEALLOCATE _pg3_0");
  BOOST_REQUIRE(d);
  BOOST_TEST(!d->all);
  BOOST_TEST(d->name == "_pg3_0");
  d = match_deallocate("  deallocate prepare \"MixedCase\"\"x\" ; -- trailing comment\n");
  BOOST_REQUIRE(d);
  BOOST_TEST(d->name == "MixedCase\"x");
  d = match_deallocate("/* a /* nested */ comment */ DEALLOCATE ALL;");
  BOOST_REQUIRE(d);
  BOOST_TEST(d->all);
  d = match_deallocate("DEALLOCATE Stmt1");
  BOOST_REQUIRE(d);
  BOOST_TEST(d->name == "stmt1");
  d = match_deallocate("DEALLOCATE \"all\"");
  BOOST_REQUIRE(d);
  BOOST_TEST(!d->all);
  BOOST_TEST(d->name == "all");
}

// Proves anything more than one DEALLOCATE goes upstream instead: a second
// statement must not be swallowed by a local answer.
BOOST_AUTO_TEST_CASE(everything_else_is_not_matched) {
  for (const char* sql : {"DEALLOCATE x; SELECT 1", "DEALLOCATE", "DEALLOCATE ;", "SELECT 1",
                          "DEALLOCATE x y", "DEALLOCATE /* open", "DEALLOCATE \"\"",
                          "EXPLAIN DEALLOCATE x", "DEALLOCATE 1x", "DEALLOCATE x;;"}) {
    BOOST_TEST(!match_deallocate(sql), sql);
  }
}
