// A customer's upstream connection parameters, parsed from a libpq connection
// string (URI or key=value) with libpq's own parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace pgwarden::catalog {

enum class SslMode { Disable, Allow, Prefer, Require, VerifyCa, VerifyFull };

struct ConnInfo {
  std::string host = "localhost";  //!< host name or IP (Unix sockets unsupported)
  std::uint16_t port = 5432;
  std::string dbname;  //!< defaults to user, as libpq does
  std::string user;
  std::string password;  //!< never logged; ConnInfo has no operator<<
  SslMode ssl_mode = SslMode::Prefer;
  std::string ssl_root_cert;  //!< sslrootcert, for verify-ca/verify-full
  std::string application_name;
};

//! Parses with PQconninfoParse. Errors describe the problem without echoing
//! the string (it holds a password). Requires user; rejects Unix-socket hosts
//! and multi-host lists.
std::variant<ConnInfo, std::string> parse_conninfo(std::string_view connection_string);

std::string_view to_string(SslMode mode);

}  // namespace pgwarden::catalog
