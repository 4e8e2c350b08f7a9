// pgwarden: the daemon's entry point and its helper subcommands.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string_view>

#include "catalog/fernet.h"
#include "catalog/store.h"
#include "conf/config.h"
#include "daemon/admin/http_util.h"
#include "daemon/audit.h"
#include "daemon/cli.h"
#include "daemon/proxy.h"

namespace {

constexpr std::string_view kUsage =
    R"(usage: pgwarden --config FILE     run the proxy in the foreground
       pgwarden keygen            print a new Fernet key (for ENCRYPTION_KEY)
       pgwarden encrypt           read a secret on stdin, print its Fernet token
       pgwarden verifier          read a password on stdin, print its SCRAM-SHA-256 verifier
       pgwarden --check-config FILE  validate a configuration file and exit
       pgwarden rotate-key --config FILE  re-encrypt catalog records under the first key
       pgwarden --version
environment: ENCRYPTION_KEY  comma-separated Fernet keys; the first encrypts
             (or the systemd credential encryption_key)
)";

void configure_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("pgwarden");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

//! The Fernet key list: ENCRYPTION_KEY, or the systemd credential
//! "encryption_key" (LoadCredential/LoadCredentialEncrypted). The variable is
//! removed from the environment once read: children and readers of
//! /proc/<pid>/environ do not need it.
bool read_encryption_key(std::string& keys) {
  if (const char* env = std::getenv("ENCRYPTION_KEY"); env != nullptr && *env != '\0') {
    keys = env;
    ::unsetenv("ENCRYPTION_KEY");
    return true;
  }
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr && *dir != '\0') {
    std::ifstream file(std::string(dir) + "/encryption_key");
    if (file) {
      std::getline(file, keys);
      if (!keys.empty()) return true;
    }
  }
  std::cerr << "pgwarden: ENCRYPTION_KEY is not set (nor the systemd credential encryption_key); "
               "set it to the Fernet key that encrypted the connection strings (make one with "
               "`pgwarden keygen`)\n";
  return false;
}

namespace conf = pgwarden::conf;
namespace catalog = pgwarden::catalog;

// Each step of start-up reports its own failure on stderr and yields nothing.

std::shared_ptr<const conf::Config> load_or_report(const std::string& path) {
  auto loaded = conf::load_config(path);
  if (auto* error = std::get_if<conf::ConfigError>(&loaded)) {
    std::cerr << "pgwarden: " << error->to_string() << "\n";
    return nullptr;
  }
  return std::get<std::shared_ptr<const conf::Config>>(loaded);
}

std::optional<catalog::Fernet> keys_or_report() {
  std::string key_text;
  if (!read_encryption_key(key_text)) return std::nullopt;
  auto keys = catalog::Fernet::from_keys(key_text);
  if (auto* error = std::get_if<std::string>(&keys)) {
    std::cerr << "pgwarden: ENCRYPTION_KEY: " << *error << "\n";
    return std::nullopt;
  }
  return std::get<catalog::Fernet>(std::move(keys));
}

std::shared_ptr<catalog::CatalogStore> store_or_report(const conf::Config& config) {
  auto opened = catalog::open_catalog_store(config.catalog.path, config.catalog.url);
  if (auto* error = std::get_if<std::string>(&opened)) {
    std::cerr << "pgwarden: " << *error << "\n";
    return nullptr;
  }
  return std::get<std::shared_ptr<catalog::CatalogStore>>(opened);
}

//! rotate-key: re-encrypt every catalog record under the first key.
int rotate_key(const std::string& config_path) {
  const auto config = load_or_report(config_path);
  if (!config) return 2;
  auto keys = keys_or_report();
  if (!keys) return 2;
  const auto store = store_or_report(*config);
  if (!store) return 1;
  const auto result = catalog::rotate_connection_keys(*store, *keys);
  std::cout << "re-encrypted " << result.rotated << " connection(s) under the first key\n";
  if (result.undecryptable > 0) {
    std::cerr << "pgwarden: " << result.undecryptable
              << " record(s) no key in ENCRYPTION_KEY decrypts; left as they were\n";
    return 1;
  }
  return 0;
}

//! --check-config: load and validate, print one line, start nothing.
int check_config(const std::string& config_path) {
  const auto config = load_or_report(config_path);
  if (!config) return 2;
  std::cout << config_path << ": OK (" << config->users.size() << " user(s), "
            << config->connections.size() << " connection(s))\n";
  return 0;
}

int serve(const std::string& config_path) {
  const auto config = load_or_report(config_path);
  if (!config) return 2;
  auto keys = keys_or_report();
  if (!keys) return 2;
  auto store = store_or_report(*config);
  if (!store) return 1;
  auto token = pgwarden::daemon::admin::load_admin_token(
      config->admin, std::getenv("PGWARDEN_ADMIN_TOKEN"), std::getenv("CREDENTIALS_DIRECTORY"));
  ::unsetenv("PGWARDEN_ADMIN_TOKEN");  // like ENCRYPTION_KEY: not for children or /proc readers
  if (!token.error.empty()) {
    std::cerr << "pgwarden: " << token.error << "\n";
    return 2;
  }

  configure_logging(config->log.level);
  pgwarden::daemon::audit::configure(config->log.audit);
  pgwarden::daemon::Proxy proxy(config, std::move(*keys), std::move(store), std::move(token.token));
  if (auto error = proxy.prepare(); !error.empty()) {
    spdlog::critical("{}", error);
    return 1;
  }
  const int status = proxy.run();
  pgwarden::daemon::audit::flush();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "keygen") return pgwarden::daemon::run_keygen(std::cout);
  if (args.size() == 1 && args[0] == "encrypt") {
    return pgwarden::daemon::run_encrypt(std::cin, std::cout, std::cerr);
  }
  if (args.size() == 1 && args[0] == "verifier") {
    return pgwarden::daemon::run_verifier(std::cin, std::cout, std::cerr);
  }
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "pgwarden " PGWARDEN_VERSION "\n";
    return 0;
  }
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  if (args.size() == 2 && args[0] == "--check-config") return check_config(std::string(args[1]));
  if (args.size() == 3 && args[0] == "rotate-key" && (args[1] == "--config" || args[1] == "-c")) {
    return rotate_key(std::string(args[2]));
  }
  if (args.size() == 2 && (args[0] == "--config" || args[0] == "-c")) {
    try {
      return serve(std::string(args[1]));
    } catch (const std::exception& e) {
      std::cerr << "pgwarden: fatal: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << kUsage;
  return 2;
}
