// The admin API's endpoints, independent of HTTP transport: a request goes in,
// a status and a JSON body come out. Blocking (catalog store, libpq), so the
// server runs most requests on worker threads.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "catalog/fernet.h"
#include "catalog/pq.h"
#include "catalog/probe.h"
#include "catalog/store.h"
#include "conf/config.h"
#include "daemon/admin/http_util.h"
#include "daemon/admin/prometheus.h"

namespace pgwarden::daemon::admin {

//! How the admin API reaches the rest of the daemon. Every member may be left
//! empty; the API then answers with empty lists, no data-path metrics, and
//! (check_query) a conservative keyword check.
struct AdminHooks {
  //! GET /api/pools body, e.g. {"pools": [{"user", "name", "clients_active",
  //! "clients_waiting", "servers_active", "servers_idle", "queries",
  //! "denials", "rate_limited"}]}. Runs on the event loop: must not block.
  std::function<boost::json::value()> pools;
  //! GET /api/clients body, e.g. {"clients": [...]}. Must not block.
  std::function<boost::json::value()> clients;
  //! The data path's metrics in Prometheus text format (counters and
  //! histograms per connection), appended to the admin's own. Must not block.
  std::function<std::string()> metrics_text;
  //! Connection records were created, deleted or (de)activated, here or in
  //! another process sharing the catalog: rebuild the tenant directory.
  //! Called on a worker thread.
  std::function<void()> connections_changed;
  //! Users were created or deleted (here or elsewhere). Worker thread.
  std::function<void()> users_changed;
  //! The data path's SELECT-only policy for POST .../test: true to allow;
  //! false with `why` set to deny. Worker thread.
  std::function<bool(const std::string& sql, std::string& why)> check_query;
  //! POST /api/reload: re-read the configuration file as SIGHUP does; empty
  //! on success, else why it was not applied. Worker thread.
  std::function<std::string()> reload;
};

struct ApiSettings {
  std::chrono::milliseconds schema_cache_ttl{std::chrono::hours(24)};
  //! Connect and statement timeouts of validation, tests and introspection.
  catalog::pq::ConnectOptions probe;
};

struct Request {
  std::string method;  //!< "GET", "POST", ...
  Target target;
  std::string body;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  //!< the Allow header of a 405

  static Response json(unsigned status, const boost::json::value& value);
  //! {"error": message, "hint": hint (when given)}.
  static Response error(unsigned status, std::string_view message, std::string_view hint = {});
};

class AdminApi {
 public:
  AdminApi(std::shared_ptr<catalog::CatalogStore> store,
           std::shared_ptr<const catalog::Fernet> keys, std::shared_ptr<const conf::Config> config,
           AdminHooks hooks, ApiSettings settings);

  //! True for the endpoints answered on the event loop (healthz, metrics,
  //! pools, clients): they only read memory.
  static bool is_inline(const Request& request);

  //! Routes and answers a request. Blocking unless is_inline(request).
  //! StoreError becomes 503, any other exception 500 (logged, not echoed).
  Response handle(const Request& request);

  //! Swaps the configuration (on reload): its users and connections are
  //! listed read-only.
  void set_config(std::shared_ptr<const conf::Config> config);

  //! Counts a response for pgwarden_admin_requests_total.
  void count_response(unsigned status);

  //! Marks the catalog healthy or not (the watcher's view), for /healthz.
  void set_catalog_ok(bool ok) { catalog_ok_ = ok; }

  const AdminHooks& hooks() const { return hooks_; }

 private:
  // A connection as the API sees it: from the catalog or from the config file.
  struct Resolved {
    std::string id;
    std::string user;
    std::string name;
    std::string token;
    bool from_config = false;
    std::optional<catalog::ConnectionRecord> record;
  };

  Response route(const Request& request);

  // admin_connections.cpp
  Response create_connection(const Request& request);
  Response list_connections(const Request& request);
  Response get_connection(const std::string& id);
  boost::json::object connection_item(const Resolved& connection);
  Response delete_connection(const std::string& id);
  Response patch_connection(const std::string& id, const Request& request);
  Response test_connection(const std::string& id, const Request& request);
  Response introspect_connection(const std::string& id);
  Response get_schema(const std::string& id, const Request& request);
  std::optional<Resolved> resolve(const std::string& id);
  std::variant<catalog::ConnInfo, Response> conninfo_of(const Resolved& connection);
  std::variant<boost::json::object, Response> introspect(const Resolved& connection,
                                                         const catalog::ConnInfo& info);
  bool allowed_by_policy(const std::string& sql, std::string& why) const;

  // admin_api.cpp
  Response create_user(const Request& request);
  Response list_users();
  Response delete_user(const std::string& name);
  Response health();
  Response metrics();
  Response from_hook(const std::function<boost::json::value()>& hook, std::string_view key);
  std::shared_ptr<const conf::Config> config() const;
  void observe_probe(std::string_view operation, const catalog::ProbeResult& result);
  void notify(const std::function<void()>& hook, std::string_view what);

  const std::shared_ptr<catalog::CatalogStore> store_;
  const std::shared_ptr<const catalog::Fernet> keys_;
  const AdminHooks hooks_;
  const ApiSettings settings_;

  mutable std::mutex mutex_;
  std::shared_ptr<const conf::Config> config_;
  //! Schemas of config-file connections, which have no catalog row (id -> JSON).
  std::map<std::string, std::string> config_schemas_;
  std::map<unsigned, std::uint64_t> responses_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> probe_failures_;
  std::atomic<bool> catalog_ok_{true};

  Histogram validate_seconds_{Histogram::default_seconds_buckets()};
  Histogram test_seconds_{Histogram::default_seconds_buckets()};
  Histogram introspect_seconds_{Histogram::default_seconds_buckets()};
};

//! The stable id of a connection declared in the configuration file.
std::string config_connection_id(std::string_view user, std::string_view name);

//! The response for a failed probe: the mapped status, error, hint and
//! error_kind (or the server's message for a failed statement), merged into
//! `base`.
Response probe_failure(const catalog::ProbeResult& result, boost::json::object base = {});

}  // namespace pgwarden::daemon::admin
