// The /api/connections endpoints: create (validate, introspect, encrypt,
// store), list, delete, (de)activate, test and introspect, schema pages.
#include <spdlog/spdlog.h>

#include <cctype>

#include "catalog/introspect.h"
#include "daemon/admin/admin_api.h"
#include "daemon/admin/connection_request.h"

namespace pgwarden::daemon::admin {
namespace {

namespace json = boost::json;

constexpr std::string_view kDefaultTestQuery = "SELECT 1";
constexpr std::size_t kMaxTestQueryBytes = 64 * 1024;

json::value timestamp_or_null(const std::optional<catalog::UnixMillis>& millis) {
  if (!millis) return nullptr;
  return json::string(catalog::format_timestamp(*millis));
}

std::optional<json::object> parse_schema(const std::string& text) {
  json::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

// Without the data path's policy, the test endpoint still lets through only
// what starts like a read; the session is read-only as well.
bool looks_like_read(std::string_view sql) {
  std::size_t i = 0;
  for (;;) {
    while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
    if (sql.substr(i, 2) == "--") {
      i = sql.find('\n', i);
      if (i == std::string_view::npos) return false;
    } else if (sql.substr(i, 2) == "/*") {
      i = sql.find("*/", i + 2);
      if (i == std::string_view::npos) return false;
      i += 2;
    } else {
      break;
    }
  }
  std::string word;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) {
    word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(sql[i++]))));
  }
  return word == "select" || word == "with" || word == "values" || word == "table" ||
         word == "show" || word == "explain";
}

}  // namespace

std::string config_connection_id(std::string_view user, std::string_view name) {
  // Names cannot hold control characters, so '\n' separates unambiguously.
  return catalog::name_uuid("config\n" + std::string(user) + "\n" + std::string(name));
}

std::optional<AdminApi::Resolved> AdminApi::resolve(const std::string& raw_id) {
  if (!catalog::is_uuid(raw_id)) return std::nullopt;
  std::string id = raw_id;
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& c : config()->connections) {
    if (config_connection_id(c.user, c.name) == id) {
      return Resolved{id, c.user, c.name, c.connection_string_encrypted, true, std::nullopt};
    }
  }
  auto record = store_->get_connection(id);
  if (!record) return std::nullopt;
  Resolved r{id, record->user_id, record->name, record->connection_string_encrypted, false, {}};
  r.record = std::move(record);
  return r;
}

json::object AdminApi::connection_item(const Resolved& c) {
  json::object item{{"id", c.id}, {"user", c.user}, {"name", c.name}};
  if (c.from_config) {
    std::optional<std::int64_t> table_count;
    {
      std::lock_guard lock(mutex_);
      if (auto it = config_schemas_.find(c.id); it != config_schemas_.end()) {
        if (auto schema = parse_schema(it->second)) {
          if (const json::value* n = schema->if_contains("table_count")) {
            table_count = n->to_number<std::int64_t>();
          }
        }
      }
    }
    item["status"] = "active";
    item["is_active"] = true;
    item["table_count"] = table_count ? json::value(*table_count) : json::value(nullptr);
    item["last_used"] = nullptr;
    item["source"] = "config";
    item["read_only"] = true;
    return item;
  }
  const catalog::ConnectionRecord& r = *c.record;
  item["status"] = r.is_active ? "active" : "inactive";
  item["is_active"] = r.is_active;
  item["table_count"] = r.table_count ? json::value(*r.table_count) : json::value(nullptr);
  item["last_used"] = timestamp_or_null(r.last_used);
  item["created_at"] = catalog::format_timestamp(r.created_at);
  item["updated_at"] = catalog::format_timestamp(r.updated_at);
  item["source"] = "catalog";
  item["read_only"] = false;
  return item;
}

Response AdminApi::list_connections(const Request& request) {
  std::optional<std::string> user;
  if (auto it = request.target.query.find("user"); it != request.target.query.end()) {
    user = it->second;
  }
  json::array connections;
  for (const auto& c : config()->connections) {
    if (user && c.user != *user) continue;
    connections.push_back(connection_item(
        Resolved{config_connection_id(c.user, c.name), c.user, c.name, {}, true, std::nullopt}));
  }
  const auto records =
      store_->list_connections(user ? std::optional<std::string_view>(*user) : std::nullopt);
  for (const auto& record : records) {
    Resolved r{record.id, record.user_id, record.name, {}, false, record};
    connections.push_back(connection_item(r));
  }
  catalog_ok_ = true;
  return Response::json(200, json::object{{"connections", std::move(connections)}});
}

Response AdminApi::get_connection(const std::string& id) {
  auto connection = resolve(id);
  if (!connection) return Response::error(404, "no such connection");
  return Response::json(200, connection_item(*connection));
}

