// The connection records clients can reach, each with its pool, built from the
// configuration with credentials decrypted in memory only.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "catalog/fernet.h"
#include "conf/config.h"
#include "daemon/pool.h"
#include "policy/classifier.h"
#include "policy/rate_limiter.h"

namespace pgwarden::daemon {

struct Tenant {
  std::string user;
  std::string name;
  std::string connection_string_encrypted;  //!< to tell on reload whether it changed
  std::shared_ptr<Pool> pool;
  conf::LimitSettings limits;
  //! The query guard for this connection (its function rules are its own).
  std::shared_ptr<policy::Classifier> classifier;
  //! Statements per minute, shared by all of this connection's clients.
  std::shared_ptr<policy::RateLimiter> rate;
  //! When the customer functions' volatility was last read upstream (so the
  //! guard may allow the IMMUTABLE/STABLE ones); zero: never.
  mutable std::atomic<Clock::rep> functions_read_at{0};
};

class TenantDirectory {
 public:
  //! Decrypts and parses every connection string; an error names the entry
  //! (user and name) and the problem, never the secret.
  //! With `previous` (a reload), a connection whose credentials and pool
  //! settings did not change keeps its pool and open server connections, and
  //! its rate limiter if the rate did not change either.
  static std::variant<std::shared_ptr<TenantDirectory>, std::string> build(
      const conf::Config& config, const catalog::Fernet& keys, asio::any_io_executor background,
      const TenantDirectory* previous = nullptr);

  //! The connection `name` owned by `user`, or nullptr.
  std::shared_ptr<Tenant> find(std::string_view user, std::string_view name) const;

  //! Shuts down the pools of this directory that `next` does not carry over
  //! (deleted, deactivated or changed connections): idle servers close now,
  //! leased ones when their transaction ends, and no new lease is given.
  void retire_pools_not_in(const TenantDirectory& next) const;

  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [key, tenant] : tenants_) f(*tenant);
  }

 private:
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Tenant>, std::less<>> tenants_;
};

}  // namespace pgwarden::daemon
