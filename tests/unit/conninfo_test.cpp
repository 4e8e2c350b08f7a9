// parse_conninfo: both libpq syntaxes, defaults, sslmode mapping, refusals of
// what pgwarden cannot honour, and errors that never echo the password.
#define BOOST_TEST_MODULE conninfo
#include "catalog/conninfo.h"

#include <boost/test/unit_test.hpp>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

using pgwarden::catalog::ConnInfo;
using pgwarden::catalog::parse_conninfo;
using pgwarden::catalog::SslMode;

namespace pgwarden::catalog {
// Test-only printer so failed checks show the mode by name.
std::ostream& operator<<(std::ostream& os, SslMode mode) {
  return os << to_string(mode);
}
}  // namespace pgwarden::catalog

namespace {

ConnInfo parse_ok(std::string_view text) {
  auto result = parse_conninfo(text);
  if (auto* error = std::get_if<std::string>(&result)) BOOST_FAIL("rejected: " << *error);
  return std::get<ConnInfo>(std::move(result));
}

std::string parse_error(std::string_view text) {
  auto result = parse_conninfo(text);
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<std::string>(result), "accepted: " << text);
  return std::get<std::string>(result);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(accepts)

BOOST_AUTO_TEST_CASE(uri_with_everything) {
  const ConnInfo c = parse_ok(
      "postgresql://alice:s3cr%40t@db.example.com:6543/sales?sslmode=require"
      "&application_name=agent&sslrootcert=/etc/ssl/ca.pem");
  BOOST_TEST(c.host == "db.example.com");
  BOOST_TEST(c.port == 6543);
  BOOST_TEST(c.user == "alice");
  BOOST_TEST(c.password == "s3cr@t");  // percent-decoded by libpq
  BOOST_TEST(c.dbname == "sales");
  BOOST_TEST(c.ssl_mode == SslMode::Require);
  BOOST_TEST(c.ssl_root_cert == "/etc/ssl/ca.pem");
  BOOST_TEST(c.application_name == "agent");
}

BOOST_AUTO_TEST_CASE(postgres_scheme_and_ipv6) {
  const ConnInfo c = parse_ok("postgres://bob@[2001:db8::1]:5433/x");
  BOOST_TEST(c.host == "2001:db8::1");
  BOOST_TEST(c.port == 5433);
  BOOST_TEST(c.user == "bob");
  BOOST_TEST(c.password.empty());
}

BOOST_AUTO_TEST_CASE(key_value_form_with_quoting) {
  const ConnInfo c = parse_ok(
      "host=10.0.0.7 port=5440 user=carol password='it\\'s a \\\\pw' dbname=analytics "
      "sslmode=verify-full");
  BOOST_TEST(c.host == "10.0.0.7");
  BOOST_TEST(c.port == 5440);
  BOOST_TEST(c.user == "carol");
  BOOST_TEST(c.password == "it's a \\pw");
  BOOST_TEST(c.dbname == "analytics");
  BOOST_TEST(c.ssl_mode == SslMode::VerifyFull);
}

// Defaults as libpq would apply them, minus the Unix socket: port 5432, dbname
// = user, sslmode prefer, host localhost.
BOOST_AUTO_TEST_CASE(defaults) {
  const ConnInfo c = parse_ok("postgresql://dave@db");
  BOOST_TEST(c.port == 5432);
  BOOST_TEST(c.dbname == "dave");
  BOOST_TEST(c.ssl_mode == SslMode::Prefer);
  const ConnInfo k = parse_ok("user=erin");
  BOOST_TEST(k.host == "localhost");
  BOOST_TEST(k.port == 5432);
  BOOST_TEST(k.dbname == "erin");
  const ConnInfo empty_port = parse_ok("host=h user=u port=");
  BOOST_TEST(empty_port.port == 5432);
}

BOOST_AUTO_TEST_CASE(every_sslmode) {
  const std::vector<std::pair<std::string, SslMode>> modes = {
      {"disable", SslMode::Disable},    {"allow", SslMode::Allow},
      {"prefer", SslMode::Prefer},      {"require", SslMode::Require},
      {"verify-ca", SslMode::VerifyCa}, {"verify-full", SslMode::VerifyFull},
  };
  for (const auto& [text, mode] : modes) {
    BOOST_TEST_CONTEXT(text) {
      BOOST_TEST(parse_ok("postgresql://u@h/d?sslmode=" + text).ssl_mode == mode);
      BOOST_TEST(to_string(mode) == text);
    }
  }
}

// Options pgwarden does not use (and that cannot redirect the connection) are
// accepted, as libpq accepts them.
BOOST_AUTO_TEST_CASE(unused_options_are_accepted) {
  const ConnInfo c =
      parse_ok("postgresql://u@h/d?connect_timeout=3&options=-cstatement_timeout%3D5");
  BOOST_TEST(c.host == "h");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rejects)

BOOST_AUTO_TEST_CASE(table) {
  struct Case {
    std::string input;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"postgresql://h/db", "connection string has no user"},
      {"host=h dbname=d", "connection string has no user"},
      {"", "connection string has no user"},
      {"postgresql://u@%2Fvar%2Frun%2Fpostgresql/db",
       "Unix-domain socket hosts are not supported; give a host name or IP"},
      {"postgresql://u@/db?host=/tmp",
       "Unix-domain socket hosts are not supported; give a host name or IP"},
      {"host=@abstract user=u",
       "Unix-domain socket hosts are not supported; give a host name or IP"},
      {"postgresql://u@h1:5432,h2:5432/db", "multiple hosts are not supported; give one host"},
      {"host=h1,h2 user=u", "multiple hosts are not supported; give one host"},
      {"host=h port=5432,5433 user=u", "multiple ports are not supported; give one port"},
      {"host=h port=0 user=u", "port must be a number from 1 to 65535"},
      {"host=h port=65536 user=u", "port must be a number from 1 to 65535"},
      {"host=h port=54x user=u", "port must be a number from 1 to 65535"},
      {"host=h port=-1 user=u", "port must be a number from 1 to 65535"},
      {"postgresql://u@h/d?sslmode=required",
       "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"},
      {"hostaddr=10.0.0.1 user=u", "hostaddr is not supported; give the address as host"},
      {"service=prod user=u", "service (pg_service.conf) is not supported; give host"},
      {std::string("host=h\0 user=u", 14), "connection string contains a NUL byte"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.input) {
      BOOST_TEST(parse_error(c.input) == c.error);
    }
  }
}