Response AdminApi::create_connection(const Request& request) {
  auto body = parse_json_object(request.body, false);
  if (auto* error = std::get_if<std::string>(&body)) return Response::error(400, *error);
  auto parsed = parse_connection_request(std::get<json::object>(body));
  if (auto* error = std::get_if<std::string>(&parsed)) return Response::error(400, *error);
  const ConnectionRequest& c = std::get<ConnectionRequest>(parsed);

  // Cheap conflicts first: no need to reach the customer's server for them.
  const std::string conflict = "connection \"" + c.name + "\" of user \"" + c.user + "\" exists";
  if (config()->find_connection(c.user, c.name) != nullptr) {
    return Response::error(409, conflict + " in the configuration file");
  }
  if (store_->find_connection(c.user, c.name)) return Response::error(409, conflict);

  const std::string uri = connection_uri(c);
  auto info = catalog::parse_conninfo(uri);
  if (auto* error = std::get_if<std::string>(&info)) return Response::error(400, *error);
  const auto& conninfo = std::get<catalog::ConnInfo>(info);

  const catalog::ProbeResult validation = catalog::validate_connection(conninfo, settings_.probe);
  observe_probe("validate", validation);
  if (!validation.ok) {
    const std::string kind = validation.failure
                                 ? std::string(catalog::describe(*validation.failure).kind)
                                 : "query_failed";
    spdlog::info("admin: connection \"{}\" of user \"{}\" not created: validation failed ({})",
                 c.name, c.user, kind);
    return probe_failure(validation,
                         json::object{{"connection_id", nullptr}, {"status", "failed"}});
  }

  // Validation passed: the record is kept even if introspection fails (the
  // agent can re-introspect later); the response says why there is no schema.
  const catalog::SchemaResult introspection =
      catalog::introspect_schema(conninfo, catalog::now_millis(), settings_.probe);
  observe_probe("introspect", introspection);

  catalog::NewConnection record;
  record.user_id = c.user;
  record.name = c.name;
  record.connection_string_encrypted = keys_->encrypt(uri);
  if (introspection.ok) record.schema_cache = json::serialize(introspection.schema);
  catalog::ConnectionRecord created;
  if (store_->create_connection(record, &created) == catalog::WriteStatus::Conflict) {
    return Response::error(409, conflict);
  }
  catalog_ok_ = true;
  spdlog::info("admin: created connection {} (\"{}\" of user \"{}\")", created.id, c.name, c.user);
  notify(hooks_.connections_changed, "connections_changed");

  json::object response{{"connection_id", created.id}, {"status", "connected"}};
  if (introspection.ok) {
    response["schema"] = catalog::schema_page(introspection.schema, 0);
  } else {
    response["schema"] = nullptr;
    response["schema_error"] = json::parse(probe_failure(introspection).body);
  }
  return Response::json(201, response);
}

Response AdminApi::delete_connection(const std::string& id) {
  auto connection = resolve(id);
  if (!connection) return Response::error(404, "no such connection");
  if (connection->from_config) {
    return Response::error(403, "this connection is declared in the configuration file",
                           "Remove it from the file and reload.");
  }
  if (store_->delete_connection(connection->id) == catalog::WriteStatus::NotFound) {
    return Response::error(404, "no such connection");
  }
  spdlog::info("admin: deleted connection {} (\"{}\" of user \"{}\")", connection->id,
               connection->name, connection->user);
  notify(hooks_.connections_changed, "connections_changed");
  return Response::json(200, json::object{{"success", true}});
}

Response AdminApi::patch_connection(const std::string& id, const Request& request) {
  auto body = parse_json_object(request.body, false);
  if (auto* error = std::get_if<std::string>(&body)) return Response::error(400, *error);
  const json::object& fields = std::get<json::object>(body);
  const json::value* active = fields.if_contains("is_active");
  if (fields.size() != 1 || active == nullptr || !active->is_bool()) {
    return Response::error(400, "the body must be {\"is_active\": true|false}");
  }
  auto connection = resolve(id);
  if (!connection) return Response::error(404, "no such connection");
  if (connection->from_config) {
    return Response::error(403, "this connection is declared in the configuration file");
  }
  if (store_->set_active(connection->id, active->as_bool()) == catalog::WriteStatus::NotFound) {
    return Response::error(404, "no such connection");
  }
  spdlog::info("admin: connection {} {}", connection->id,
               active->as_bool() ? "activated" : "deactivated");
  notify(hooks_.connections_changed, "connections_changed");
  return get_connection(connection->id);
}

std::variant<catalog::ConnInfo, Response> AdminApi::conninfo_of(const Resolved& connection) {
  auto plaintext = keys_->decrypt(connection.token);
  if (!plaintext) {
    spdlog::error("admin: connection {}: stored credentials do not decrypt with ENCRYPTION_KEY",
                  connection.id);
    return Response::error(500, "The stored credentials cannot be decrypted with ENCRYPTION_KEY.");
  }
  auto info = catalog::parse_conninfo(*plaintext);
  if (auto* error = std::get_if<std::string>(&info)) {
    return Response::error(500, "The stored connection string is not usable: " + *error);
  }
  return std::get<catalog::ConnInfo>(std::move(info));
}

