// admin_server_test_main: the admin HTTP API alone (catalog store, config,
// stub daemon hooks) for tests/integration/test_admin.py, until the daemon
// serves it itself. It is wired exactly as daemon/admin/README-wiring.md says.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "catalog/fernet.h"
#include "catalog/store.h"
#include "conf/config.h"
#include "daemon/admin/admin_server.h"
#include "daemon/admin/catalog_watcher.h"

namespace {

namespace admin = pgwarden::daemon::admin;
namespace asio = boost::asio;
namespace json = boost::json;

// What the stub hooks saw, reported through GET /api/pools so tests can
// assert the daemon would have been told.
struct Calls {
  std::atomic<int> connections_changed{0};
  std::atomic<int> users_changed{0};
  std::atomic<int> external_changes{0};
};

admin::AdminHooks stub_hooks(Calls& calls) {
  admin::AdminHooks hooks;
  hooks.pools = [&calls] {
    return json::value(json::object{
        {"pools", json::array()},
        {"stub", json::object{{"connections_changed", calls.connections_changed.load()},
                              {"users_changed", calls.users_changed.load()},
                              {"external_changes", calls.external_changes.load()}}}});
  };
  hooks.clients = [] { return json::value(json::object{{"clients", json::array()}}); };
  hooks.metrics_text = [] {
    return std::string(
        "# HELP pgwarden_stub_up The stub data path is present.\n"
        "# TYPE pgwarden_stub_up gauge\n"
        "pgwarden_stub_up 1\n");
  };
  hooks.connections_changed = [&calls] { ++calls.connections_changed; };
  hooks.users_changed = [&calls] { ++calls.users_changed; };
  // check_query stays empty: the API's own read-only keyword check applies.
  return hooks;
}

int run(const std::string& config_path) {
  auto loaded = pgwarden::conf::load_config(config_path);
  if (auto* error = std::get_if<pgwarden::conf::ConfigError>(&loaded)) {
    std::cerr << "admin_server_test_main: " << error->to_string() << "\n";
    return 2;
  }
  auto config = std::get<std::shared_ptr<const pgwarden::conf::Config>>(loaded);
  auto logger = spdlog::stderr_logger_mt("admin");
  logger->set_level(spdlog::level::from_str(config->log.level));
  spdlog::set_default_logger(logger);

  const char* key_env = std::getenv("ENCRYPTION_KEY");
  auto keys = pgwarden::catalog::Fernet::from_keys(key_env != nullptr ? key_env : "");
  if (auto* error = std::get_if<std::string>(&keys)) {
    std::cerr << "admin_server_test_main: ENCRYPTION_KEY: " << *error << "\n";
    return 2;
  }
  ::unsetenv("ENCRYPTION_KEY");

  auto opened = pgwarden::catalog::open_catalog_store(config->catalog.path, config->catalog.url);
  if (auto* error = std::get_if<std::string>(&opened)) {
    spdlog::critical("{}", *error);
    return 1;
  }
  auto store = std::get<std::shared_ptr<pgwarden::catalog::CatalogStore>>(opened);
  spdlog::info("catalog: {} (schema version {})", store->kind(), store->schema_version());

  const auto token = admin::load_admin_token(config->admin, std::getenv("PGWARDEN_ADMIN_TOKEN"));
  ::unsetenv("PGWARDEN_ADMIN_TOKEN");
  if (!token.error.empty()) {
    spdlog::critical("{}", token.error);
    return 1;
  }
  if (!token.token) {
    spdlog::critical("admin API disabled: set [admin] token_file or PGWARDEN_ADMIN_TOKEN");
    return 3;
  }

  Calls calls;
  admin::ApiSettings settings;
  settings.schema_cache_ttl = std::chrono::milliseconds(
      static_cast<std::int64_t>(config->catalog.schema_cache_ttl.count() * 1000));
  auto api =
      std::make_shared<admin::AdminApi>(store,
                                        std::make_shared<const pgwarden::catalog::Fernet>(
                                            std::get<pgwarden::catalog::Fernet>(std::move(keys))),
                                        config, stub_hooks(calls), settings);

  asio::io_context io;
  // Before the listener exists: a test that sees the socket may send
  // SIGTERM at once, and without a handler the signal would kill the process
  // (seen under TSan). Asio keeps a signal that arrives before async_wait.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  admin::AdminServer server(io.get_executor(), api, *token.token);
  if (auto error = server.listen(config->admin); !error.empty()) {
    spdlog::critical("{}", error);
    return 1;
  }
  server.start();
  admin::CatalogWatcher watcher(
      store,
      [&calls, hooks = api->hooks()] {
        ++calls.external_changes;
        spdlog::info("catalog: changed elsewhere; reloading");
        if (hooks.connections_changed) hooks.connections_changed();
        if (hooks.users_changed) hooks.users_changed();
      },
      [api](bool ok) { api->set_catalog_ok(ok); });

  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server.stop();
    io.stop();
  });
  spdlog::info("admin API listening on {}", server.local_address());
  std::jthread second([&io] { io.run(); });
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string_view(argv[1]) != "--config") {
    std::cerr << "usage: admin_server_test_main --config FILE\n";
    return 2;
  }
  try {
    return run(argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "admin_server_test_main: fatal: " << e.what() << "\n";
    return 1;
  }
}
