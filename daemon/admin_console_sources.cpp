// Reads pools, servers, connection records and the configuration into the
// JSON shapes the admin console shows.
#include "daemon/admin_console_sources.h"

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "daemon/tenants.h"

namespace pgwarden::daemon {

namespace json = boost::json;

namespace {

std::int64_t whole_seconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

std::string seconds(conf::Seconds s) {
  return fmt::format("{:g}", s.count());
}

std::string yes_no(bool b) {
  return b ? "true" : "false";
}

std::string number(double d) {
  return fmt::format("{:g}", d);
}

std::string address(const conf::ListenAddress& a) {
  return a.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", a.host, a.port)
                                               : fmt::format("{}:{}", a.host, a.port);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

//! Key, value and default, both rendered by `show` from the two configs.
class Rows {
 public:
  Rows(const conf::Config& config, const conf::Config& defaults)
      : config_(config), defaults_(defaults) {}

  template <typename Show>
  void add(std::string_view key, Show show) {
    rows_.push_back(
        json::object{{"key", key}, {"value", show(config_)}, {"default", show(defaults_)}});
  }

  json::array take() { return std::move(rows_); }

 private:
  const conf::Config& config_;
  const conf::Config& defaults_;
  json::array rows_;
};

}  // namespace

json::value console_servers(const TenantDirectory& tenants) {
  json::array servers;
  tenants.for_each([&](const Tenant& tenant) {
    for (const auto& server : tenant.pool->servers()) {
      servers.push_back(json::object{
          {"user", tenant.user},
          {"name", tenant.name},
          {"state", to_string(server.state)},
          {"address", server.endpoint.address().to_string()},
          {"port", server.endpoint.port()},
          {"tls", server.tls},
          {"backend_pid", server.backend_pid},
          {"age_seconds", whole_seconds(server.age)},
          {"state_seconds", whole_seconds(server.in_state)},
      });
    }
  });
  return json::object{{"servers", std::move(servers)}};
}

json::value console_stats(const TenantDirectory& tenants) {
  json::array stats;
  tenants.for_each([&](const Tenant& tenant) {
    const auto pool = tenant.pool->stats();
    const auto& activity = tenant.pool->activity;
    stats.push_back(json::object{
        {"user", tenant.user},
        {"name", tenant.name},
        {"leases", pool.leases},
        {"queries", activity.queries.load()},
        {"denials", activity.denials.load()},
        {"rate_limited", activity.rate_limited.load()},
        {"connect_failures", pool.connect_failures},
        {"wait_timeouts", pool.wait_timeouts},
        {"health_checks", pool.health_checks},
        {"health_check_failures", pool.health_check_failures},
    });
  });
  return json::object{{"stats", std::move(stats)}};
}

json::value console_connections(const TenantDirectory& tenants) {
  json::array connections;
  tenants.for_each([&](const Tenant& tenant) {
    const auto& info = tenant.pool->info();
    const auto& settings = tenant.pool->settings();
    connections.push_back(json::object{
        {"user", tenant.user},
        {"name", tenant.name},
        {"host", info.host},
        {"port", info.port},
        {"database", info.dbname.empty() ? info.user : info.dbname},
        {"ssl_mode", catalog::to_string(info.ssl_mode)},
        {"min_size", settings.min_size},
        {"max_size", settings.max_size},
        {"paused", tenant.pool->paused()},
    });
  });
  return json::object{{"connections", std::move(connections)}};
}

json::value console_config(const conf::Config& config) {
  const conf::Config defaults;
  Rows rows(config, defaults);
  using C = const conf::Config&;
  rows.add("server.listen", [](C c) {
    std::vector<std::string> list;
    for (const auto& a : c.server.listen) list.push_back(address(a));
    return join(list);
  });
  rows.add("server.workers", [](C c) { return std::to_string(c.server.workers); });
  rows.add("server.max_client_connections",
           [](C c) { return std::to_string(c.server.max_client_connections); });
  rows.add("server.auth_timeout", [](C c) { return seconds(c.server.auth_timeout); });
  rows.add("server.client_idle_timeout", [](C c) { return seconds(c.server.client_idle_timeout); });
  rows.add("server.max_message_size",
           [](C c) { return std::to_string(c.server.max_message_size); });
  rows.add("server.shutdown_grace", [](C c) { return seconds(c.server.shutdown_grace); });
  rows.add("server.reuse_port", [](C c) { return yes_no(c.server.reuse_port); });
  rows.add("server.tls.mode", [](C c) { return c.server.tls.mode; });
  rows.add("server.tls.cert_file", [](C c) { return c.server.tls.cert_file; });
  rows.add("server.tls.key_file", [](C c) { return c.server.tls.key_file; });
  rows.add("server.tls.client_ca_file", [](C c) { return c.server.tls.client_ca_file; });
  rows.add("server.tls.min_version", [](C c) { return c.server.tls.min_version; });
  rows.add("pool.min_size", [](C c) { return std::to_string(c.pool.min_size); });
  rows.add("pool.max_size", [](C c) { return std::to_string(c.pool.max_size); });
  rows.add("pool.acquire_timeout", [](C c) { return seconds(c.pool.acquire_timeout); });
  rows.add("pool.connect_timeout", [](C c) { return seconds(c.pool.connect_timeout); });
  rows.add("pool.query_timeout", [](C c) { return seconds(c.pool.query_timeout); });
  rows.add("pool.server_idle_timeout", [](C c) { return seconds(c.pool.server_idle_timeout); });
  rows.add("pool.server_lifetime", [](C c) { return seconds(c.pool.server_lifetime); });
  rows.add("pool.idle_transaction_timeout",
           [](C c) { return seconds(c.pool.idle_transaction_timeout); });
  rows.add("pool.health_check_period", [](C c) { return seconds(c.pool.health_check_period); });
  rows.add("limits.queries_per_minute", [](C c) { return number(c.limits.queries_per_minute); });
  rows.add("limits.burst", [](C c) { return number(c.limits.burst); });
  rows.add("limits.max_result_rows", [](C c) { return std::to_string(c.limits.max_result_rows); });
  rows.add("limits.max_result_bytes",
           [](C c) { return std::to_string(c.limits.max_result_bytes); });
  rows.add("limits.allow_functions", [](C c) { return join(c.limits.allow_functions); });
  rows.add("limits.log_query_text", [](C c) { return yes_no(c.limits.log_query_text); });
  rows.add("limits.max_query_size", [](C c) { return std::to_string(c.limits.max_query_size); });
  rows.add("log.level", [](C c) { return c.log.level; });
  rows.add("log.audit", [](C c) { return c.log.audit; });
  rows.add("admin.listen", [](C c) {
    return c.admin.unix_socket.empty() ? address(c.admin.listen) : "unix:" + c.admin.unix_socket;
  });
  // The path only: the token itself is a secret.
  rows.add("admin.token_file", [](C c) { return c.admin.token_file; });
  rows.add("admin.socket", [](C c) { return c.admin.socket; });
  rows.add("admin.users", [](C c) { return join(c.admin.users); });
  rows.add("catalog.path", [](C c) { return c.catalog.path; });
  // A libpq URI with a password: only whether it is set.
  rows.add("catalog.url", [](C c) {
    return c.catalog.url.empty() ? std::string() : std::string("(set, hidden)");
  });
  rows.add("catalog.schema_cache_ttl", [](C c) { return seconds(c.catalog.schema_cache_ttl); });
  rows.add("users", [](C c) { return fmt::format("{} defined", c.users.size()); });
  rows.add("connections", [](C c) { return fmt::format("{} defined", c.connections.size()); });
  return json::object{{"config", rows.take()}};
}

}  // namespace pgwarden::daemon
