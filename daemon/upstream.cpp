// Upstream login: connect, startup packet, authentication, first ReadyForQuery.
#include "daemon/upstream.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "daemon/byte_buffer.h"
#include "daemon/wire_io.h"
#include "protocol/backend.h"
#include "protocol/builder.h"
#include "protocol/scram.h"
#include "protocol/sqlstate.h"

namespace pgwarden::daemon {

namespace {

namespace proto = protocol;

UpstreamError failure(UpstreamFailure kind, std::string message = {}) {
  return UpstreamError{kind, std::move(message)};
}

//! Maps an ErrorResponse received during login to what the client is told.
UpstreamError login_error(const proto::ErrorFields& fields, catalog::SslMode ssl_mode) {
  if (fields.sqlstate == proto::sqlstate::kInvalidPassword ||
      fields.sqlstate == proto::sqlstate::kInvalidAuthorization) {
    // pg_hba "no encryption" rejections come as 28000 too: those mean the
    // server wants TLS, not that the password is wrong.
    if (fields.message.find("no encryption") != std::string_view::npos &&
        ssl_mode <= catalog::SslMode::Prefer) {
      return failure(UpstreamFailure::SslRequired);
    }
    return failure(UpstreamFailure::AuthFailed);
  }
  // The server's own text names no secret (PostgreSQL never echoes passwords).
  return failure(UpstreamFailure::ServerError, std::string(fields.message));
}

class Login {
 public:
  Login(ServerConnection& server, const catalog::ConnInfo& info) : server_(server), info_(info) {}

  awaitable<std::optional<UpstreamError>> run(const UpstreamOptions& options) {
    std::string out;
    const std::string timeout_ms = std::to_string(options.statement_timeout.count());
    const std::pair<std::string_view, std::string_view> params[] = {
        {"user", info_.user},
        {"database", info_.dbname},
        {"application_name", options.application_name},
        {"client_encoding", "UTF8"},
        {"standard_conforming_strings", "on"},
        {"default_transaction_read_only", "on"},
        {"statement_timeout", timeout_ms},
    };
    proto::put_startup_message(out, params);
    if (auto [ec, n] = co_await server_.write(asio::buffer(out)); ec) {
      co_return failure(UpstreamFailure::Refused);
    }
    for (;;) {
      auto read = co_await read_backend_message(server_, buffer_, limits_);
      if (read.status == ReadStatus::Closed) co_return failure(UpstreamFailure::Refused);
      if (read.status == ReadStatus::Malformed) co_return failure(UpstreamFailure::Protocol);
      auto error = co_await handle(read.frame);
      buffer_.consume(read.frame.total_size);
      if (error) co_return error;
      if (ready_) {
        server_.remember_initial_parameters();
        co_return std::nullopt;
      }
    }
  }

 private:
  awaitable<std::optional<UpstreamError>> handle(const proto::Frame& frame) {
    switch (static_cast<proto::BackendType>(frame.type)) {
      case proto::BackendType::Authentication:
        co_return co_await authenticate(frame.body);
      case proto::BackendType::ParameterStatus: {
        auto status = proto::decode_parameter_status(frame.body);
        if (!status) co_return failure(UpstreamFailure::Protocol);
        server_.parameters()[std::string(status->name)] = std::string(status->value);
        co_return std::nullopt;
      }
      case proto::BackendType::BackendKeyData: {
        auto key = proto::decode_backend_key_data(frame.body);
        if (!key) co_return failure(UpstreamFailure::Protocol);
        pid_ = key->pid;
        key_.assign(key->key.begin(), key->key.end());
        co_return std::nullopt;
      }
      case proto::BackendType::ReadyForQuery:
        if (!authenticated_) co_return failure(UpstreamFailure::Protocol);
        ready_ = true;
        co_return std::nullopt;
      case proto::BackendType::ErrorResponse: {
        auto fields = proto::decode_error_fields(frame.body);
        if (!fields) co_return failure(UpstreamFailure::Protocol);
        co_return login_error(*fields, info_.ssl_mode);
      }
      case proto::BackendType::NoticeResponse:
      case proto::BackendType::NegotiateProtocolVersion:
        co_return std::nullopt;
      default:
        co_return failure(UpstreamFailure::Protocol);
    }
  }

