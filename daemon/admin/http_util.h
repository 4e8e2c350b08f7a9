// Pure helpers of the admin HTTP API: bearer tokens, request targets,
// pagination and JSON bodies. No sockets; unit-tested on their own.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "conf/config.h"

namespace pgwarden::daemon::admin {

//! Shortest token accepted: a guessable token on a loopback port is still a
//! password for every customer database.
inline constexpr std::size_t kMinTokenLength = 16;

//! The configured token, or why there is none usable.
struct TokenSource {
  std::optional<std::string> token;  //!< absent: no token configured (API off)
  std::string error;                 //!< non-empty: configured but unusable
};

//! Reads [admin] token_file (surrounding whitespace trimmed) or, when no file
//! is configured, `env_token` (PGWARDEN_ADMIN_TOKEN; may be null), or else
//! the systemd credential "admin_token" in `credentials_dir`
//! ($CREDENTIALS_DIRECTORY; may be null). Errors name the file, never its
//! content.
TokenSource load_admin_token(const conf::AdminSettings& settings, const char* env_token,
                             const char* credentials_dir = nullptr);

//! The token of an "Authorization: Bearer <token>" value (scheme
//! case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization);

//! Constant-time comparison: both sides are hashed (SHA-256) first, so
//! neither the content nor the length of the expected token leaks through
//! timing.
bool token_matches(std::string_view presented, std::string_view expected);

//! A request target split into decoded path segments and query parameters.
struct Target {
  std::vector<std::string> segments;  //!< "/api/users/a%20b" -> {"api", "users", "a b"}
  std::map<std::string, std::string, std::less<>> query;
};
//! nullopt when the target is not origin-form or has a bad %-escape.
std::optional<Target> parse_target(std::string_view target);

//! %XX-decodes (and '+' to space when `plus_is_space`); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);
//! %XX-encodes everything but RFC 3986 unreserved characters.
std::string percent_encode(std::string_view text);

struct Page {
  std::size_t offset = 0;
  std::size_t limit = 100;
};
//! ?offset=&limit=: offset >= 0, 1 <= limit <= max_limit, default_limit when
//! absent. The error is a message for a 400.
std::variant<Page, std::string> parse_page(
    const std::map<std::string, std::string, std::less<>>& query, std::size_t default_limit,
    std::size_t max_limit);

//! Parses a request body as a JSON object; an empty body is {} when
//! `empty_ok`. The error is a message for a 400 ("malformed JSON: ...").
std::variant<boost::json::object, std::string> parse_json_object(std::string_view body,
                                                                 bool empty_ok);

}  // namespace pgwarden::daemon::admin
