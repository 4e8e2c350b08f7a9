// Admin API routing, users, health, pools/clients and metrics.
#include "daemon/admin/admin_api.h"

#include <spdlog/spdlog.h>

#include "daemon/admin/connection_request.h"
#include "protocol/scram.h"

namespace pgwarden::daemon::admin {
namespace {

namespace json = boost::json;

bool is(const Request& r, std::string_view method) {
  return r.method == method;
}

Response method_not_allowed(std::string_view allow) {
  Response r = Response::error(405, "method not allowed; use " + std::string(allow));
  r.allow = std::string(allow);
  return r;
}

}  // namespace

Response Response::json(unsigned status, const json::value& value) {
  Response r;
  r.status = status;
  r.body = json::serialize(value);
  return r;
}

Response Response::error(unsigned status, std::string_view message, std::string_view hint) {
  json::object body{{"error", message}};
  if (!hint.empty()) body["hint"] = hint;
  return json(status, body);
}

AdminApi::AdminApi(std::shared_ptr<catalog::CatalogStore> store,
                   std::shared_ptr<const catalog::Fernet> keys,
                   std::shared_ptr<const conf::Config> config, AdminHooks hooks,
                   ApiSettings settings)
    : store_(std::move(store)),
      keys_(std::move(keys)),
      hooks_(std::move(hooks)),
      settings_(std::move(settings)),
      config_(std::move(config)) {}

bool AdminApi::is_inline(const Request& request) {
  const auto& s = request.target.segments;
  if (s.size() == 1) return s[0] == "healthz" || s[0] == "metrics";
  return s.size() == 2 && s[0] == "api" && (s[1] == "pools" || s[1] == "clients");
}

void AdminApi::set_config(std::shared_ptr<const conf::Config> config) {
  std::lock_guard lock(mutex_);
  config_ = std::move(config);
}

std::shared_ptr<const conf::Config> AdminApi::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

void AdminApi::count_response(unsigned status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

Response AdminApi::handle(const Request& request) {
  try {
    Response response = route(request);
    return response;
  } catch (const catalog::StoreError& e) {
    catalog_ok_ = false;
    spdlog::error("admin: {} {}: catalog: {}", request.method,
                  request.target.segments.empty() ? "/" : request.target.segments[0], e.what());
    return Response::error(503, "The catalog is unavailable; try again later.");
  } catch (const std::exception& e) {
    spdlog::error("admin: {} request failed: {}", request.method, e.what());
    return Response::error(500, "internal error");
  }
}

Response AdminApi::route(const Request& request) {
  const auto& s = request.target.segments;
  if (s.size() == 1 && s[0] == "healthz") {
    return is(request, "GET") ? health() : method_not_allowed("GET");
  }
  if (s.size() == 1 && s[0] == "metrics") {
    return is(request, "GET") ? metrics() : method_not_allowed("GET");
  }
  if (s.empty() || s[0] != "api" || s.size() < 2) return Response::error(404, "no such endpoint");

  if (s.size() == 2 && s[1] == "pools") {
    return is(request, "GET") ? from_hook(hooks_.pools, "pools") : method_not_allowed("GET");
  }
  if (s.size() == 2 && s[1] == "reload") {
    if (!is(request, "POST")) return method_not_allowed("POST");
    if (!hooks_.reload) return Response::error(404, "no such endpoint");
    // Config errors name file, line and key, never a value: safe to return.
    if (auto error = hooks_.reload(); !error.empty()) {
      return Response::error(422, "reload failed, keeping the running configuration: " + error);
    }
    return Response::json(200, json::object{{"status", "reloaded"}});
  }
  if (s.size() == 2 && s[1] == "clients") {
    return is(request, "GET") ? from_hook(hooks_.clients, "clients") : method_not_allowed("GET");
  }
  if (s[1] == "connections") {
    if (s.size() == 2) {
      if (is(request, "GET")) return list_connections(request);
      if (is(request, "POST")) return create_connection(request);
      return method_not_allowed("GET, POST");
    }
    const std::string& id = s[2];
    if (s.size() == 3) {
      if (is(request, "GET")) return get_connection(id);
      if (is(request, "DELETE")) return delete_connection(id);
      if (is(request, "PATCH")) return patch_connection(id, request);
      return method_not_allowed("GET, DELETE, PATCH");
    }
    if (s.size() == 4 && s[3] == "test") {
      return is(request, "POST") ? test_connection(id, request) : method_not_allowed("POST");
    }
    if (s.size() == 4 && s[3] == "introspect") {
      return is(request, "POST") ? introspect_connection(id) : method_not_allowed("POST");
    }
    if (s.size() == 4 && s[3] == "schema") {
      return is(request, "GET") ? get_schema(id, request) : method_not_allowed("GET");
    }
  }
  if (s[1] == "users") {
    if (s.size() == 2) {
      if (is(request, "GET")) return list_users();
      if (is(request, "POST")) return create_user(request);
      return method_not_allowed("GET, POST");
    }
    if (s.size() == 3)
      return is(request, "DELETE") ? delete_user(s[2]) : method_not_allowed("DELETE");
  }
  return Response::error(404, "no such endpoint");
}

Response AdminApi::from_hook(const std::function<json::value()>& hook, std::string_view key) {
  if (!hook) return Response::json(200, json::object{{key, json::array()}});
  return Response::json(200, hook());
}

void AdminApi::notify(const std::function<void()>& hook, std::string_view what) {
  if (!hook) return;
  try {
    hook();
  } catch (const std::exception& e) {
    spdlog::error("admin: {} hook failed: {}", what, e.what());
  }
}

// ---- users ----

Response AdminApi::create_user(const Request& request) {
  auto body = parse_json_object(request.body, false);
  if (auto* error = std::get_if<std::string>(&body)) return Response::error(400, *error);
  auto parsed = parse_user_request(std::get<json::object>(body));
  if (auto* error = std::get_if<std::string>(&parsed)) return Response::error(400, *error);
  const UserRequest& user = std::get<UserRequest>(parsed);
  if (config()->find_user(user.name) != nullptr) {
    return Response::error(409, "user \"" + user.name + "\" is declared in the configuration file");
  }
  // Only the verifier is kept: the password itself goes no further than here.
  const std::string verifier =
      protocol::format_scram_verifier(protocol::make_scram_verifier(user.password));
  if (store_->create_user(user.name, verifier) == catalog::WriteStatus::Conflict) {
    return Response::error(409, "user \"" + user.name + "\" already exists");
  }
  catalog_ok_ = true;
  spdlog::info("admin: created user \"{}\"", user.name);
  notify(hooks_.users_changed, "users_changed");
  const auto stored = store_->get_user(user.name);
  return Response::json(
      201, json::object{{"name", user.name},
                        {"created_at", catalog::format_timestamp(stored ? stored->created_at
                                                                        : catalog::now_millis())}});
}

Response AdminApi::list_users() {
  json::array users;
  for (const auto& user : config()->users) {
    users.push_back(json::object{{"name", user.name}, {"source", "config"}, {"read_only", true}});
  }
  for (const auto& user : store_->list_users()) {
    users.push_back(json::object{{"name", user.name},
                                 {"source", "catalog"},
                                 {"read_only", false},
                                 {"created_at", catalog::format_timestamp(user.created_at)}});
  }
  catalog_ok_ = true;
  return Response::json(200, json::object{{"users", std::move(users)}});
}

Response AdminApi::delete_user(const std::string& name) {
  if (config()->find_user(name) != nullptr) {
    return Response::error(403, "user \"" + name + "\" is declared in the configuration file",
                           "Remove it from the file and reload.");
  }
  if (store_->delete_user(name) == catalog::WriteStatus::NotFound) {
    return Response::error(404, "no such user");
  }
  spdlog::info("admin: deleted user \"{}\"", name);
  notify(hooks_.users_changed, "users_changed");
  return Response::json(200, json::object{{"success", true}});
}

// ---- health and metrics ----

Response AdminApi::health() {
  const bool ok = catalog_ok_;
  return Response::json(
      ok ? 200 : 503,
      json::object{{"status", ok ? "ok" : "degraded"},
                   {"catalog", json::object{{"kind", store_->kind()}, {"ok", ok}}}});
}

Response AdminApi::metrics() {
  TextWriter out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [status, count] : responses_) {
      const std::string code = std::to_string(status);
      out.counter("pgwarden_admin_requests_total", "Admin API responses by HTTP status.",
                  {{"code", code}}, static_cast<double>(count));
    }
    for (const auto& [key, count] : probe_failures_) {
      out.counter("pgwarden_admin_probe_failures_total",
                  "Failed validations, test queries and introspections by operation and kind.",
                  {{"operation", key.first}, {"kind", key.second}}, static_cast<double>(count));
    }
  }
  const std::pair<const char*, const Histogram*> probes[] = {{"validate", &validate_seconds_},
                                                             {"test", &test_seconds_},
                                                             {"introspect", &introspect_seconds_}};
  for (const auto& [operation, histogram] : probes) {
    out.histogram("pgwarden_admin_probe_duration_seconds",
                  "Time to validate, test or introspect a customer database.",
                  {{"operation", operation}}, histogram->snapshot());
  }
  out.gauge("pgwarden_catalog_up", "1 when the last catalog operation succeeded.",
            {{"store", store_->kind()}}, catalog_ok_ ? 1 : 0);
  if (hooks_.metrics_text) out.append(hooks_.metrics_text());
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = out.text();
  return r;
}