  awaitable<std::optional<UpstreamError>> authenticate(proto::ByteView body) {
    auto request = proto::decode_authentication(body);
    if (!request) co_return failure(UpstreamFailure::Protocol);
    std::string out;
    switch (request->code) {
      case proto::AuthCode::Ok:
        if (scram_ && !scram_verified_) {
          // A server that skips SASLFinal has not proven it knows the password.
          co_return failure(UpstreamFailure::Protocol);
        }
        authenticated_ = true;
        co_return std::nullopt;
      case proto::AuthCode::CleartextPassword:
        proto::put_password(out, info_.password);
        break;
      case proto::AuthCode::Md5Password: {
        if (request->payload.size() != 4) co_return failure(UpstreamFailure::Protocol);
        proto::put_password(out, proto::md5_password_response(info_.user, info_.password,
                                                              proto::as_chars(request->payload)));
        break;
      }
      case proto::AuthCode::Sasl: {
        auto mechanisms = proto::decode_sasl_mechanisms(request->payload);
        if (!mechanisms ||
            std::ranges::find(*mechanisms, proto::kScramSha256) == mechanisms->end()) {
          co_return failure(UpstreamFailure::Unsupported,
                            "the server offers no SASL mechanism pgwarden supports");
        }
        scram_.emplace(info_.password);
        proto::put_sasl_initial_response(out, proto::kScramSha256, scram_->client_first());
        break;
      }
      case proto::AuthCode::SaslContinue: {
        if (!scram_) co_return failure(UpstreamFailure::Protocol);
        auto final_message = scram_->handle_server_first(proto::as_chars(request->payload));
        if (!final_message) co_return failure(UpstreamFailure::Protocol);
        proto::put_sasl_response(out, *final_message);
        break;
      }
      case proto::AuthCode::SaslFinal:
        if (!scram_ || !scram_->verify_server_final(proto::as_chars(request->payload))) {
          co_return failure(UpstreamFailure::Protocol, "the server's SCRAM signature is wrong");
        }
        scram_verified_ = true;
        co_return std::nullopt;
      default:
        co_return failure(UpstreamFailure::Unsupported,
                          "the server asks for an authentication method pgwarden does not support");
    }
    if (auto [ec, n] = co_await server_.write(asio::buffer(out)); ec) {
      co_return failure(UpstreamFailure::Refused);
    }
    co_return std::nullopt;
  }

 public:
  std::uint32_t pid_ = 0;
  std::vector<std::byte> key_;

