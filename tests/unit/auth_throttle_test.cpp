// The brute-force brake on failed logins (daemon/auth_throttle.h).
#define BOOST_TEST_MODULE auth_throttle
#include "daemon/auth_throttle.h"

#include <boost/test/unit_test.hpp>

using pgwarden::daemon::AuthThrottle;
using namespace std::chrono_literals;

// Proves the first failures are free, later ones wait 250 ms doubling up to
// the cap, and the count is per (address, user).
BOOST_AUTO_TEST_CASE(delays_grow_per_address_and_user) {
  AuthThrottle throttle(3, 60s, 5000ms);
  const auto t0 = AuthThrottle::Clock::time_point{} + 1h;
  for (unsigned i = 1; i <= 3; ++i) {
    const auto v = throttle.failed("10.0.0.1", "alice", t0);
    BOOST_TEST(v.delay.count() == 0);
    BOOST_TEST(v.failures == i);
  }
  BOOST_TEST(throttle.failed("10.0.0.1", "alice", t0).delay.count() == 250);
  BOOST_TEST(throttle.failed("10.0.0.1", "alice", t0).delay.count() == 500);
  BOOST_TEST(throttle.failed("10.0.0.1", "alice", t0).delay.count() == 1000);
  for (int i = 0; i < 40; ++i) throttle.failed("10.0.0.1", "alice", t0);
  BOOST_TEST(throttle.failed("10.0.0.1", "alice", t0).delay.count() == 5000);
  // Another user from the same address, or the same user elsewhere: free.
  BOOST_TEST(throttle.failed("10.0.0.1", "bob", t0).delay.count() == 0);
  BOOST_TEST(throttle.failed("10.0.0.2", "alice", t0).delay.count() == 0);
}

// Proves a success forgets the failures, and so does the window passing.
BOOST_AUTO_TEST_CASE(success_and_time_forgive) {
  AuthThrottle throttle(1, 60s, 5000ms);
  const auto t0 = AuthThrottle::Clock::time_point{} + 1h;
  throttle.failed("a", "u", t0);
  BOOST_TEST(throttle.failed("a", "u", t0).delay.count() == 250);
  throttle.succeeded("a", "u");
  BOOST_TEST(throttle.failed("a", "u", t0).delay.count() == 0);
  BOOST_TEST(throttle.failed("a", "u", t0 + 61s).delay.count() == 0);
  BOOST_TEST(throttle.failed("a", "u", t0 + 61s).delay.count() == 250);
}

// Proves memory stays bounded under a flood of distinct user names.
BOOST_AUTO_TEST_CASE(expired_entries_are_pruned) {
  AuthThrottle throttle(3, 60s, 5000ms);
  const auto t0 = AuthThrottle::Clock::time_point{} + 1h;
  for (int i = 0; i < 1000; ++i) throttle.failed("a", "user" + std::to_string(i), t0);
  BOOST_TEST(throttle.tracked() == 1000U);
  throttle.failed("a", "late", t0 + 120s);
  BOOST_TEST(throttle.tracked() == 1U);
}