// libpq's own parse errors quote the input; ours must not. Each input carries
// a recognisable password in a place that makes libpq fail.
BOOST_AUTO_TEST_CASE(syntax_errors_never_echo_the_password) {
  const std::vector<std::string> inputs = {
      "postgresql://u:Hunter2Secret@h/db?sslmode=require&bogus_option=1",
      "postgresql://u:Hunter2Secret@[::1/db",
      "postgresql://u:Hunter2%zzSecret@h/db",
      "user=u password=Hunter2Secret bogus",
      "user=u password='Hunter2Secret",
      "user=u Hunter2Secret=1",
      "mysql://u:Hunter2Secret@h/db",
  };
  for (const std::string& input : inputs) {
    BOOST_TEST_CONTEXT(input) {
      const std::string error = parse_error(input);
      BOOST_TEST(error.find("Hunter2") == std::string::npos);
      BOOST_TEST(error.find("Secret") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(semantic_errors_never_echo_the_password) {
  const std::vector<std::string> inputs = {
      "host=h port=Hunter2Secret user=u password=Hunter2Secret",
      "host=h user=u sslmode=Hunter2Secret password=Hunter2Secret",
      "postgresql://:Hunter2Secret@h/db",
  };
  for (const std::string& input : inputs) {
    BOOST_TEST_CONTEXT(input) {
      BOOST_TEST(parse_error(input).find("Hunter2") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
