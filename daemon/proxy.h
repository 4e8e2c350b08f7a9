// The running proxy: event-loop threads, listeners, signals, reload, drain
// and the janitor.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "catalog/fernet.h"
#include "catalog/store.h"
#include "conf/config.h"
#include "daemon/admin/admin_api.h"
#include "daemon/admin/admin_server.h"
#include "daemon/admin/catalog_config.h"
#include "daemon/admin/catalog_watcher.h"
#include "daemon/asio.h"
#include "daemon/proxy_context.h"

namespace pgwarden::daemon {

class Proxy {
 public:
  //! `admin_token` empty: no admin HTTP API.
  Proxy(std::shared_ptr<const conf::Config> config, catalog::Fernet keys,
        std::shared_ptr<catalog::CatalogStore> store, std::optional<std::string> admin_token);
  //! Closes the pools' server connections while io_ still exists (context_
  //! outlives io_, for the coroutine frames io_ destroys).
  ~Proxy();

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
  //! Merges the file's config with the catalog's users and connections and
  //! builds tenants (reusing unchanged pools); error text or empty.
  std::string install(std::shared_ptr<const conf::Config> file_config);
  //! A catalog change (API or another instance): rebuild, off the loop.
  void catalog_changed();
  admin::AdminHooks make_admin_hooks();
  ConsoleHooks make_console_hooks(const admin::AdminHooks& api);
  //! Reads customer functions' volatility upstream (libpq, on blocking_) for
  //! tenants not read within schema_cache_ttl, and updates their guards.
  void refresh_function_rules();

  // Declared before io_ so it outlives the coroutine frames io_ destroys.
  ProxyContext context_;
  catalog::Fernet keys_;  //!< kept for reloads: ENCRYPTION_KEY is gone from the environment
  std::shared_ptr<catalog::CatalogStore> store_;
  std::optional<std::string> admin_token_;
  std::mutex install_mutex_;                         //!< one rebuild at a time
  std::shared_ptr<const conf::Config> file_config_;  //!< guarded by install_mutex_
  unsigned workers_;  //!< threads running io_ ([server] workers, 0 = one per core)
  asio::io_context io_;
  asio::thread_pool blocking_{2};  //!< libpq work, never on the event loop
  std::vector<tcp::acceptor> acceptors_;
  asio::signal_set stop_signals_;
  asio::signal_set reload_signals_;
  bool stopping_ = false;
  std::optional<Clock::time_point> drain_deadline_;
  bool forced_ = false;
  // After io_: destroyed before it.
  std::shared_ptr<admin::AdminApi> admin_api_;
  std::unique_ptr<admin::AdminServer> admin_server_;
  std::unique_ptr<admin::CatalogWatcher> catalog_watcher_;
};

}  // namespace pgwarden::daemon
