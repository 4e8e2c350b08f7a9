// The running proxy: event-loop threads, listeners, signals, reload, drain
// and the janitor.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "catalog/fernet.h"
#include "conf/config.h"
#include "daemon/asio.h"
#include "daemon/proxy_context.h"

namespace pgwarden::daemon {

class Proxy {
 public:
  Proxy(std::shared_ptr<const conf::Config> config, catalog::Fernet keys);

  //! Builds tenants (decrypting credentials) and binds every listener.
  //! Returns an error line for the operator, or empty on success.
  std::string prepare();

  //! Serves until SIGINT/SIGTERM and the drain that follows; returns the
  //! process exit code.
  int run();

  //! Re-reads the configuration file and swaps it in whole; on any error the
  //! running configuration stays. Returns the error, or empty.
  std::string reload();

 private:
  awaitable<void> accept_loop(tcp::acceptor& acceptor);
  awaitable<void> janitor();
  void wait_for_signals();
  void wait_for_reload();
  void begin_shutdown();

  // Declared before io_ so it outlives the coroutine frames io_ destroys.
  ProxyContext context_;
  catalog::Fernet keys_;  //!< kept for reloads: ENCRYPTION_KEY is gone from the environment
  asio::io_context io_;
  std::vector<tcp::acceptor> acceptors_;
  asio::signal_set stop_signals_;
  asio::signal_set reload_signals_;
  bool stopping_ = false;
  std::optional<Clock::time_point> drain_deadline_;
  bool forced_ = false;
};

}  // namespace pgwarden::daemon