void AdminApi::observe_probe(std::string_view operation, const catalog::ProbeResult& result) {
  Histogram& histogram = operation == "validate" ? validate_seconds_
                         : operation == "test"   ? test_seconds_
                                                 : introspect_seconds_;
  histogram.observe(result.elapsed_ms / 1000.0);
  if (result.ok) return;
  const std::string kind = result.failure ? std::string(catalog::describe(*result.failure).kind)
                           : result.sqlstate == "57014" ? "query_timeout"
                                                        : "query_failed";
  std::lock_guard lock(mutex_);
  ++probe_failures_[{std::string(operation), kind}];
}

Response probe_failure(const catalog::ProbeResult& result, json::object base) {
  if (result.failure) {
    const catalog::FailureText& text = catalog::describe(*result.failure);
    base["error"] = text.message;
    if (!text.hint.empty()) base["hint"] = text.hint;
    base["error_kind"] = text.kind;
    return Response::json(static_cast<unsigned>(text.http_status), base);
  }
  if (result.sqlstate == "57014") {
    base["error"] = "Query timed out.";
    base["error_kind"] = "query_timeout";
    base["sqlstate"] = result.sqlstate;
    return Response::json(504, base);
  }
  base["error"] = result.query_error;
  base["error_kind"] = "query_failed";
  base["sqlstate"] = result.sqlstate;
  return Response::json(400, base);
}

}  // namespace pgwarden::daemon::admin
