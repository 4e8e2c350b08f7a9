// libFuzzer target for the pure request handling of the admin HTTP API
// (daemon/admin/http_util.h and connection_request.h): request targets,
// pagination, the Authorization header, JSON bodies and the connection and
// user requests made from them. The input is the request target, a newline,
// the Authorization value, a newline, and the body. Invariants: nothing
// throws; an error never depends on the password's text; percent-encoding
// round-trips; a connection request the API accepts becomes a URI that libpq
// reads back as exactly the fields that were checked (no field can smuggle in
// another connection parameter).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "catalog/conninfo.h"
#include "daemon/admin/connection_request.h"
#include "daemon/admin/http_util.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pgwarden::daemon::admin;
using pgwarden::fuzz::check;

std::string_view next_line(std::string_view& input) {
  const auto newline = input.find('\n');
  const std::string_view line = input.substr(0, newline);
  input = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  return line;
}

void check_target(std::string_view text) {
  for (const bool plus : {false, true}) {
    if (const auto decoded = percent_decode(text, plus)) {
      check(decoded->size() <= text.size(), "decoding grew the text");
    }
    const std::string encoded = percent_encode(text);
    const auto back = percent_decode(encoded, plus);
    check(back && *back == text, "percent-encoding round trip");
  }
  const auto target = parse_target(text);
  if (!target) return;
  // Re-encoding the parsed path gives a target that parses the same.
  std::string again;
  for (const std::string& segment : target->segments) {
    check(!segment.empty(), "empty path segment");
    again += "/" + percent_encode(segment);
  }
  if (again.empty()) again = "/";
  if (!target->query.empty()) {
    char sep = '?';
    for (const auto& [key, value] : target->query) {
      again += sep + percent_encode(key) + "=" + percent_encode(value);
      sep = '&';
    }
  }
  const auto reparsed = parse_target(again);
  check(reparsed && reparsed->segments == target->segments && reparsed->query == target->query,
        "target round trip");
  const auto page = parse_page(target->query, 50, 1000);
  if (const auto* p = std::get_if<Page>(&page)) {
    check(p->limit >= 1 && p->limit <= 1000, "page limit out of range");
  } else {
    check(!std::get<std::string>(page).empty(), "page error without a message");
  }
}

// The body with its password replaced by other text of the same length and
// NUL positions (the only properties the checks may look at), or nullopt
// when there is no string password.
std::optional<boost::json::object> masked(const boost::json::object& body) {
  const boost::json::value* password = body.if_contains("password");
  if (password == nullptr || !password->is_string()) return std::nullopt;
  std::string text(password->as_string());
  for (char& c : text) c = c == '\0' ? '\0' : (c == 'Q' ? 'R' : 'Q');
  boost::json::object copy = body;
  copy["password"] = text;
  return copy;
}

// An error must not depend on the password's text: the same request with
// another password of the same shape gives the same message. (Searching the
// message for the password would flag "require" in "database is required".)
template <typename Parse>
void check_error_ignores_password(const boost::json::object& body, const std::string& error,
                                  Parse parse) {
  const auto other = masked(body);
  if (!other) return;
  const auto again = parse(*other);
  const auto* other_error = std::get_if<std::string>(&again);
  check(other_error != nullptr && *other_error == error, "error depends on the password's text");
}

void check_connection_request(const boost::json::object& body) {
  const auto parsed = parse_connection_request(body);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    check(!error->empty(), "connection request error without a message");
    check_error_ignores_password(
        body, *error, [](const boost::json::object& b) { return parse_connection_request(b); });
    return;
  }
  const ConnectionRequest& request = std::get<ConnectionRequest>(parsed);
  check(!check_name("user", request.user) && !check_name("name", request.name) &&
            !check_name("database", request.database) && !check_name("username", request.username),
        "accepted a name check_name refuses");
  const std::string uri = connection_uri(request);
  const auto info = pgwarden::catalog::parse_conninfo(uri);
  check(std::holds_alternative<pgwarden::catalog::ConnInfo>(info),
        "libpq refuses the URI of an accepted connection request");
  const auto& c = std::get<pgwarden::catalog::ConnInfo>(info);
  check(c.host == request.host, "URI host differs from the request");
  check(c.port == request.port, "URI port differs from the request");
  check(c.dbname == request.database, "URI database differs from the request");
  check(c.user == request.username, "URI user differs from the request");
  check(c.password == request.password, "URI password differs from the request");
  check(c.ssl_mode == request.ssl_mode, "URI sslmode differs from the request");
  check(c.ssl_root_cert.empty() && c.application_name.empty(),
        "URI carries a parameter the request did not set");
}

void check_user_request(const boost::json::object& body) {
  const auto parsed = parse_user_request(body);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    check(!error->empty(), "user request error without a message");
    check_error_ignores_password(
        body, *error, [](const boost::json::object& b) { return parse_user_request(b); });
    return;
  }
  const UserRequest& request = std::get<UserRequest>(parsed);
  check(!check_name("name", request.name) && !request.password.empty(), "accepted user request");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view target = next_line(input);
  const std::string_view authorization = next_line(input);
  const std::string_view body = input;

  check_target(target);

  if (const auto token = bearer_token(authorization)) {
    check(!token->empty() && authorization.find(*token) != std::string_view::npos, "bearer view");
    check(token_matches(*token, *token), "token does not match itself");
    check(!token_matches(*token, std::string(*token) + "x"), "longer token matches");
  }

  for (const bool empty_ok : {false, true}) {
    const auto parsed = parse_json_object(body, empty_ok);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      check(!error->empty(), "JSON error without a message");
      continue;
    }
    const boost::json::object& object = std::get<boost::json::object>(parsed);
    check_connection_request(object);
    check_user_request(object);
  }
  return 0;
}
