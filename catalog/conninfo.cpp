// Upstream connection parameters from a libpq connection string. libpq parses
// (so URIs, percent-encoding and quoting behave exactly as in psql); this file
// only decides what pgwarden can honour. No message here quotes the input:
// libpq's own messages echo fragments of it, and it holds a password.
#include "catalog/conninfo.h"

#include <libpq-fe.h>

#include <charconv>
#include <memory>
#include <optional>

namespace pgwarden::catalog {
namespace {

struct OptionsFree {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

struct Fields {
  std::optional<std::string> host, hostaddr, port, dbname, user, password, sslmode, sslrootcert,
      application_name, service;
};

std::optional<SslMode> parse_ssl_mode(std::string_view text) {
  if (text == "disable") return SslMode::Disable;
  if (text == "allow") return SslMode::Allow;
  if (text == "prefer") return SslMode::Prefer;
  if (text == "require") return SslMode::Require;
  if (text == "verify-ca") return SslMode::VerifyCa;
  if (text == "verify-full") return SslMode::VerifyFull;
  return std::nullopt;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::variant<ConnInfo, std::string> parse_conninfo(std::string_view connection_string) {
  if (connection_string.find('\0') != std::string_view::npos) {
    return std::string("connection string contains a NUL byte");
  }
  const std::string text(connection_string);
  char* libpq_error = nullptr;
  std::unique_ptr<PQconninfoOption, OptionsFree> options(
      PQconninfoParse(text.c_str(), &libpq_error));
  if (libpq_error != nullptr) PQfreemem(libpq_error);  // may quote the password: never shown
  if (!options) {
    return std::string(
        "connection string is not valid libpq syntax (expected "
        "postgresql://user:password@host:port/dbname?sslmode=... or key=value pairs)");
  }

  // PQconninfoParse fills only what the string sets; empty values mean "unset"
  // to libpq as well.
  Fields f;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    const std::string_view key = o->keyword;
    std::optional<std::string>* slot = key == "host"               ? &f.host
                                       : key == "hostaddr"         ? &f.hostaddr
                                       : key == "port"             ? &f.port
                                       : key == "dbname"           ? &f.dbname
                                       : key == "user"             ? &f.user
                                       : key == "password"         ? &f.password
                                       : key == "sslmode"          ? &f.sslmode
                                       : key == "sslrootcert"      ? &f.sslrootcert
                                       : key == "application_name" ? &f.application_name
                                       : key == "service"          ? &f.service
                                                                   : nullptr;
    if (slot != nullptr) *slot = o->val;
  }

  // Options that would change which server we reach are refused rather than
  // silently ignored.
  if (f.service) return std::string("service (pg_service.conf) is not supported; give host");
  if (f.hostaddr) return std::string("hostaddr is not supported; give the address as host");

  ConnInfo info;
  if (f.host) {
    if (f.host->find(',') != std::string::npos) {
      return std::string("multiple hosts are not supported; give one host");
    }
    if (f.host->front() == '/' || f.host->front() == '@') {
      return std::string("Unix-domain socket hosts are not supported; give a host name or IP");
    }
    info.host = *f.host;
  }
  if (f.port) {
    if (f.port->find(',') != std::string::npos) {
      return std::string("multiple ports are not supported; give one port");
    }
    const auto port = parse_port(*f.port);
    if (!port) return std::string("port must be a number from 1 to 65535");
    info.port = *port;
  }
  if (!f.user) return std::string("connection string has no user");
  info.user = *f.user;
  info.dbname = f.dbname ? *f.dbname : info.user;
  if (f.password) info.password = *f.password;
  if (f.sslmode) {
    const auto mode = parse_ssl_mode(*f.sslmode);
    if (!mode) {
      return std::string(
          "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full");
    }
    info.ssl_mode = *mode;
  }
  if (f.sslrootcert) info.ssl_root_cert = *f.sslrootcert;
  if (f.application_name) info.application_name = *f.application_name;
  return info;
}

std::string_view to_string(SslMode mode) {
  switch (mode) {
    case SslMode::Disable:
      return "disable";
    case SslMode::Allow:
      return "allow";
    case SslMode::Prefer:
      return "prefer";
    case SslMode::Require:
      return "require";
    case SslMode::VerifyCa:
      return "verify-ca";
    case SslMode::VerifyFull:
      return "verify-full";
  }
  return "prefer";
}

}  // namespace pgwarden::catalog
