// The running proxy: event-loop threads, listeners, signals and the janitor.
#pragma once

#include <memory>
#include <vector>

#include "catalog/fernet.h"
#include "conf/config.h"
#include "daemon/asio.h"
#include "daemon/proxy_context.h"

namespace pgwarden::daemon {

class Proxy {
 public:
  explicit Proxy(std::shared_ptr<const conf::Config> config);

  //! Builds tenants (decrypting credentials) and binds every listener.
  //! Returns an error line for the operator, or empty on success.
  std::string prepare(const catalog::Fernet& keys);

  //! Serves until SIGINT/SIGTERM; returns the process exit code.
  int run();

 private:
  awaitable<void> accept_loop(tcp::acceptor& acceptor);
  awaitable<void> janitor();
  void stop();

  // Declared before io_ so it outlives the coroutine frames io_ destroys.
  ProxyContext context_;
  asio::io_context io_;
  std::vector<tcp::acceptor> acceptors_;
  asio::signal_set signals_;
  bool stopping_ = false;
};

}  // namespace pgwarden::daemon
