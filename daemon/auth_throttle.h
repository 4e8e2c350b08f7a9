// Brute-force brake: failed password attempts per (client address, user)
// earn a growing delay before their failure is reported, as PostgreSQL's
// auth_delay does for every failure, but without slowing honest typos.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgwarden::daemon {

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  struct Verdict {
    std::chrono::milliseconds delay{0};  //!< wait this long before answering
    unsigned failures = 0;               //!< in the current window, this one included
  };

  //! Failures beyond `free_failures` within `window` wait 250 ms, doubling
  //! per further failure up to `max_delay`.
  explicit AuthThrottle(unsigned free_failures = 3,
                        std::chrono::seconds window = std::chrono::seconds(60),
                        std::chrono::milliseconds max_delay = std::chrono::seconds(5))
      : free_failures_(free_failures), window_(window), max_delay_(max_delay) {}

  Verdict failed(std::string_view address, std::string_view user, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    prune(now);
    Entry& entry = entries_[key(address, user)];
    if (entry.failures == 0 || now - entry.first > window_) entry = {now, 0};
    ++entry.failures;
    Verdict verdict{{}, entry.failures};
    if (entry.failures > free_failures_) {
      const unsigned doublings = std::min(entry.failures - free_failures_ - 1, 16U);
      verdict.delay = std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(250) * (1U << doublings), max_delay_);
    }
    return verdict;
  }

  void succeeded(std::string_view address, std::string_view user) {
    std::lock_guard lock(mutex_);
    entries_.erase(key(address, user));
  }

  std::size_t tracked() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  struct Entry {
    Clock::time_point first{};
    unsigned failures = 0;
  };

  static std::string key(std::string_view address, std::string_view user) {
    std::string k(address);
    k.push_back('\0');
    k.append(user);
    return k;
  }

  // Bounded memory under a flood of distinct names: expired entries go, at
  // most once per window.
  void prune(Clock::time_point now) {
    if (now - last_prune_ < window_) return;
    last_prune_ = now;
    std::erase_if(entries_, [&](const auto& item) { return now - item.second.first > window_; });
  }

  const unsigned free_failures_;
  const Clock::duration window_;
  const std::chrono::milliseconds max_delay_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  Clock::time_point last_prune_{};
};

}  // namespace pgwarden::daemon
