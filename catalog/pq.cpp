// libpq connections with pgwarden's safety settings, and failure kinds read
// from libpq's messages.
#include "catalog/pq.h"

#include <algorithm>
#include <array>
#include <utility>

namespace pgwarden::catalog {
namespace {

constexpr std::array<FailureText, 8> kFailures = {{
    {"refused", 400, "Unable to connect. Check host/port.", ""},
    {"auth_failed", 401, "Authentication failed. Check credentials.", ""},
    {"timeout", 504, "Connection timed out. Server may be unreachable.", ""},
    {"ssl_required", 400, "SSL connection required by server.", "Use ssl_mode=require."},
    {"ssl_unsupported", 400, "Server does not support SSL.",
     "Use ssl_mode=prefer or ssl_mode=disable."},
    {"ssl_failed", 400, "SSL negotiation failed.", "Check ssl_mode and the server's certificate."},
    {"database_not_found", 400, "Database does not exist. Check the database name.", ""},
    {"connection_failed", 502, "Connection failed. The server did not accept the session.", ""},
}};

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Keyword/value pairs for PQconnectdbParams; both arrays NULL-terminated.
class Params {
 public:
  void add(const char* key, std::string value) {
    keys_.push_back(key);
    values_.push_back(std::move(value));
  }
  pq::Conn connect(bool expand_dbname) {
    std::vector<const char*> keys = keys_;
    std::vector<const char*> values;
    for (const auto& value : values_) values.push_back(value.c_str());
    keys.push_back(nullptr);
    values.push_back(nullptr);
    return pq::Conn(PQconnectdbParams(keys.data(), values.data(), expand_dbname ? 1 : 0));
  }

 private:
  std::vector<const char*> keys_;
  std::vector<std::string> values_;
};

void add_common(Params& params, const pq::ConnectOptions& options) {
  params.add("connect_timeout", std::to_string(options.connect_timeout_seconds));
  params.add("application_name", options.application_name);
  params.add("client_encoding", "UTF8");
  // A Kerberos ticket lying around would make libpq try GSS encryption first.
  params.add("gssencmode", "disable");
  // A server that vanishes mid-query (no RST) would block PQexec for the
  // kernel's default 2+ hours; bound it near the statement timeout instead.
  params.add("keepalives_idle", "10");
  params.add("keepalives_interval", "5");
  params.add("keepalives_count", "3");
  params.add("tcp_user_timeout",
             std::to_string(std::max(options.statement_timeout_ms, 1000) + 5000));
  std::string session;
  if (options.read_only) session += "-c default_transaction_read_only=on ";
  if (options.statement_timeout_ms > 0) {
    session += "-c statement_timeout=" + std::to_string(options.statement_timeout_ms);
  }
  if (!session.empty()) params.add("options", session);
}

}  // namespace

const FailureText& describe(ConnectFailure failure) {
  return kFailures[static_cast<std::size_t>(failure)];
}

namespace pq {

Conn connect(const ConnInfo& info, const ConnectOptions& options) {
  Params params;
  params.add("host", info.host);
  params.add("port", std::to_string(info.port));
  params.add("dbname", info.dbname);
  params.add("user", info.user);
  params.add("password", info.password);
  params.add("sslmode", std::string(to_string(info.ssl_mode)));
  if (!info.ssl_root_cert.empty()) params.add("sslrootcert", info.ssl_root_cert);
  add_common(params, options);
  return params.connect(false);
}

Conn connect_url(const std::string& url, const ConnectOptions& options) {
  Params params;
  params.add("dbname", url);  // expanded: the URL's own settings, ours after it win
  add_common(params, options);
  return params.connect(true);
}

ConnectFailure classify(const PGconn* conn) {
  if (conn == nullptr) return ConnectFailure::Other;
  return classify_message(PQerrorMessage(conn));
}

// libpq offers no SQLSTATE for a failed connection (PG 15), so the English
// texts decide. pgwarden does not call setlocale, so libpq's own messages are
// untranslated; the server's are in its lc_messages, which for a non-English
// server makes auth and pg_hba failures fall through to Other.
ConnectFailure classify_message(std::string_view m) {
  if (contains(m, "timeout expired")) return ConnectFailure::Timeout;
  if (contains(m, "no pg_hba.conf entry") && contains(m, "no encryption")) {
    return ConnectFailure::SslRequired;
  }
  if (contains(m, "server does not support SSL")) return ConnectFailure::SslUnsupported;
  if (contains(m, "password authentication failed") || contains(m, "no password supplied") ||
      contains(m, "authentication failed for user") || contains(m, "no pg_hba.conf entry") ||
      (contains(m, "role \"") && contains(m, "does not exist")) ||
      contains(m, "is not permitted to log in") || contains(m, "SCRAM authentication requires")) {
    return ConnectFailure::AuthFailed;
  }
  if (contains(m, "database \"") && contains(m, "does not exist")) {
    return ConnectFailure::DatabaseNotFound;
  }
  if (contains(m, "SSL") || contains(m, "certificate")) return ConnectFailure::SslFailed;
  if (contains(m, "Connection refused") || contains(m, "could not translate host name") ||
      contains(m, "Network is unreachable") || contains(m, "No route to host") ||
      contains(m, "Name or service not known") || contains(m, "Temporary failure in name") ||
      contains(m, "could not connect to server")) {
    return ConnectFailure::Refused;
  }
  return ConnectFailure::Other;
}

Result exec(PGconn* conn, const char* sql, const std::vector<std::optional<std::string>>& params,
            std::initializer_list<int> binary_params) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const auto& param : params) {
    values.push_back(param ? param->data() : nullptr);
    lengths.push_back(param ? static_cast<int>(param->size()) : 0);
    formats.push_back(0);
  }
  for (int index : binary_params) formats.at(static_cast<std::size_t>(index)) = 1;
  return Result(PQexecParams(conn, sql, static_cast<int>(params.size()), nullptr, values.data(),
                             lengths.data(), formats.data(), 0));
}

std::string sqlstate(const PGresult* result) {
  const char* code = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return code != nullptr ? code : "";
}

std::string primary_message(const PGresult* result) {
  const char* text =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return text != nullptr ? text : "";
}

std::string text(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column)) return {};
  return std::string(PQgetvalue(result, row, column),
                     static_cast<std::size_t>(PQgetlength(result, row, column)));
}

bool is_null(const PGresult* result, int row, int column) {
  return PQgetisnull(result, row, column) != 0;
}

}  // namespace pq
}  // namespace pgwarden::catalog