bool AdminApi::allowed_by_policy(const std::string& sql, std::string& why) const {
  if (hooks_.check_query) return hooks_.check_query(sql, why);
  if (looks_like_read(sql)) return true;
  why = "only read-only statements (SELECT, WITH, VALUES, TABLE, SHOW, EXPLAIN) may be tested";
  return false;
}

Response AdminApi::test_connection(const std::string& id, const Request& request) {
  auto body = parse_json_object(request.body, true);
  if (auto* error = std::get_if<std::string>(&body)) return Response::error(400, *error);
  const json::object& fields = std::get<json::object>(body);
  std::string sql(kDefaultTestQuery);
  for (const auto& [key, value] : fields) {
    if (key != "query") return Response::error(400, "unknown field \"" + std::string(key) + "\"");
    if (!value.is_string()) return Response::error(400, "query must be a string");
    sql = std::string(value.as_string());
  }
  if (sql.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Response::error(400, "query must not be empty");
  }
  if (sql.size() > kMaxTestQueryBytes) return Response::error(413, "query is too long");

  auto connection = resolve(id);
  if (!connection) return Response::error(404, "no such connection");
  std::string why;
  if (!allowed_by_policy(sql, why)) {
    return Response::json(403, json::object{{"success", false},
                                            {"error", "query denied by policy: " + why},
                                            {"error_kind", "denied"}});
  }
  auto info = conninfo_of(*connection);
  if (auto* error = std::get_if<Response>(&info)) return *error;
  const catalog::TestQueryResult result =
      catalog::run_test_query(std::get<catalog::ConnInfo>(info), sql, settings_.probe);
  observe_probe("test", result);
  if (!result.ok) return probe_failure(result, json::object{{"success", false}});
  if (!connection->from_config) store_->touch_last_used(connection->id, catalog::now_millis());
  return Response::json(
      200, json::object{
               {"success", true}, {"execution_time_ms", result.elapsed_ms}, {"rows", result.rows}});
}

std::variant<json::object, Response> AdminApi::introspect(const Resolved& connection,
                                                          const catalog::ConnInfo& info) {
  catalog::SchemaResult result =
      catalog::introspect_schema(info, catalog::now_millis(), settings_.probe);
  observe_probe("introspect", result);
  if (!result.ok) {
    spdlog::info("admin: introspecting connection {} failed ({})", connection.id,
                 result.failure ? catalog::describe(*result.failure).kind : "query_failed");
    return probe_failure(result);
  }
  const std::string text = json::serialize(result.schema);
  if (connection.from_config) {
    std::lock_guard lock(mutex_);
    config_schemas_[connection.id] = text;
  } else {
    store_->set_schema_cache(connection.id, text);
  }
  return std::move(result.schema);
}

Response AdminApi::introspect_connection(const std::string& id) {
  auto connection = resolve(id);
  if (!connection) return Response::error(404, "no such connection");
  auto info = conninfo_of(*connection);
  if (auto* error = std::get_if<Response>(&info)) return *error;
  auto schema = introspect(*connection, std::get<catalog::ConnInfo>(info));
  if (auto* error = std::get_if<Response>(&schema)) return *error;
  const json::object& document = std::get<json::object>(schema);
  return Response::json(200, json::object{{"schema", catalog::schema_page(document, 0)},
                                          {"introspected_at", document.at("introspected_at")}});
}

Response AdminApi::get_schema(const std::string& id, const Request& request) {
  auto page = parse_page(request.target.query, catalog::kDefaultPageLimit, catalog::kMaxPageLimit);
  if (auto* error = std::get_if<std::string>(&page)) return Response::error(400, *error);
  const Page& p = std::get<Page>(page);
  auto connection = resolve(id);
  if (!connection) return Response::error(404, "no such connection");

  std::optional<json::object> cached;
  if (connection->from_config) {
    std::lock_guard lock(mutex_);
    if (auto it = config_schemas_.find(connection->id); it != config_schemas_.end()) {
      cached = parse_schema(it->second);
    }
  } else if (connection->record->schema_cache) {
    cached = parse_schema(*connection->record->schema_cache);
  }
  const auto ttl = settings_.schema_cache_ttl.count();
  if (cached && catalog::now_millis() - catalog::introspected_at(*cached) < ttl) {
    json::object out = catalog::schema_page(*cached, p.offset, p.limit);
    out["stale"] = false;
    return Response::json(200, out);
  }

  // Missing or expired: read it again; an expired copy still beats an error.
  auto info = conninfo_of(*connection);
  if (auto* error = std::get_if<Response>(&info)) return *error;
  auto fresh = introspect(*connection, std::get<catalog::ConnInfo>(info));
  if (auto* document = std::get_if<json::object>(&fresh)) {
    json::object out = catalog::schema_page(*document, p.offset, p.limit);
    out["stale"] = false;
    return Response::json(200, out);
  }
  if (!cached) return std::get<Response>(fresh);
  json::object out = catalog::schema_page(*cached, p.offset, p.limit);
  out["stale"] = true;
  out["refresh_error"] = json::parse(std::get<Response>(fresh).body);
  return Response::json(200, out);
}

}  // namespace pgwarden::daemon::admin
