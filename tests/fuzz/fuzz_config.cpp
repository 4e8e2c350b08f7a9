// libFuzzer target for the TOML configuration loader (conf::parse_config, the
// text half of load_config). Any text in: a validated Config or one
// ConfigError naming the source, never an exception or a crash. An accepted
// Config holds what validation promises, and loading is deterministic (a
// reload of an unchanged file gives the same answer).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "conf/config.h"
#include "protocol/scram.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pgwarden::conf;
using pgwarden::fuzz::check;

const std::string kSource = "fuzz.toml";

void check_pool(const PoolSettings& pool) {
  check(pool.min_size <= pool.max_size && pool.max_size >= 1, "pool sizes");
  check(pool.acquire_timeout.count() > 0 && pool.connect_timeout.count() > 0 &&
            pool.query_timeout.count() > 0,
        "pool timeouts must be > 0");
  check(pool.server_idle_timeout.count() >= 0 && pool.server_lifetime.count() >= 0 &&
            pool.idle_transaction_timeout.count() >= 0,
        "negative pool duration");
}

void check_limits(const LimitSettings& limits) {
  check(limits.queries_per_minute >= 0 && limits.burst >= 0, "negative rate");
  check(limits.queries_per_minute == limits.queries_per_minute && limits.burst == limits.burst,
        "NaN rate");
}

void check_config(const Config& c) {
  check(c.source == kSource, "source");
  check(!c.server.listen.empty(), "no listen address");
  check(c.server.auth_timeout.count() > 0, "auth_timeout must be > 0");
  check(c.server.max_client_connections >= 1, "max_client_connections");
  check_pool(c.pool);
  check_limits(c.limits);
  std::set<std::string> users;
  for (const UserConfig& user : c.users) {
    check(users.insert(user.name).second, "duplicate user accepted");
    check(c.find_user(user.name) == &user, "find_user");
    check(pgwarden::protocol::parse_scram_verifier(user.verifier).has_value(),
          "user verifier does not parse");
  }
  std::set<std::pair<std::string, std::string>> connections;
  for (const ConnectionConfig& connection : c.connections) {
    check(connections.emplace(connection.user, connection.name).second,
          "duplicate connection accepted");
    check(c.find_user(connection.user) != nullptr, "connection of an unknown user");
    check(c.find_connection(connection.user, connection.name) == &connection, "find_connection");
    check_pool(connection.pool);
    check_limits(connection.limits);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view toml(reinterpret_cast<const char*>(data), size);
  auto first = parse_config(toml, kSource);
  auto second = parse_config(toml, kSource);
  check(first.index() == second.index(), "loading is not deterministic");
  if (auto* error = std::get_if<ConfigError>(&first)) {
    check(error->file == kSource && !error->message.empty(), "error without source or message");
    check(error->to_string().starts_with(kSource + ":"), "error text does not name the file");
    check(error->to_string() == std::get<ConfigError>(second).to_string(),
          "two loads give different errors");
    return 0;
  }
  const auto& config = std::get<std::shared_ptr<const Config>>(first);
  check(config != nullptr, "null config");
  check_config(*config);
  return 0;
}
