// Field checks for the connection and user creation bodies.
#include "daemon/admin/connection_request.h"

#include <arpa/inet.h>

#include <array>
#include <initializer_list>

#include "daemon/admin/http_util.h"

namespace pgwarden::daemon::admin {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxNameBytes = 63;  // PostgreSQL's NAMEDATALEN - 1
constexpr std::size_t kMaxHostBytes = 255;
constexpr std::size_t kMaxPasswordBytes = 1024;

std::optional<std::string> unknown_field(const json::object& body,
                                         std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : body) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) return "unknown field \"" + std::string(key) + "\"";
  }
  return std::nullopt;
}

// A string field: required, or optional with a fallback. `error` is set
// when the field is missing or not a string.
struct StringField {
  std::string value;
  std::string error;
};
StringField string_field(const json::object& body, std::string_view key,
                         std::optional<std::string_view> fallback = {}) {
  const json::value* v = body.if_contains(key);
  if (v == nullptr || v->is_null()) {
    if (fallback) return {std::string(*fallback), {}};
    return {{}, std::string(key) + " is required"};
  }
  if (!v->is_string()) return {{}, std::string(key) + " must be a string"};
  return {std::string(v->as_string()), {}};
}

bool has_control(std::string_view value) {
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::optional<catalog::SslMode> ssl_mode_from(std::string_view text) {
  for (auto mode :
       {catalog::SslMode::Disable, catalog::SslMode::Allow, catalog::SslMode::Prefer,
        catalog::SslMode::Require, catalog::SslMode::VerifyCa, catalog::SslMode::VerifyFull}) {
    if (catalog::to_string(mode) == text) return mode;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_name(std::string_view field, std::string_view value) {
  if (value.empty()) return std::string(field) + " must not be empty";
  if (value.size() > kMaxNameBytes) {
    return std::string(field) + " must be at most 63 bytes (PostgreSQL's identifier limit)";
  }
  if (has_control(value)) return std::string(field) + " must not contain control characters";
  return std::nullopt;
}

std::variant<ConnectionRequest, std::string> parse_connection_request(const json::object& body) {
  if (auto unknown = unknown_field(
          body, {"user", "name", "host", "port", "database", "username", "password", "ssl_mode"})) {
    return *unknown;
  }
  ConnectionRequest r;
  struct Field {
    std::string_view key;
    std::string* out;
    std::optional<std::string_view> fallback;
  };
  std::string ssl_mode;
  const std::array<Field, 7> fields = {{{"user", &r.user, {}},
                                        {"name", &r.name, {}},
                                        {"host", &r.host, {}},
                                        {"database", &r.database, {}},
                                        {"username", &r.username, {}},
                                        {"password", &r.password, ""},
                                        {"ssl_mode", &ssl_mode, "prefer"}}};
  for (const Field& f : fields) {
    auto field = string_field(body, f.key, f.fallback);
    if (!field.error.empty()) return field.error;
    *f.out = std::move(field.value);
  }
  for (auto [field, value] : {std::pair<std::string_view, const std::string*>{"user", &r.user},
                              {"name", &r.name},
                              {"database", &r.database},
                              {"username", &r.username}}) {
    if (auto problem = check_name(field, *value)) return *problem;
  }
  if (r.name == "pgwarden")
    return std::string("name \"pgwarden\" is reserved for the admin console");
  if (r.host.empty()) return std::string("host must not be empty");
  if (r.host.size() > kMaxHostBytes || has_control(r.host) ||
      r.host.find_first_of("/@,") != std::string::npos) {
    return std::string("host must be a host name or IP address");
  }
  // A ':' makes it an IPv6 literal, which the URI carries between brackets
  // as it is: only a literal inet_pton reads is allowed there, so nothing
  // in it can end the brackets or be percent-decoded into another host.
  // (Zone ids, "fe80::1%eth0", are refused: libpq would need them encoded.)
  if (in6_addr address{};
      r.host.find(':') != std::string::npos && inet_pton(AF_INET6, r.host.c_str(), &address) != 1) {
    return std::string("host with ':' must be an IPv6 address (no brackets, no zone)");
  }
  if (r.password.size() > kMaxPasswordBytes) return std::string("password is too long");
  if (r.password.find('\0') != std::string::npos) {
    return std::string("password must not contain NUL bytes");
  }
  if (const json::value* port = body.if_contains("port"); port != nullptr && !port->is_null()) {
    const auto* value = port->if_int64();
    const auto* unsigned_value = port->if_uint64();
    const std::int64_t p = value != nullptr            ? *value
                           : unsigned_value != nullptr ? static_cast<std::int64_t>(*unsigned_value)
                                                       : -1;
    if (p < 1 || p > 65535) return std::string("port must be an integer from 1 to 65535");
    r.port = static_cast<std::uint16_t>(p);
  }
  auto mode = ssl_mode_from(ssl_mode);
  if (!mode) {
    return std::string(
        "ssl_mode must be one of disable, allow, prefer, require, verify-ca, verify-full");
  }
  r.ssl_mode = *mode;
  return r;
}

std::string connection_uri(const ConnectionRequest& r) {
  // An IPv6 literal goes in brackets, unencoded (libpq's URI parser expects that).
  const bool ipv6 = r.host.find(':') != std::string::npos;
  const std::string host = ipv6 ? "[" + r.host + "]" : percent_encode(r.host);
  return "postgresql://" + percent_encode(r.username) + ":" + percent_encode(r.password) + "@" +
         host + ":" + std::to_string(r.port) + "/" + percent_encode(r.database) +
         "?sslmode=" + std::string(catalog::to_string(r.ssl_mode));
}

std::variant<UserRequest, std::string> parse_user_request(const json::object& body) {
  if (auto unknown = unknown_field(body, {"name", "password"})) return *unknown;
  UserRequest r;
  auto name = string_field(body, "name");
  if (!name.error.empty()) return name.error;
  r.name = std::move(name.value);
  if (auto problem = check_name("name", r.name)) return *problem;
  auto password = string_field(body, "password");
  if (!password.error.empty()) return password.error;
  r.password = std::move(password.value);
  if (r.password.empty()) return std::string("password must not be empty");
  if (r.password.size() > kMaxPasswordBytes) return std::string("password is too long");
  return r;
}

}  // namespace pgwarden::daemon::admin
