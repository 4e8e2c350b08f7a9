// The configuration model: loaded from TOML once, validated, immutable, and
// swapped whole on reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgwarden::conf {

using Seconds = std::chrono::duration<double>;

struct ListenAddress {
  std::string host;  //!< IPv4 or IPv6 literal, or "localhost"
  std::uint16_t port = 6432;
};

//! Pool settings: [pool] gives the defaults, a [[connections]] entry may
//! override any of them.
struct PoolSettings {
  std::uint32_t min_size = 2;
  std::uint32_t max_size = 10;
  //! How long a client waits for a free server before it gets an error
  //! (PgBouncer's query_wait_timeout).
  Seconds acquire_timeout{30};
  //! TCP connect + TLS + upstream authentication.
  Seconds connect_timeout{5};
  //! Upstream statement_timeout and the proxy's own query deadline.
  Seconds query_timeout{30};
  //! Close servers idle longer than this, down to min_size (0 = never).
  Seconds server_idle_timeout{600};
  //! Close servers older than this when they next become idle (0 = never).
  Seconds server_lifetime{3600};
  //! Close a client idle inside a transaction longer than this (0 = never).
  Seconds idle_transaction_timeout{0};
  //! Check a server connection that has been idle this long with an empty
  //! query before handing it out again; checks also run on idle servers
  //! every period (0 = never).
  Seconds health_check_period{60};
  //! Statements pgwarden keeps prepared on each server connection for its
  //! clients' named statements; the least recently used is closed beyond
  //! this (PgBouncer's max_prepared_statements).
  std::uint32_t max_prepared_statements = 200;
};

//! The query guard's limits: [limits] gives the defaults, a [[connections]]
//! entry may override any of them.
struct LimitSettings {
  //! Statements per minute reaching upstream, per connection record across
  //! all its clients (token bucket); 0 = unlimited.
  double queries_per_minute = 100;
  //! Bucket size: how many may run back to back; 0 = a tenth of a minute's
  //! worth (at least 1).
  double burst = 0;
  //! Rows / bytes one statement may return before it is cancelled; 0 = no cap.
  std::uint64_t max_result_rows = 0;
  std::uint64_t max_result_bytes = 0;
  //! Customer functions allowed although the catalog does not say they are
  //! IMMUTABLE or STABLE (lower-case, unqualified names).
  std::vector<std::string> allow_functions;
  //! Log the statement text in audit lines (never parameters).
  bool log_query_text = false;
  //! Longest statement text the guard accepts; longer gets 54000 and the
  //! session goes on. (Messages past [server] max_message_size end it.)
  std::uint32_t max_query_size = 1U << 20;
};

//! TLS towards clients ([server.tls]).
struct ClientTlsSettings {
  //! "disable": answer SSLRequest with N. "allow"/"prefer": accept TLS when a
  //! client asks, plaintext otherwise. "require": refuse plaintext startups.
  std::string mode = "disable";
  std::string cert_file;  //!< PEM certificate chain (required unless disable)
  std::string key_file;   //!< PEM private key (required unless disable)
  //! When set, clients must present a certificate signed by one of these CAs.
  std::string client_ca_file;
  std::string min_version = "TLSv1.2";  //!< "TLSv1.2" or "TLSv1.3"
  bool enabled() const { return mode != "disable"; }
};

struct ServerSettings {
  std::vector<ListenAddress> listen{{"127.0.0.1", 6432}};
  //! Event-loop threads; 0 = one per core.
  std::uint32_t workers = 0;
  std::uint32_t max_client_connections = 1000;
  //! Startup + authentication must finish within this.
  Seconds auth_timeout{10};
  //! Close clients idle (outside a transaction) longer than this (0 = never).
  Seconds client_idle_timeout{0};
  //! Cap on one client message (Query, Parse, Bind...), bytes; a bigger one
  //! is a protocol violation that closes the session.
  std::uint32_t max_message_size = 16U << 20;
  //! On SIGTERM: how long open transactions may run on before their clients
  //! are disconnected anyway (idle clients go at once).
  Seconds shutdown_grace{30};
  //! SO_REUSEPORT on the client listeners, so a new instance can bind the
  //! same addresses while the old one drains (rolling restart).
  bool reuse_port = false;
  ClientTlsSettings tls;
};

struct LogSettings {
  std::string level = "info";  //!< trace, debug, info, warn, error
  //! Audit trail, one JSON line per guard decision: "all", "denied" or "off".
  std::string audit = "all";
};

//! The admin HTTP API ([admin]).
struct AdminSettings {
  //! TCP address of the API; loopback by default.
  ListenAddress listen{"127.0.0.1", 6480};
  //! When set (listen = "unix:/path"), the API listens on this Unix-domain
  //! socket instead of TCP.
  std::string unix_socket;
  //! File holding the bearer token; when empty, PGWARDEN_ADMIN_TOKEN is used.
  std::string token_file;
  //! A second listener for the API on this Unix-domain socket (mode 0660),
  //! next to the TCP one; empty = none.
  std::string socket;
  //! Users (from [[users]] or the catalog) who may open the psql admin
  //! console: database "pgwarden" on the client port.
  std::vector<std::string> users;
};

//! Where connection records and users live ([catalog]).
struct CatalogSettings {
  //! SQLite file; empty = the default location (catalog::default_catalog_path).
  std::string path;
  //! libpq URI of a shared PostgreSQL catalog; when set, path is not used.
  //! Holds a password: never part of a message.
  std::string url;
  //! How long an introspected schema is served from the cache.
  Seconds schema_cache_ttl{86400};
};

struct UserConfig {
  std::string name;
  std::string verifier;  //!< SCRAM-SHA-256$..., validated at load
};

struct ConnectionConfig {
  std::string user;                         //!< owning user; clients log in as this user
  std::string name;                         //!< clients use it as the database name
  std::string connection_string_encrypted;  //!< Fernet token of a libpq URI
  PoolSettings pool;                        //!< [pool] defaults with this entry's overrides applied
  LimitSettings limits;                     //!< [limits] defaults with this entry's overrides
};

struct Config {
  std::string source;  //!< path the config was loaded from
  ServerSettings server;
  PoolSettings pool;
  LimitSettings limits;
  LogSettings log;
  AdminSettings admin;
  CatalogSettings catalog;
  std::vector<UserConfig> users;
  std::vector<ConnectionConfig> connections;

  const UserConfig* find_user(std::string_view name) const;
  //! The connection `name` owned by `user`, or nullptr.
  const ConnectionConfig* find_connection(std::string_view user, std::string_view name) const;
};

//! One precise complaint: "FILE:LINE:COL: KEY: WHAT".
struct ConfigError {
  std::string file;
  std::uint32_t line = 0;  //!< 0 when not tied to a line
  std::uint32_t column = 0;
  std::string key;  //!< dotted path, e.g. "connections[1].user"
  std::string message;
  std::string to_string() const;
};

//! Loads and validates a TOML file. Unknown keys, wrong types, out-of-range
//! values, duplicate users or (user, name) pairs, connections naming unknown
//! users, verifiers that do not parse and min_size > max_size are errors.
std::variant<std::shared_ptr<const Config>, ConfigError> load_config(const std::string& path);
//! Same, from TOML text (source names it in errors).
std::variant<std::shared_ptr<const Config>, ConfigError> parse_config(std::string_view toml,
                                                                      const std::string& source);

}  // namespace pgwarden::conf
