// libpq plumbing shared by the PostgreSQL catalog store, introspection and
// connection testing: owned handles, connecting with pgwarden's safety
// settings, and turning a failed connection into a kind (never into libpq's
// text, which can quote connection parameters).
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/conninfo.h"

namespace pgwarden::catalog {

//! Why a connection or a test query failed, as the user is told.
enum class ConnectFailure {
  Refused,           //!< nothing listens, or the host does not resolve
  AuthFailed,        //!< wrong user/password, or pg_hba rejects the user
  Timeout,           //!< no answer within the connect timeout
  SslRequired,       //!< the server accepts only TLS and ssl_mode did not use it
  SslUnsupported,    //!< ssl_mode demands TLS and the server has none
  SslFailed,         //!< TLS handshake or certificate verification failed
  DatabaseNotFound,  //!< the database does not exist
  Other,             //!< anything else the server or network did
};

//! The fixed user-facing facts of a failure kind.
struct FailureText {
  std::string_view kind;  //!< stable machine name, e.g. "auth_failed"
  int http_status;
  std::string_view message;
  std::string_view hint;  //!< empty when there is none
};
const FailureText& describe(ConnectFailure failure);

namespace pq {

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnectOptions {
  int connect_timeout_seconds = 5;
  int statement_timeout_ms = 30000;
  bool read_only = true;
  std::string application_name = "pgwarden";
};

//! Connects (blocking) to a customer database with read-only sessions and a
//! statement timeout. On failure, returns the handle anyway (status bad) so
//! the caller can classify it; the handle is null only when out of memory.
Conn connect(const ConnInfo& info, const ConnectOptions& options);
//! Same, to a connection string given whole (the catalog URL).
Conn connect_url(const std::string& url, const ConnectOptions& options);

//! Maps a failed connection's libpq message to a kind.
ConnectFailure classify(const PGconn* conn);
//! Same, from message text (what classify reads; exposed for tests).
ConnectFailure classify_message(std::string_view message);

//! PQexecParams with text parameters (std::nullopt = SQL NULL) and text
//! results. `binary_params` lists parameter indexes sent as raw bytes (bytea).
Result exec(PGconn* conn, const char* sql, const std::vector<std::optional<std::string>>& params,
            std::initializer_list<int> binary_params = {});

//! The SQLSTATE of a failed result, or empty.
std::string sqlstate(const PGresult* result);
//! The server's primary message of a failed result. PostgreSQL's error
//! messages never include a password, unlike libpq's connection errors.
std::string primary_message(const PGresult* result);

//! Field (row, column) as text; empty for NULL.
std::string text(const PGresult* result, int row, int column);
bool is_null(const PGresult* result, int row, int column);

}  // namespace pq
}  // namespace pgwarden::catalog
