// Asio vocabulary shared by the daemon: one include, one set of aliases.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <memory>

namespace pgwarden::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
template <typename T = void>
using awaitable = asio::awaitable<T>;

//! Completion token for operations whose failure is expected (EOF, reset,
//! timeout): the error arrives as a value, not an exception.
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

using Clock = std::chrono::steady_clock;

//! Runs `on_expiry` on the timer's executor unless cancelled first: a
//! deadline over a sequence of operations, which `on_expiry` interrupts by
//! closing or cancelling their socket. (Not `op || timer`: under Asio 1.26 the
//! awaitable operators co_spawn children inline on the caller's strand, which
//! disturbed the caller's other pending operations.)
class Watchdog {
 public:
  //! `executor` must be the strand of the coroutine that owns the watchdog,
  //! so expiry and destruction never race.
  template <typename Duration, typename OnExpiry>
  Watchdog(const asio::any_io_executor& executor, Duration timeout, OnExpiry on_expiry)
      : timer_(executor, std::chrono::duration_cast<Clock::duration>(timeout)),
        state_(std::make_shared<State>()) {
    timer_.async_wait([state = state_, f = std::move(on_expiry)](const error_code& ec) mutable {
      // A handler already queued when the owner went away must not run.
      if (ec || !state->armed) return;
      state->fired = true;
      f();
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { cancel(); }

  bool fired() const { return state_->fired; }
  void cancel() {
    state_->armed = false;
    timer_.cancel();
  }

 private:
  struct State {
    bool armed = true;
    bool fired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

}  // namespace pgwarden::daemon
