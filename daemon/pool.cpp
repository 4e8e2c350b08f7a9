// Server connection pool: leasing, hand-over to waiting clients, upkeep.
#include "daemon/pool.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "protocol/builder.h"
#include "protocol/frame.h"
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
  options.max_prepared_statements = settings.max_prepared_statements;
  return options;
}

bool expired(conf::Seconds limit, Clock::time_point since, Clock::time_point now) {
  return limit.count() > 0 && now - since >= limit;
}

//! Bounds what a health check reads: an idle server has nothing to say
//! beyond a notice or a parameter change.
constexpr std::size_t kCheckReplyLimit = 64 * 1024;

//! A server released this recently is handed out without polling it for
//! unexpected input (a system call): a backend that ended in that instant is
//! no likelier than one that ends just after the poll, and both show as a
//! lost server to the client. Back-to-back transactions, the common case
//! under load, then cost no poll.
constexpr auto kFreshlyIdle = std::chrono::milliseconds(1);

}  // namespace

std::string_view to_string(ServerInfo::State state) {
  switch (state) {
    case ServerInfo::State::Idle:
      return "idle";
    case ServerInfo::State::Active:
      return "active";
    case ServerInfo::State::Testing:
      return "testing";
  }
  return "unknown";
}

struct Pool::Waiter {
  explicit Waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;
  //! Its place in waiters_, so leaving the queue costs no search.
  std::list<std::shared_ptr<Waiter>>::iterator position;
  bool queued = false;
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
      if (waiter->queued) pool.waiters_.erase(waiter->position);
      waiter->queued = false;
      orphan = std::move(waiter->server);
    }
    if (orphan) pool.release(std::move(orphan), true);
  }
};

