// A pool of upstream server connections for one connection record: leased to
// clients one transaction at a time, created lazily, kept within min..max.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "catalog/conninfo.h"
#include "conf/config.h"
#include "daemon/asio.h"
#include "daemon/upstream.h"

namespace pgwarden::daemon {

//! Why a lease failed, ready to send as an ErrorResponse.
struct AcquireError {
  std::string_view sqlstate;
  std::string message;
  std::string hint;
};

using AcquireResult = std::variant<std::unique_ptr<ServerConnection>, AcquireError>;

struct PoolStats {
  std::uint32_t total = 0;  //!< open or being opened
  std::uint32_t idle = 0;
  std::uint32_t testing = 0;  //!< taken out of idle for a health check (in total, not idle)
  std::uint32_t waiting = 0;  //!< clients queued for a server (paused or pool full)
  bool paused = false;
  std::uint64_t leases = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t wait_timeouts = 0;
  std::uint64_t health_checks = 0;          //!< empty queries sent to idle servers
  std::uint64_t health_check_failures = 0;  //!< ...that failed or timed out (server closed)
};

//! One open server connection, as SHOW SERVERS lists it.
struct ServerInfo {
  enum class State { Idle, Active, Testing };
  State state = State::Idle;
  std::uint32_t backend_pid = 0;
  tcp::endpoint endpoint;  //!< the server's address
  bool tls = false;
  Clock::duration age{};       //!< since the connection was opened
  Clock::duration in_state{};  //!< since it went idle, was leased, or its check began
};

//! "idle", "active" or "testing".
std::string_view to_string(ServerInfo::State state);

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  Pool(std::string name, catalog::ConnInfo info, conf::PoolSettings settings,
       std::shared_ptr<asio::ssl::context> tls, asio::any_io_executor background);
  ~Pool();

  const std::string& name() const { return name_; }
  const conf::PoolSettings& settings() const { return settings_; }
  //! The upstream's connection parameters (with credentials: never log them).
  const catalog::ConnInfo& info() const { return info_; }

  //! Leases a server: an idle one, a new one while below max_size, or the
  //! next one released, waiting up to acquire_timeout. Run on the caller's
  //! strand: wake-ups are posted to the executor of the awaiting coroutine.
  awaitable<AcquireResult> acquire();

  //! Leases a server released within the last moment, if there is one,
  //! without waiting or checking anything: acquire()'s fast path. Null
  //! otherwise (acquire() then decides).
  std::unique_ptr<ServerConnection> try_acquire();

  //! Gives a leased server back. Only clean servers (ReadyForQuery idle,
  //! nothing outstanding) may be reused; anything else is closed.
  void release(std::unique_ptr<ServerConnection> server, bool reusable);

  //! Reported parameters of the first server this pool opened, which clients
  //! are shown at login (PgBouncer's "welcome message").
  std::optional<ParameterMap> welcome() const;

  //! Periodic upkeep (janitor): closes servers idle past server_idle_timeout
  //! down to min_size, past server_lifetime, or with unexpected input;
  //! starts a health check (in the background, the server out of idle
  //! meanwhile) of each server idle or unchecked for health_check_period;
  //! and refills to min_size once the pool has been used.
  void maintain();

  //! PAUSE: leased servers finish their transactions; acquire() calls wait
  //! (without acquire_timeout) until resume(). Idempotent.
  void pause();
  //! RESUME: wakes the waiting clients, each with a fresh acquire_timeout.
  void resume();
  bool paused() const;

  //! Every open server (not those still logging in), for SHOW SERVERS.
  std::vector<ServerInfo> servers() const;

  //! Closes idle servers and refuses further leases.
  void shut_down();

  PoolStats stats() const;

  //! Data-path figures for this connection's clients (API, metrics, console).
  struct Activity {
    std::atomic<std::int64_t> clients{0};
    std::atomic<std::uint64_t> queries{0};
    std::atomic<std::uint64_t> denials{0};
    std::atomic<std::uint64_t> rate_limited{0};
  };
  Activity activity;

 private:
  struct Waiter;
  struct WaiterGuard;
  struct CheckGuard;
  //! What the pool remembers of each open server, whoever holds it. A copy,
  //! so listing never touches a server another thread is using.
  struct Tracked {
    ServerInfo::State state = ServerInfo::State::Idle;
    Clock::time_point since;
    Clock::time_point checked_at;  //!< last passed health check (epoch: never)
    Clock::time_point created_at;
    std::uint32_t backend_pid = 0;
    tcp::endpoint endpoint;
    bool tls = false;
  };

  awaitable<AcquireResult> open_server();
  void fill_to_min_locked();
  void wake_one_locked();
  void enqueue_locked(const std::shared_ptr<Waiter>& waiter);
  std::shared_ptr<Waiter> dequeue_locked();
  void hand_over_locked(std::unique_ptr<ServerConnection>& server);
  void track_locked(const ServerConnection& server, ServerInfo::State state, Clock::time_point now);
  //! True when health checks are on and the server has been neither used nor
  //! checked for health_check_period.
  bool check_due_locked(const ServerConnection& server, Clock::time_point now) const;
  //! Sends an empty Query and expects EmptyQueryResponse and ReadyForQuery
  //! 'I' within connect_timeout. Runs on the caller's strand.
  awaitable<bool> check_server(ServerConnection& server);
  static awaitable<void> check_in_background(std::shared_ptr<Pool> self,
                                             std::unique_ptr<ServerConnection> server);
  //! A background check ended: back to idle (or to a waiter), or closed.
  void finish_check(std::unique_ptr<ServerConnection> server, bool healthy);
  //! Forgets and closes a server taken out for a check that failed or was
  //! abandoned.
  void drop_checked(std::unique_ptr<ServerConnection> server);

  const std::string name_;
  const catalog::ConnInfo info_;
  const conf::PoolSettings settings_;
  UpstreamOptions upstream_options_;
  asio::any_io_executor background_;

  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<ServerConnection>> idle_;  // back = most recently used
  std::list<std::shared_ptr<Waiter>> waiters_;
  std::uint32_t total_ = 0;
  bool used_ = false;
  bool shut_down_ = false;
  bool paused_ = false;
  std::uint32_t testing_ = 0;
  std::unordered_map<const ServerConnection*, Tracked> tracked_;
  std::optional<ParameterMap> welcome_;
  PoolStats counters_;
};

}  // namespace pgwarden::daemon
