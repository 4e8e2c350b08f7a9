// Building the tenant directory from configuration.
#include "daemon/tenants.h"

#include <fmt/format.h>

#include "catalog/conninfo.h"
#include "daemon/audit.h"

namespace pgwarden::daemon {

namespace {

bool same_pool_settings(const conf::PoolSettings& a, const conf::PoolSettings& b) {
  return a.min_size == b.min_size && a.max_size == b.max_size &&
         a.acquire_timeout == b.acquire_timeout && a.connect_timeout == b.connect_timeout &&
         a.query_timeout == b.query_timeout && a.server_idle_timeout == b.server_idle_timeout &&
         a.server_lifetime == b.server_lifetime &&
         a.idle_transaction_timeout == b.idle_transaction_timeout;
}

}  // namespace

std::variant<std::shared_ptr<TenantDirectory>, std::string> TenantDirectory::build(
    const conf::Config& config, const catalog::Fernet& keys, asio::any_io_executor background,
    const TenantDirectory* previous) {
  auto directory = std::make_shared<TenantDirectory>();
  for (const auto& connection : config.connections) {
    const std::shared_ptr<Tenant> old =
        previous ? previous->find(connection.user, connection.name) : nullptr;
    const auto where = fmt::format("{}: connection \"{}\" of user \"{}\"", config.source,
                                   connection.name, connection.user);
    auto plaintext = keys.decrypt(connection.connection_string_encrypted);
    if (!plaintext) {
      return fmt::format(
          "{}: connection_string_encrypted cannot be decrypted with ENCRYPTION_KEY (wrong key, "
          "or not a Fernet token)",
          where);
    }
    auto parsed = catalog::parse_conninfo(*plaintext);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      return fmt::format("{}: connection string: {}", where, *error);
    }
    auto& info = std::get<catalog::ConnInfo>(parsed);
    std::string tls_error;
    auto tls = make_upstream_tls_context(info, tls_error);
    if (!tls_error.empty()) return fmt::format("{}: {}", where, tls_error);
    auto tenant = std::make_shared<Tenant>();
    tenant->user = connection.user;
    tenant->name = connection.name;
    tenant->connection_string_encrypted = connection.connection_string_encrypted;
    if (old && old->connection_string_encrypted == connection.connection_string_encrypted &&
        same_pool_settings(old->pool->settings(), connection.pool)) {
      tenant->pool = old->pool;
    } else {
      tenant->pool = std::make_shared<Pool>(connection.name, std::move(info), connection.pool,
                                            std::move(tls), background);
    }
    tenant->limits = connection.limits;
    policy::FunctionRules rules;
    rules.allowed.insert(connection.limits.allow_functions.begin(),
                         connection.limits.allow_functions.end());
    policy::ClassifierOptions options;
    options.max_query_bytes = connection.limits.max_query_size;
    // pgbench -M simple and most ORMs send a new literal every time: share
    // decisions across literal values where the guard proves that is sound.
    options.normalize_literals = true;
    // The fingerprint is for the audit trail only; without one, a cache miss
    // skips its walk of the tree (a third of a cold classify).
    options.fingerprints = audit::mode() != audit::Mode::Off;
    tenant->classifier = std::make_shared<policy::Classifier>(options, std::move(rules));
    if (old && old->limits.queries_per_minute == connection.limits.queries_per_minute &&
        old->limits.burst == connection.limits.burst) {
      tenant->rate = old->rate;
    } else {
      tenant->rate = std::make_shared<policy::RateLimiter>(connection.limits.queries_per_minute,
                                                           connection.limits.burst);
    }
    directory->tenants_.emplace(std::pair{connection.user, connection.name}, std::move(tenant));
  }
  return directory;
}

void TenantDirectory::retire_pools_not_in(const TenantDirectory& next) const {
  for (const auto& [key, tenant] : tenants_) {
    auto kept = next.find(tenant->user, tenant->name);
    if (!kept || kept->pool != tenant->pool) tenant->pool->shut_down();
  }
}

std::shared_ptr<Tenant> TenantDirectory::find(std::string_view user, std::string_view name) const {
  auto it = tenants_.find(std::pair{std::string(user), std::string(name)});
  return it == tenants_.end() ? nullptr : it->second;
}

}  // namespace pgwarden::daemon
