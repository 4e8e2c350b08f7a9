// One upstream server connection: connecting, logging in with the customer's
// credentials, and what the pool needs to know about it afterwards.
#pragma once

#include <boost/asio/ssl.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "catalog/conninfo.h"
#include "daemon/asio.h"
#include "daemon/params.h"
#include "daemon/pg_stream.h"
#include "daemon/prepared_statements.h"
#include "daemon/session_state.h"

namespace pgwarden::daemon {

//! Why an upstream connection could not be made, in the words a user sees.
enum class UpstreamFailure {
  Refused,      //!< resolve/connect failed
  AuthFailed,   //!< the server rejected the stored credentials
  Timeout,      //!< connect_timeout passed
  SslRequired,  //!< the server wants TLS and ssl_mode does not allow it
  ServerError,  //!< any other error the server reported at login
  Protocol,     //!< the server said something we do not understand
  Unsupported,  //!< a setting pgwarden cannot honour yet
  TlsFailed,    //!< ssl_mode demands TLS the server cannot give, or the handshake failed
};

struct UpstreamError {
  UpstreamFailure kind = UpstreamFailure::Refused;
  //! For ServerError/Unsupported: the text to show. Never holds credentials.
  std::string message;
  //! What the client is told (fixed per kind, or `message`).
  std::string user_message() const;
  std::string hint() const;
};

struct UpstreamOptions {
  //! TLS settings for this connection record (CA file, verification); built
  //! once per pool and shared by its connections.
  std::shared_ptr<asio::ssl::context> tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds statement_timeout{30000};
  std::string application_name = "pgwarden";
  //! Statements pgwarden keeps prepared per server connection (LRU).
  std::size_t max_prepared_statements = 200;
};

//! One upstream session: its stream (TLS when negotiated) and what the pool
//! and the sessions that lease it need to know.
class ServerConnection : public PgStream {
 public:
  explicit ServerConnection(tcp::socket socket) : PgStream(std::move(socket)) {}

  //! Parameters this server reported, kept current while it is in use.
  //! Taking them for change forgets which client values they matched.
  ParameterMap& parameters() {
    matches_.reset();
    return parameters_;
  }
  const ParameterMap& parameters() const { return parameters_; }

  //! True when the tracked parameters are known to hold `client`'s values
  //! (set by remember_match, forgotten by any change): a client like the
  //! last one (the same interned map) then costs a pointer comparison, not a
  //! look-up per parameter.
  bool known_to_match(const SharedParameters& client) const {
    return matches_ != nullptr && matches_ == client;
  }
  void remember_match(SharedParameters client) { matches_ = std::move(client); }

  //! The parameters as they were right after login: where RESET ALL returns.
  const ParameterMap& initial_parameters() const { return initial_parameters_; }
  void remember_initial_parameters() { initial_parameters_ = parameters_; }

  //! Session settings (non-reported SETs) a client or pgwarden's sync made
  //! on this server, by parameter name.
  SessionSettings& settings() { return settings_; }
  //! A client changed session state pgwarden cannot follow (set_config,
  //! a cursor WITH HOLD...): RESET ALL and CLOSE ALL before the next use.
  bool needs_reset() const { return needs_reset_; }
  void set_needs_reset(bool value) { needs_reset_ = value; }

  //! Statements pgwarden prepared on this server, for any client.
  ServerStatements& statements() { return statements_; }

  std::uint32_t backend_pid() const { return backend_pid_; }
  const std::vector<std::byte>& cancel_key() const { return cancel_key_; }
  const tcp::endpoint& endpoint() const { return endpoint_; }

  //! CancelRequests sent for this server and not yet delivered. While any
  //! is in flight the server is not reused, so a late cancel cannot hit
  //! another client's statement (PgBouncer's SV_BEING_CANCELED).
  int cancels_in_flight = 0;

  Clock::time_point created_at() const { return created_at_; }
  Clock::time_point idle_since() const { return idle_since_; }
  void mark_idle() { idle_since_ = Clock::now(); }

  //! True when an idle connection has something to read (EOF, an error, a
  //! notice): it cannot be handed out blindly, so the pool closes it.
  bool has_pending_input();

  //! Sends Terminate (best effort) and closes.
  void close();

  //! Records what login learned: the backend's cancel key and address.
  void set_identity(std::uint32_t pid, std::vector<std::byte> key, tcp::endpoint endpoint) {
    backend_pid_ = pid;
    cancel_key_ = std::move(key);
    endpoint_ = std::move(endpoint);
  }

 private:
  ParameterMap parameters_;
  SharedParameters matches_;
  ParameterMap initial_parameters_;
  SessionSettings settings_;
  bool needs_reset_ = false;
  ServerStatements statements_;
  std::uint32_t backend_pid_ = 0;
  std::vector<std::byte> cancel_key_;
  tcp::endpoint endpoint_;
  Clock::time_point created_at_ = Clock::now();
  Clock::time_point idle_since_ = Clock::now();
};

using ConnectResult = std::variant<std::unique_ptr<ServerConnection>, UpstreamError>;

//! The TLS context for a connection record's ssl_mode and root certificate;
//! nullptr with an error message when the settings cannot be honoured.
std::shared_ptr<asio::ssl::context> make_upstream_tls_context(const catalog::ConnInfo& info,
                                                              std::string& error);

//! Resolves, connects, sends the startup packet with pgwarden's pinned
//! settings, authenticates (SCRAM-SHA-256, md5, cleartext or trust) and reads
//! up to the first ReadyForQuery, all within options.connect_timeout.
awaitable<ConnectResult> connect_upstream(const catalog::ConnInfo& info,
                                          const UpstreamOptions& options);

//! Opens a new connection to `endpoint` and sends a CancelRequest for the
//! given backend; the server never answers, so nothing is read.
awaitable<void> send_cancel_request(tcp::endpoint endpoint, std::uint32_t pid,
                                    std::vector<std::byte> key, std::chrono::milliseconds timeout);

}  // namespace pgwarden::daemon
