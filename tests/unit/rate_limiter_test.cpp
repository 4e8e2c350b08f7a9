// Token-bucket rate limiter: burst, refill, retry-after, unlimited, threads.
#define BOOST_TEST_MODULE rate_limiter
#include "policy/rate_limiter.h"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

using pgwarden::policy::RateLimiter;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Proves the bucket starts full: exactly `burst` queries pass at once, the
// next is refused with the time until one token is back.
BOOST_AUTO_TEST_CASE(burst_then_refusal) {
  RateLimiter limiter(60, 5);  // one token per second
  const auto t0 = Clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) BOOST_TEST(limiter.try_acquire(t0).allowed);
  const auto refused = limiter.try_acquire(t0);
  BOOST_TEST(!refused.allowed);
  BOOST_TEST(refused.retry_after_seconds == 1.0, boost::test_tools::tolerance(1e-9));
}

// Proves tokens come back at per_minute / 60 per second, never above burst.
BOOST_AUTO_TEST_CASE(refill) {
  RateLimiter limiter(120, 2);  // two tokens per second
  const auto t0 = Clock::time_point{} + 1h;
  BOOST_TEST(limiter.try_acquire(t0).allowed);
  BOOST_TEST(limiter.try_acquire(t0).allowed);
  BOOST_TEST(!limiter.try_acquire(t0).allowed);
  BOOST_TEST(!limiter.try_acquire(t0 + 400ms).allowed);  // 0.8 tokens
  const auto half = limiter.try_acquire(t0 + 400ms);
  BOOST_TEST(half.retry_after_seconds == 0.1, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(limiter.try_acquire(t0 + 500ms).allowed);
  // An hour idle refills to the burst, not beyond.
  const auto later = t0 + 1h;
  BOOST_TEST(limiter.try_acquire(later).allowed);
  BOOST_TEST(limiter.try_acquire(later).allowed);
  BOOST_TEST(!limiter.try_acquire(later).allowed);
}

// Proves the default burst is ten seconds' worth (per_minute / 6), at least 1.
BOOST_AUTO_TEST_CASE(default_burst) {
  BOOST_TEST(RateLimiter(100).burst() == 100.0 / 6, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(RateLimiter(3).burst() == 1.0);
  RateLimiter limiter(600);  // burst 100
  const auto t0 = Clock::time_point{} + 1h;
  int passed = 0;
  while (limiter.try_acquire(t0).allowed) ++passed;
  BOOST_TEST(passed == 100);
}

// Proves 0 per minute is unlimited and bad values are refused.
BOOST_AUTO_TEST_CASE(unlimited_and_invalid) {
  RateLimiter unlimited(0);
  const auto t0 = Clock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) BOOST_TEST_REQUIRE(unlimited.try_acquire(t0).allowed);
  BOOST_CHECK_THROW(RateLimiter(-1), std::invalid_argument);
  BOOST_CHECK_THROW(RateLimiter(10, -1), std::invalid_argument);
  BOOST_CHECK_THROW(RateLimiter(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
  BOOST_CHECK_THROW(RateLimiter(std::numeric_limits<double>::infinity()), std::invalid_argument);
}

// Proves a clock read earlier than the last one neither adds nor removes
// tokens, and requests larger than the bucket are capped so they can pass.
BOOST_AUTO_TEST_CASE(backwards_clock_and_big_requests) {
  RateLimiter limiter(60, 2);
  const auto t0 = Clock::time_point{} + 1h;
  BOOST_TEST(limiter.try_acquire(t0, 2).allowed);
  BOOST_TEST(!limiter.try_acquire(t0 - 10s).allowed);
  BOOST_TEST(limiter.try_acquire(t0 + 1s).allowed);
  BOOST_TEST(!limiter.try_acquire(t0 + 1s, 5).allowed);
  BOOST_TEST(limiter.try_acquire(t0 + 3s, 5).allowed);  // capped at the burst of 2
  BOOST_TEST(limiter.try_acquire(t0 + 3s, 0).allowed);
}

// Proves the count is exact when several threads take tokens at once.
BOOST_AUTO_TEST_CASE(threads_share_one_bucket) {
  RateLimiter limiter(60, 1000);
  const auto t0 = Clock::time_point{} + 1h;
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (limiter.try_acquire(t0).allowed) ++passed;
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(passed.load() == 1000);
}
