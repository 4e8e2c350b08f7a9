// The body of POST /api/connections and POST /api/users, checked field by
// field, and the libpq URI a connection request becomes.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "catalog/conninfo.h"

namespace pgwarden::daemon::admin {

struct ConnectionRequest {
  std::string user;  //!< owning pgwarden user
  std::string name;  //!< what clients pass as the database name
  std::string host;
  std::uint16_t port = 5432;
  std::string database;
  std::string username;
  std::string password;  //!< never logged or echoed
  catalog::SslMode ssl_mode = catalog::SslMode::Prefer;
};

//! {user, name, host, port=5432, database, username, password,
//! ssl_mode="prefer"}; unknown fields are refused (a misspelt "sslmode" must
//! not silently become "prefer"). The error never quotes the password.
std::variant<ConnectionRequest, std::string> parse_connection_request(
    const boost::json::object& body);

//! postgresql://username:password@host:port/database?sslmode=..., every part
//! percent-encoded; what is encrypted into connection_string_encrypted.
std::string connection_uri(const ConnectionRequest& request);

struct UserRequest {
  std::string name;
  std::string password;
};
//! {name, password}; unknown fields refused.
std::variant<UserRequest, std::string> parse_user_request(const boost::json::object& body);

//! Why `value` cannot be a user or connection name ("user must not be
//! empty"...), or nullopt: 1..63 bytes, no control characters, as the
//! configuration file requires.
std::optional<std::string> check_name(std::string_view field, std::string_view value);

}  // namespace pgwarden::daemon::admin
