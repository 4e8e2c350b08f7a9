// Per-connection rate limit: a token bucket, thread-safe, with time passed in
// so that it is pure and testable.
#pragma once

#include <chrono>
#include <mutex>

namespace pgwarden::policy {

class RateLimiter {
 public:
  //! per_minute: refill rate; 0 means unlimited. burst: bucket size; 0 means
  //! the default, per_minute / 6 (ten seconds' worth), at least 1. The bucket
  //! starts full. Negative or non-finite values throw std::invalid_argument.
  explicit RateLimiter(double per_minute, double burst = 0);

  struct Result {
    bool allowed = true;
    double retry_after_seconds = 0;  //!< when denied: wait this long, then retry
  };

  //! Takes `tokens` (capped at the bucket size, so any request can succeed
  //! once the bucket is full) if there are enough at `now`.
  Result try_acquire(std::chrono::steady_clock::time_point now, double tokens = 1);

  double per_minute() const { return per_minute_; }
  double burst() const { return burst_; }

 private:
  double per_minute_;
  double burst_;
  double per_second_;
  std::mutex mutex_;
  double available_;                              // guarded by mutex_
  std::chrono::steady_clock::time_point last_{};  // guarded by mutex_
  bool started_ = false;                          // guarded by mutex_
};

}  // namespace pgwarden::policy