 private:
  ServerConnection& server_;
  const catalog::ConnInfo& info_;
  ByteBuffer buffer_;
  proto::BackendLimits limits_{.max_message_size = 1U << 20};
  std::optional<proto::ScramClient> scram_;
  bool scram_verified_ = false;
  bool authenticated_ = false;
  bool ready_ = false;
};

//! Asks for TLS (SSLRequest) and, if the server agrees, wraps the socket.
//! Returns an error, or nullopt with the connection in TLS or (when the
//! mode allows it) still in clear.
awaitable<std::optional<UpstreamError>> negotiate_tls(ServerConnection& server,
                                                      const catalog::ConnInfo& info,
                                                      asio::ssl::context& context) {
  std::string request;
  proto::put_ssl_request(request);
  if (auto [ec, n] = co_await server.write(asio::buffer(request)); ec) {
    co_return failure(UpstreamFailure::Refused);
  }
  // Exactly one byte: anything the server sent after it would be data
  // injected before encryption (CVE-2021-23222); an 'E' here is never shown
  // (CVE-2024-10977).
  char answer = 0;
  auto [read_ec, n] =
      co_await asio::async_read(server.socket(), asio::buffer(&answer, 1), use_nothrow);
  if (read_ec) co_return failure(UpstreamFailure::Refused);
  if (answer == 'N') {
    if (info.ssl_mode >= catalog::SslMode::Require) {
      co_return failure(UpstreamFailure::TlsFailed,
                        fmt::format("The server does not support SSL, but ssl_mode={}.",
                                    catalog::to_string(info.ssl_mode)));
    }
    co_return std::nullopt;
  }
  if (answer != 'S') co_return failure(UpstreamFailure::Protocol);
  error_code pending;
  if (server.socket().available(pending) > 0) co_return failure(UpstreamFailure::Protocol);

  auto& tls = server.wrap_tls(context);
  // SNI, and for verify-full the name check, as libpq does.
  SSL_set_tlsext_host_name(tls.native_handle(), info.host.c_str());
  if (info.ssl_mode == catalog::SslMode::VerifyFull) {
    tls.set_verify_callback(asio::ssl::host_name_verification(info.host));
  }
  auto [handshake_ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_nothrow);
  if (handshake_ec) {
    // OpenSSL's reason ("certificate verify failed"...) names no secret.
    co_return failure(
        UpstreamFailure::TlsFailed,
        fmt::format("TLS handshake with the server failed: {}", handshake_ec.message()));
  }
  co_return std::nullopt;
}

awaitable<std::optional<UpstreamError>> connect_and_login(ServerConnection& server,
                                                          tcp::resolver& resolver,
                                                          const catalog::ConnInfo& info,
                                                          const UpstreamOptions& options,
                                                          bool use_tls) {
  auto [resolve_ec, endpoints] =
      co_await resolver.async_resolve(info.host, std::to_string(info.port), use_nothrow);
  if (resolve_ec) co_return failure(UpstreamFailure::Refused);

  auto [connect_ec, endpoint] =
      co_await asio::async_connect(server.socket(), endpoints, use_nothrow);
  if (connect_ec) co_return failure(UpstreamFailure::Refused);
  error_code ignored;
  server.socket().set_option(tcp::no_delay(true), ignored);

  if (use_tls && options.tls) {
    if (auto error = co_await negotiate_tls(server, info, *options.tls)) co_return error;
  }
  Login login(server, info);
  if (auto error = co_await login.run(options)) co_return error;
  server.set_identity(login.pid_, std::move(login.key_), endpoint);
  server.mark_idle();
  co_return std::nullopt;
}

awaitable<ConnectResult> connect_once(const catalog::ConnInfo& info, const UpstreamOptions& options,
                                      bool use_tls) {
  auto executor = co_await asio::this_coro::executor;
  auto server = std::make_unique<ServerConnection>(tcp::socket(executor));
  server->statements().set_capacity(options.max_prepared_statements);
  tcp::resolver resolver(executor);
  Watchdog watchdog(executor, options.connect_timeout, [&] {
    resolver.cancel();
    error_code ignored;
    server->socket().close(ignored);
  });
  auto error = co_await connect_and_login(*server, resolver, info, options, use_tls);
  if (watchdog.fired()) co_return failure(UpstreamFailure::Timeout);
  if (error) co_return std::move(*error);
  co_return std::move(server);
}

}  // namespace

std::string UpstreamError::user_message() const {
  switch (kind) {
    case UpstreamFailure::Refused:
      return "Unable to connect. Check host/port.";
    case UpstreamFailure::AuthFailed:
      return "Authentication failed. Check credentials.";
    case UpstreamFailure::Timeout:
      return "Connection timed out. Server may be unreachable.";
    case UpstreamFailure::SslRequired:
      return "SSL connection required by server.";
    case UpstreamFailure::Protocol:
      return "The server sent an invalid message during login.";
    case UpstreamFailure::ServerError:
    case UpstreamFailure::Unsupported:
    case UpstreamFailure::TlsFailed:
      return message;
  }
  return message;
}

std::string UpstreamError::hint() const {
  if (kind == UpstreamFailure::SslRequired) return "Set ssl_mode=require on the connection.";
  return {};
}

awaitable<ConnectResult> connect_upstream(const catalog::ConnInfo& info,
                                          const UpstreamOptions& options) {
  // libpq's order: allow tries clear text first and TLS if the server
  // insists; prefer and stronger modes ask for TLS first.
  const bool tls_first = info.ssl_mode >= catalog::SslMode::Prefer;
  auto result = co_await connect_once(info, options, tls_first);
  if (info.ssl_mode == catalog::SslMode::Allow) {
    if (auto* error = std::get_if<UpstreamError>(&result);
        error && error->kind == UpstreamFailure::SslRequired) {
      result = co_await connect_once(info, options, true);
    }
  }
  co_return result;
}

std::shared_ptr<asio::ssl::context> make_upstream_tls_context(const catalog::ConnInfo& info,
                                                              std::string& error) {
  if (info.ssl_mode == catalog::SslMode::Disable) return nullptr;
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  if (info.ssl_mode >= catalog::SslMode::VerifyCa) {
    error_code ec;
    if (!info.ssl_root_cert.empty()) {
      context->load_verify_file(info.ssl_root_cert, ec);
      if (ec) {
        error = fmt::format("cannot read sslrootcert \"{}\": {}", info.ssl_root_cert, ec.message());
        return nullptr;
      }
    } else {
      context->set_default_verify_paths(ec);
    }
    context->set_verify_mode(asio::ssl::verify_peer);
  } else {
    // require/prefer/allow encrypt without checking who answers, as libpq
    // does without a root certificate.
    context->set_verify_mode(asio::ssl::verify_none);
  }
  return context;
}

bool ServerConnection::has_pending_input() {
  pollfd fd{socket().native_handle(), POLLIN, 0};
  return ::poll(&fd, 1, 0) != 0;
}

void ServerConnection::close() {
  auto& lowest = socket();
  if (!lowest.is_open()) return;
  // Best effort, never blocking: a polite Terminate, then close.
  std::string out;
  protocol::put_terminate(out);
  try_write(out);
  error_code ignored;
  lowest.shutdown(tcp::socket::shutdown_both, ignored);
  lowest.close(ignored);
}

awaitable<void> send_cancel_request(tcp::endpoint endpoint, std::uint32_t pid,
                                    std::vector<std::byte> key, std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  Watchdog watchdog(executor, timeout, [&] {
    error_code ignored;
    socket.close(ignored);
  });
  auto [ec] = co_await socket.async_connect(endpoint, use_nothrow);
  if (ec) co_return;
  std::string out;
  protocol::put_cancel_request(out, pid, key);
  co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
  // Wait for the server to close: it never answers a CancelRequest.
  char byte;
  co_await socket.async_read_some(asio::buffer(&byte, 1), use_nothrow);
}

}  // namespace pgwarden::daemon
