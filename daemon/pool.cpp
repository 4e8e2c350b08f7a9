// Server connection pool: leasing, hand-over to waiting clients, upkeep.
#include "daemon/pool.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "protocol/sqlstate.h"

namespace pgwarden::daemon {

namespace {

constexpr std::chrono::milliseconds kStatementTimeoutMargin{2000};

std::chrono::milliseconds to_ms(conf::Seconds s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

UpstreamOptions make_upstream_options(const conf::PoolSettings& settings) {
  UpstreamOptions options;
  options.connect_timeout = to_ms(settings.connect_timeout);
  // The server's own statement_timeout is the backstop: pgwarden cancels at
  // query_timeout itself, so its error names the limit and the server stays
  // usable; the server fires only if that cancel never arrives.
  options.statement_timeout = to_ms(settings.query_timeout) + kStatementTimeoutMargin;
  return options;
}

bool expired(conf::Seconds limit, Clock::time_point since, Clock::time_point now) {
  return limit.count() > 0 && now - since >= limit;
}

}  // namespace

struct Pool::Waiter {
  explicit Waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;
  std::unique_ptr<ServerConnection> server;  //!< set when a server is handed over
  bool may_open = false;                     //!< woken because capacity freed up
};

//! Takes a waiter out of the queue however its wait ends.
struct Pool::WaiterGuard {
  Pool& pool;
  std::shared_ptr<Waiter> waiter;
  ~WaiterGuard() {
    std::unique_ptr<ServerConnection> orphan;
    {
      std::lock_guard lock(pool.mutex_);
      pool.waiters_.remove(waiter);
      orphan = std::move(waiter->server);
    }
    if (orphan) pool.release(std::move(orphan), true);
  }
};

Pool::Pool(std::string name, catalog::ConnInfo info, conf::PoolSettings settings,
           std::shared_ptr<asio::ssl::context> tls, asio::any_io_executor background)
    : name_(std::move(name)),
      info_(std::move(info)),
      settings_(settings),
      upstream_options_(make_upstream_options(settings)),
      background_(std::move(background)) {
  upstream_options_.tls = std::move(tls);
}

Pool::~Pool() {
  shut_down();
}

awaitable<AcquireResult> Pool::acquire() {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(settings_.acquire_timeout);
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    std::shared_ptr<Waiter> waiter;
    bool open_new = false;
    {
      std::unique_lock lock(mutex_);
      if (shut_down_) {
        co_return AcquireError{
            protocol::sqlstate::kAdminShutdown, "pgwarden is closing this connection's pool", {}};
      }
      used_ = true;
      while (!idle_.empty()) {
        auto server = std::move(idle_.back());
        idle_.pop_back();
        if (server->has_pending_input()) {
          --total_;
          lock.unlock();
          server->close();
          lock.lock();
          continue;
        }
        ++counters_.leases;
        co_return std::move(server);
      }
      if (total_ < settings_.max_size) {
        ++total_;
        open_new = true;
      } else if (Clock::now() < deadline) {
        waiter = std::make_shared<Waiter>(executor);
        waiter->timer.expires_at(deadline);
        waiters_.push_back(waiter);
      } else {
        ++counters_.wait_timeouts;
        co_return AcquireError{
            protocol::sqlstate::kTooManyConnections,
            fmt::format("pgwarden: no server connection for \"{}\" became free within {:g} s",
                        name_, settings_.acquire_timeout.count()),
            fmt::format("All {} server connections are busy; retry, or raise max_size.",
                        settings_.max_size)};
      }
    }
    if (open_new) {
      auto result = co_await open_server();
      if (std::holds_alternative<std::unique_ptr<ServerConnection>>(result)) {
        std::lock_guard lock(mutex_);
        ++counters_.leases;
      }
      co_return result;
    }
    // If this coroutine is destroyed or throws while queued (its client went
    // away), the guard dequeues it and passes on a server it was handed.
    WaiterGuard guard{*this, waiter};
    co_await waiter->timer.async_wait(use_nothrow);
    std::lock_guard lock(mutex_);
    if (waiter->server) {
      ++counters_.leases;
      co_return std::move(waiter->server);
    }
    // Woken because capacity freed up, or timed out: both go round again; the
    // deadline check above turns the latter into an error.
  }
}

awaitable<AcquireResult> Pool::open_server() {
  auto result = co_await connect_upstream(info_, upstream_options_);
  if (auto* error = std::get_if<UpstreamError>(&result)) {
    spdlog::warn("pool \"{}\": cannot open a server connection: {}", name_, error->user_message());
    std::lock_guard lock(mutex_);
    --total_;
    ++counters_.connect_failures;
    wake_one_locked();
    co_return AcquireError{protocol::sqlstate::kCannotConnect, error->user_message(),
                           error->hint()};
  }
  auto& server = std::get<std::unique_ptr<ServerConnection>>(result);
  spdlog::debug("pool \"{}\": opened server connection (backend pid {})", name_,
                server->backend_pid());
  std::lock_guard lock(mutex_);
  if (!welcome_) welcome_ = server->parameters();
  fill_to_min_locked();
  co_return std::move(server);
}

void Pool::fill_to_min_locked() {
  if (shut_down_ || !used_) return;
  while (total_ < settings_.min_size) {
    ++total_;
    // Its own strand: connect_upstream's watchdog and the coroutine must not
    // run at once.
    asio::co_spawn(
        asio::make_strand(background_),
        [self = shared_from_this()]() -> awaitable<void> {
          auto result = co_await self->open_server();
          if (auto* server = std::get_if<std::unique_ptr<ServerConnection>>(&result)) {
            self->release(std::move(*server), true);
          }
        },
        asio::detached);
  }
}

void Pool::release(std::unique_ptr<ServerConnection> server, bool reusable) {
  const auto now = Clock::now();
  std::unique_lock lock(mutex_);
  if (!reusable || shut_down_ || expired(settings_.server_lifetime, server->created_at(), now)) {
    --total_;
    wake_one_locked();
    lock.unlock();
    server->close();
    return;
  }
  server->mark_idle();
  hand_over_locked(server);
  if (server) idle_.push_back(std::move(server));
}

void Pool::hand_over_locked(std::unique_ptr<ServerConnection>& server) {
  if (waiters_.empty()) return;
  auto waiter = std::move(waiters_.front());
  waiters_.pop_front();
  waiter->server = std::move(server);
  // The waiter's timer belongs to its strand: cancel it there.
  asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

void Pool::wake_one_locked() {
  if (waiters_.empty()) return;
  auto waiter = std::move(waiters_.front());
  waiters_.pop_front();
  waiter->may_open = true;
  asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

std::optional<ParameterMap> Pool::welcome() const {
  std::lock_guard lock(mutex_);
  return welcome_;
}

void Pool::maintain() {
  const auto now = Clock::now();
  std::vector<std::unique_ptr<ServerConnection>> doomed;
  {
    std::lock_guard lock(mutex_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& server = *it;
      const bool surplus = total_ > settings_.min_size &&
                           expired(settings_.server_idle_timeout, server->idle_since(), now);
      if (surplus || expired(settings_.server_lifetime, server->created_at(), now) ||
          server->has_pending_input()) {
        doomed.push_back(std::move(server));
        it = idle_.erase(it);
        --total_;
      } else {
        ++it;
      }
    }
    fill_to_min_locked();
  }
  for (auto& server : doomed) server->close();
}

void Pool::shut_down() {
  std::deque<std::unique_ptr<ServerConnection>> doomed;
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    total_ -= static_cast<std::uint32_t>(idle_.size());
    doomed.swap(idle_);
    while (!waiters_.empty()) wake_one_locked();
  }
  for (auto& server : doomed) server->close();
}

PoolStats Pool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats stats = counters_;
  stats.total = total_;
  stats.idle = static_cast<std::uint32_t>(idle_.size());
  stats.waiting = static_cast<std::uint32_t>(waiters_.size());
  return stats;
}

}  // namespace pgwarden::daemon
