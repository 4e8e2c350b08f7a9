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
#include <variant>

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
  std::uint32_t waiting = 0;  //!< clients queued for a server
  std::uint64_t leases = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t wait_timeouts = 0;
};

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

  //! Gives a leased server back. Only clean servers (ReadyForQuery idle,
  //! nothing outstanding) may be reused; anything else is closed.
  void release(std::unique_ptr<ServerConnection> server, bool reusable);

  //! Reported parameters of the first server this pool opened, which clients
  //! are shown at login (PgBouncer's "welcome message").
  std::optional<ParameterMap> welcome() const;

  //! Periodic upkeep (janitor): closes servers idle past server_idle_timeout
  //! down to min_size, past server_lifetime, or with unexpected input, and
  //! refills to min_size once the pool has been used.
  void maintain();

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

  awaitable<AcquireResult> open_server();
  void fill_to_min_locked();
  void wake_one_locked();
  void hand_over_locked(std::unique_ptr<ServerConnection>& server);

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
  std::optional<ParameterMap> welcome_;
  PoolStats counters_;
};

}  // namespace pgwarden::daemon