//! A server taken out of idle for a check whose coroutine ends abnormally
//! (its client went away, or the loop stopped) is closed: its reply may be
//! half read.
struct Pool::CheckGuard {
  Pool& pool;
  std::unique_ptr<ServerConnection>& server;
  ~CheckGuard() {
    if (server) pool.drop_checked(std::move(server));
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
  const auto acquire_timeout =
      std::chrono::duration_cast<Clock::duration>(settings_.acquire_timeout);
  auto deadline = Clock::now() + acquire_timeout;
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    std::shared_ptr<Waiter> waiter;
    std::unique_ptr<ServerConnection> to_check;
    bool open_new = false;
    bool held = false;
    {
      std::unique_lock lock(mutex_);
      if (shut_down_) {
        co_return AcquireError{
            protocol::sqlstate::kAdminShutdown, "pgwarden is closing this connection's pool", {}};
      }
      used_ = true;
      const auto now = Clock::now();
      while (!paused_ && !idle_.empty()) {
        auto server = std::move(idle_.back());
        idle_.pop_back();
        if (now - server->idle_since() >= kFreshlyIdle && server->has_pending_input()) {
          tracked_.erase(server.get());
          --total_;
          lock.unlock();
          server->close();
          lock.lock();
          continue;
        }
        if (check_due_locked(*server, now)) {
          // Idle for a whole period and not checked by the janitor yet:
          // check it before the client gets it (PgBouncer's server_check_delay).
          track_locked(*server, ServerInfo::State::Testing, now);
          ++testing_;
          to_check = std::move(server);
          break;
        }
        track_locked(*server, ServerInfo::State::Active, now);
        ++counters_.leases;
        co_return std::move(server);
      }
      if (to_check) {
        // Checked below, outside the lock.
      } else if (paused_) {
        // PAUSE holds new transactions without a deadline, as PgBouncer does.
        waiter = std::make_shared<Waiter>(executor);
        waiter->timer.expires_at(Clock::time_point::max());
        enqueue_locked(waiter);
        held = true;
      } else if (total_ < settings_.max_size) {
        ++total_;
        open_new = true;
      } else if (now < deadline) {
        waiter = std::make_shared<Waiter>(executor);
        waiter->timer.expires_at(deadline);
        enqueue_locked(waiter);
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
    if (to_check) {
      CheckGuard guard{*this, to_check};
      const bool healthy = co_await check_server(*to_check);
      if (!healthy) {
        drop_checked(std::move(to_check));
        continue;  // the next idle server, or a new one in the slot just freed
      }
      std::lock_guard lock(mutex_);
      --testing_;
      ++counters_.health_checks;
      const auto now = Clock::now();
      tracked_[to_check.get()].checked_at = now;
      track_locked(*to_check, ServerInfo::State::Active, now);
      ++counters_.leases;
      co_return std::move(to_check);
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
    // Time spent paused does not count against acquire_timeout.
    if (held && !paused_) deadline = Clock::now() + acquire_timeout;
    // Woken because capacity freed up, by resume(), or timed out: all go round
    // again; the deadline check above turns a timeout into an error.
  }
}

std::unique_ptr<ServerConnection> Pool::try_acquire() {
  std::lock_guard lock(mutex_);
  if (shut_down_ || paused_ || idle_.empty()) return nullptr;
  const auto now = Clock::now();
  // Only a server used a moment ago: it needs neither the poll for input
  // nor a health check (see kFreshlyIdle).
  if (now - idle_.back()->idle_since() >= kFreshlyIdle) return nullptr;
  used_ = true;
  auto server = std::move(idle_.back());
  idle_.pop_back();
  track_locked(*server, ServerInfo::State::Active, now);
  ++counters_.leases;
  return server;
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
  auto& tracked = tracked_[server.get()];
  tracked = Tracked{.state = ServerInfo::State::Active,
                    .since = Clock::now(),
                    .checked_at = {},
                    .created_at = server->created_at(),
                    .backend_pid = server->backend_pid(),
                    .endpoint = server->endpoint(),
                    .tls = server->uses_tls()};
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
    tracked_.erase(server.get());
    --total_;
    wake_one_locked();
    lock.unlock();
    server->close();
    return;
  }
  server->mark_idle();
  track_locked(*server, ServerInfo::State::Idle, now);
  hand_over_locked(server);
  if (server) idle_.push_back(std::move(server));
}

void Pool::hand_over_locked(std::unique_ptr<ServerConnection>& server) {
  // While paused a released server goes idle; resume() wakes the waiters.
  if (waiters_.empty() || paused_) return;
  track_locked(*server, ServerInfo::State::Active, Clock::now());
  auto waiter = dequeue_locked();
  waiter->server = std::move(server);
  // The waiter's timer belongs to its strand: cancel it there (at once when
  // this thread is already running that executor, as with one worker).
  asio::dispatch(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

void Pool::enqueue_locked(const std::shared_ptr<Waiter>& waiter) {
  waiter->position = waiters_.insert(waiters_.end(), waiter);
  waiter->queued = true;
}

std::shared_ptr<Pool::Waiter> Pool::dequeue_locked() {
  auto waiter = std::move(waiters_.front());
  waiters_.pop_front();
  waiter->queued = false;
  return waiter;
}

void Pool::wake_one_locked() {
  if (waiters_.empty()) return;
  auto waiter = dequeue_locked();
  waiter->may_open = true;
  asio::dispatch(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

std::optional<ParameterMap> Pool::welcome() const {
  std::lock_guard lock(mutex_);
  return welcome_;
}

void Pool::maintain() {
  const auto now = Clock::now();
  std::vector<std::unique_ptr<ServerConnection>> doomed;
  std::vector<std::unique_ptr<ServerConnection>> to_check;
  {
    std::lock_guard lock(mutex_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& server = *it;
      const bool surplus = total_ > settings_.min_size &&
                           expired(settings_.server_idle_timeout, server->idle_since(), now);
      if (surplus || expired(settings_.server_lifetime, server->created_at(), now) ||
          server->has_pending_input()) {
        tracked_.erase(server.get());
        doomed.push_back(std::move(server));
        it = idle_.erase(it);
        --total_;
      } else if (check_due_locked(*server, now)) {
        // Out of idle while checked, so acquire() cannot hand it out meanwhile.
        track_locked(*server, ServerInfo::State::Testing, now);
        ++testing_;
        to_check.push_back(std::move(server));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
    fill_to_min_locked();
  }
  for (auto& server : doomed) server->close();
  for (auto& server : to_check) {
    // Its own strand, as for fill_to_min_locked: the check's watchdog and
    // its reads must not run at once.
    asio::co_spawn(asio::make_strand(background_),
                   check_in_background(shared_from_this(), std::move(server)), asio::detached);
  }
}

awaitable<void> Pool::check_in_background(std::shared_ptr<Pool> self,
                                          std::unique_ptr<ServerConnection> server) {
  CheckGuard guard{*self, server};
  const bool healthy = co_await self->check_server(*server);
  self->finish_check(std::move(server), healthy);
}

awaitable<bool> Pool::check_server(ServerConnection& server) {
  auto executor = co_await asio::this_coro::executor;
  // Past connect_timeout the socket is closed under the read, which then
  // fails: a silent server (lost network, frozen host) fails its check.
  Watchdog deadline(executor, settings_.connect_timeout, [&server] {
    error_code ignored;
    server.socket().close(ignored);
  });
  std::string out;
  protocol::put_query(out, "");
  if (auto [ec, n] = co_await server.write(asio::buffer(out)); ec) co_return false;
  std::string in;
  std::array<char, 1024> chunk;
  bool empty_query_seen = false;
  const protocol::BackendLimits limits{.max_message_size = kCheckReplyLimit};
  for (;;) {
    auto [ec, n] = co_await server.read_some(asio::buffer(chunk));
    if (ec) co_return false;
    in.append(chunk.data(), n);
    std::size_t used = 0;
    for (;;) {
      const auto result =
          protocol::decode_backend_frame(protocol::as_bytes(in).subspan(used), limits);
      if (result.status == protocol::DecodeStatus::Error) co_return false;
      if (result.status == protocol::DecodeStatus::NeedMore) break;
      used += result.frame.total_size;
      const auto body = result.frame.body;
      switch (static_cast<protocol::BackendType>(result.frame.type)) {
        case protocol::BackendType::EmptyQueryResponse:
          empty_query_seen = true;
          break;
        case protocol::BackendType::NoticeResponse:
        case protocol::BackendType::NotificationResponse:
          break;
        case protocol::BackendType::ParameterStatus:
          // Keep the server's view current: clients are synced against it.
          if (auto status = protocol::decode_parameter_status(body)) {
            server.parameters()[std::string(status->name)] = std::string(status->value);
          }
          break;
        case protocol::BackendType::ReadyForQuery: {
          const auto status = protocol::decode_ready_for_query(body);
          // Anything after the 'Z' would be unexplained input: not clean.
          co_return empty_query_seen&& used == in.size() &&
              status&&* status == protocol::TxStatus::Idle;
        }
        default:
          co_return false;  // an ErrorResponse (e.g. FATAL 57P01) or anything unexpected
      }
    }
    in.erase(0, used);
    if (in.size() > kCheckReplyLimit) co_return false;
  }
}

void Pool::finish_check(std::unique_ptr<ServerConnection> server, bool healthy) {
  if (!healthy) {
    drop_checked(std::move(server));
    return;
  }
  const auto now = Clock::now();
  std::unique_lock lock(mutex_);
  --testing_;
  ++counters_.health_checks;
  if (shut_down_) {
    tracked_.erase(server.get());
    --total_;
    lock.unlock();
    server->close();
    return;
  }
  auto& tracked = tracked_[server.get()];
  tracked.checked_at = now;
  tracked.state = ServerInfo::State::Idle;
  tracked.since = server->idle_since();
  hand_over_locked(server);
  // Back where it was: front = least recently used, so server_idle_timeout
  // still shrinks the pool past a server that only passed checks.
  if (server) idle_.push_front(std::move(server));
}

void Pool::drop_checked(std::unique_ptr<ServerConnection> server) {
  {
    std::lock_guard lock(mutex_);
    --testing_;
    ++counters_.health_checks;
    ++counters_.health_check_failures;
    tracked_.erase(server.get());
    --total_;
    wake_one_locked();
    fill_to_min_locked();
  }
  spdlog::warn("pool \"{}\": server connection (backend pid {}) failed its health check; closed",
               name_, server->backend_pid());
  server->close();
}

void Pool::track_locked(const ServerConnection& server, ServerInfo::State state,
                        Clock::time_point now) {
  auto& tracked = tracked_[&server];
  tracked.state = state;
  tracked.since = now;
}

bool Pool::check_due_locked(const ServerConnection& server, Clock::time_point now) const {
  if (settings_.health_check_period.count() <= 0) return false;
  auto last = server.idle_since();
  if (auto it = tracked_.find(&server); it != tracked_.end()) {
    last = std::max(last, it->second.checked_at);
  }
  return expired(settings_.health_check_period, last, now);
}

void Pool::pause() {
  std::lock_guard lock(mutex_);
  if (!paused_) spdlog::info("pool \"{}\": paused; new transactions wait for RESUME", name_);
  paused_ = true;
}

void Pool::resume() {
  std::lock_guard lock(mutex_);
  if (!paused_) return;
  paused_ = false;
  spdlog::info("pool \"{}\": resumed; {} waiting client(s) go on", name_, waiters_.size());
  // Each goes round acquire() again: an idle server, a new one, or a queue
  // place with a fresh acquire_timeout.
  while (!waiters_.empty()) wake_one_locked();
}

bool Pool::paused() const {
  std::lock_guard lock(mutex_);
  return paused_;
}

std::vector<ServerInfo> Pool::servers() const {
  const auto now = Clock::now();
  std::vector<ServerInfo> list;
  std::lock_guard lock(mutex_);
  list.reserve(tracked_.size());
  for (const auto& [server, tracked] : tracked_) {
    list.push_back(ServerInfo{.state = tracked.state,
                              .backend_pid = tracked.backend_pid,
                              .endpoint = tracked.endpoint,
                              .tls = tracked.tls,
                              .age = now - tracked.created_at,
                              .in_state = now - tracked.since});
  }
  return list;
}

void Pool::shut_down() {
  std::deque<std::unique_ptr<ServerConnection>> doomed;
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    total_ -= static_cast<std::uint32_t>(idle_.size());
    for (const auto& server : idle_) tracked_.erase(server.get());
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
  stats.testing = testing_;
  stats.waiting = static_cast<std::uint32_t>(waiters_.size());
  stats.paused = paused_;
  return stats;
}

}  // namespace pgwarden::daemon
