// What every client session shares: configuration, tenants, registry, limits.
#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "conf/config.h"
#include "daemon/admin_console.h"
#include "daemon/auth_throttle.h"
#include "daemon/session_registry.h"
#include "daemon/tenants.h"

namespace pgwarden::daemon {

class ProxyContext {
 public:
  //! The configuration and tenants in force; a reload swaps both at once.
  std::shared_ptr<const conf::Config> config() const {
    std::lock_guard lock(mutex_);
    return config_;
  }
  std::shared_ptr<TenantDirectory> tenants() const {
    std::lock_guard lock(mutex_);
    return tenants_;
  }
  //! TLS towards clients for the configuration in force; null = disabled.
  std::shared_ptr<boost::asio::ssl::context> client_tls() const {
    std::lock_guard lock(mutex_);
    return client_tls_;
  }
  void install(std::shared_ptr<const conf::Config> config, std::shared_ptr<TenantDirectory> tenants,
               std::shared_ptr<boost::asio::ssl::context> client_tls) {
    {
      std::lock_guard lock(mutex_);
      config_ = std::move(config);
      tenants_ = std::move(tenants);
      client_tls_ = std::move(client_tls);
    }
    generation.fetch_add(1, std::memory_order_release);
  }

  //! Drops the tenants (their pools close their servers): at teardown, while
  //! the io_context their sockets belong to still exists.
  void release_tenants() {
    std::shared_ptr<TenantDirectory> tenants;
    {
      std::lock_guard lock(mutex_);
      tenants = std::move(tenants_);
    }
  }

  //! Bumped by every install(): sessions re-resolve their tenant lazily, at
  //! their next transaction, only when it changed.
  std::atomic<std::uint64_t> generation{0};
  SessionRegistry sessions;
  std::atomic<std::uint32_t> clients{0};
  //! Of those, sessions dormant now (ClientSession::make_dormant_if_idle).
  std::atomic<std::uint32_t> dormant_clients{0};
  //! Set on SIGTERM: no new logins, sessions leave once idle.
  std::atomic<bool> draining{false};
  //! Answers sessions of the virtual database "pgwarden"; set before the
  //! listeners open, then only read.
  std::shared_ptr<const AdminConsole> console;
  //! Failed logins per (address, user): delays for password guessers.
  AuthThrottle auth_throttle;
  //! Seeds the mock SCRAM exchange for unknown users; random per process.
  std::string mock_secret;
  //! Called with (user, database) once a client has logged in; set before
  //! the event loop runs, then only read.
  std::function<void(const std::string&, const std::string&)> on_login;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const conf::Config> config_;
  std::shared_ptr<TenantDirectory> tenants_;
  std::shared_ptr<boost::asio::ssl::context> client_tls_;
};

}  // namespace pgwarden::daemon
