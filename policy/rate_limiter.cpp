// Token bucket (see rate_limiter.h).
#include "policy/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace pgwarden::policy {

namespace {

double default_burst(double per_minute) {
  return std::max(1.0, per_minute / 6);
}

}  // namespace

RateLimiter::RateLimiter(double per_minute, double burst)
    : per_minute_(per_minute),
      burst_(burst > 0 ? burst : default_burst(per_minute)),
      per_second_(per_minute / 60),
      available_(burst_) {
  if (!std::isfinite(per_minute) || per_minute < 0 || !std::isfinite(burst) || burst < 0) {
    throw std::invalid_argument("rate limit and burst must be finite and not negative");
  }
}

RateLimiter::Result RateLimiter::try_acquire(std::chrono::steady_clock::time_point now,
                                             double tokens) {
  if (per_minute_ == 0) return {true, 0};
  tokens = std::clamp(tokens, 0.0, burst_);
  std::lock_guard lock(mutex_);
  if (!started_) {
    started_ = true;
    last_ = now;
  } else if (now > last_) {
    // A clock that goes backwards (callers on several threads read it at
    // slightly different times) adds nothing and takes nothing.
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    available_ = std::min(burst_, available_ + elapsed * per_second_);
    last_ = now;
  }
  if (available_ >= tokens) {
    available_ -= tokens;
    return {true, 0};
  }
  return {false, (tokens - available_) / per_second_};
}

}  // namespace pgwarden::policy
