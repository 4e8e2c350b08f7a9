// Client startup: first packet, SSL/GSS refusal, cancel routing, SCRAM
// authentication, tenant lookup and the login parameters.
#include "daemon/client_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "daemon/wire_io.h"
#include "protocol/frontend.h"
#include "protocol/scram.h"
#include "protocol/sqlstate.h"

namespace pgwarden::daemon {

namespace {

namespace proto = protocol;
namespace sqlstate = protocol::sqlstate;

//! PostgreSQL caps SASL messages at this size (auth-sasl.c).
constexpr std::size_t kMaxSaslMessage = 1024;
// The virtual database of the admin console, as PgBouncer's "pgbouncer".
constexpr std::string_view kConsoleDatabase = "pgwarden";

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

//! Client encodings pgwarden accepts. Upstream is pinned to UTF8 so the query
//! guard and the server lex the same bytes; SQL_ASCII is what libpq asks for
//! under the C locale and is a subset, so it is served as UTF8 too.
bool acceptable_client_encoding(std::string_view value) {
  // asyncpg sends the value quoted ('utf-8'), as the server accepts.
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
    value = value.substr(1, value.size() - 2);
  }
  return iequals(value, "UTF8") || iequals(value, "UTF-8") || iequals(value, "UNICODE") ||
         iequals(value, "SQL_ASCII");
}

}  // namespace

ClientSession::ClientSession(tcp::socket socket, ProxyContext& context)
    : context_(context), config_(context.config()), client_(std::move(socket)) {
  client_limits_.max_message_size = config_->server.max_message_size;
}

ClientSession::~ClientSession() {
  if (counted_in_) counted_in_->activity.clients.fetch_sub(1, std::memory_order_relaxed);
  if (client_pid_ != 0) context_.sessions.remove(client_pid_);
  if (counted_) context_.clients.fetch_sub(1, std::memory_order_relaxed);
}

awaitable<void> ClientSession::run() {
  strand_ = co_await asio::this_coro::executor;
  error_code ignored;
  client_.socket().set_option(tcp::no_delay(true), ignored);
  const auto peer = client_.socket().remote_endpoint(ignored);
  client_address_ = peer.address().to_string();
  client_port_ = peer.port();
  log_tag_ = fmt::format("client addr={}", client_address_);

  // Startup and authentication must finish in time; past the deadline the
  // socket is closed under the handshake, which then fails its next read.
  bool logged_in = false;
  {
    Watchdog login_deadline(strand_, config_->server.auth_timeout, [this] {
      error_code unused;
      spdlog::info("{}: startup not finished within auth_timeout, closing", log_tag_);
      client_.socket().close(unused);
    });
    logged_in = co_await handshake();
  }
  if (!logged_in) co_return;
  if (console_) {
    co_await serve_console();
    co_return;
  }
  last_activity_ = Clock::now();
  arm_idle_timer();
  co_await serve();
}

void ClientSession::report_end(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("client session ended by an unexpected error: {}", e.what());
  }
}

awaitable<bool> ClientSession::handshake() {
  proto::StartupPacket packet;
  if (!co_await read_startup_packet(packet)) co_return false;
  if (config_->server.tls.mode == "require" && !client_.uses_tls()) {
    // As PostgreSQL's "hostssl" lines do; a CancelRequest needs no TLS.
    co_await send_fatal(sqlstate::kInvalidAuthorization, "pgwarden accepts only TLS connections",
                        "Connect with sslmode=require or stronger.");
    co_return false;
  }

  if (context_.clients.fetch_add(1, std::memory_order_relaxed) >=
      config_->server.max_client_connections) {
    context_.clients.fetch_sub(1, std::memory_order_relaxed);
    co_await send_fatal(sqlstate::kTooManyConnections, "sorry, too many clients already");
    co_return false;
  }
  counted_ = true;

  if (!co_await accept_startup_parameters(packet)) co_return false;
  if (!co_await authenticate()) co_return false;
  if (database_ == kConsoleDatabase) co_return co_await attach_console();
  co_return co_await attach_tenant();
}

awaitable<bool> ClientSession::read_startup_packet(proto::StartupPacket& packet) {
  bool asked_ssl = false;
  bool asked_gss = false;
  for (;;) {
    proto::StartupResult decoded;
    for (;;) {
      decoded = proto::decode_startup(client_in_.data());
      if (decoded.status != proto::DecodeStatus::NeedMore) break;
      auto space = client_in_.prepare(1024);
      auto [ec, n] = co_await client_.read_some(asio::buffer(space.data(), space.size()));
      if (ec) co_return false;
      client_in_.commit(n);
    }
    if (decoded.status == proto::DecodeStatus::Error) {
      // As PostgreSQL does: a bad length gets no reply (the peer may not be
      // speaking our protocol at all), anything else a FATAL.
      spdlog::info("{}: invalid startup packet: {}", log_tag_, decoded.error.message);
      if (decoded.error.message != "invalid length of startup packet") {
        co_await send_fatal(decoded.error.sqlstate, decoded.error.message);
      }
      co_return false;
    }
    packet = decoded.packet;
    const std::size_t consumed = decoded.packet.total_size;
    switch (packet.kind) {
      case proto::StartupKind::SslRequest:
      case proto::StartupKind::GssEncRequest: {
        const bool ssl = packet.kind == proto::StartupKind::SslRequest;
        bool& asked = ssl ? asked_ssl : asked_gss;
        client_in_.consume(consumed);
        if (asked || client_.uses_tls() || !client_in_.empty()) {
          // A repeated request, or bytes pipelined behind it (CVE-2021-23214).
          spdlog::info("{}: out-of-order encryption request, closing", log_tag_);
          co_return false;
        }
        asked = true;
        auto tls = ssl ? context_.client_tls() : nullptr;
        if (co_await write_all(client_, tls ? "S" : "N")) co_return false;
        if (tls) {
          auto [ec] = co_await client_.wrap_tls(*tls).async_handshake(
              asio::ssl::stream_base::server, use_nothrow);
          if (ec) {
            spdlog::info("{}: TLS handshake failed: {}", log_tag_, ec.message());
            co_return false;
          }
        }
        continue;
      }
      case proto::StartupKind::CancelRequest: {
        if (auto session = context_.sessions.find(packet.cancel_pid, packet.cancel_key)) {
          session->cancel_running_statement();
        }
        co_return false;  // the canceller never gets a reply
      }
      case proto::StartupKind::Startup:
        // The packet's views stay valid: nothing is consumed until after the
        // parameters have been copied out.
        co_return true;
    }
  }
}

awaitable<bool> ClientSession::accept_startup_parameters(const proto::StartupPacket& packet) {
  std::vector<std::string_view> unsupported_options;
  for (const auto& [name, value] : packet.parameters) {
    if (name == "user") {
      user_ = value;
    } else if (name == "database") {
      database_ = value;
    } else if (name.starts_with("_pq_.")) {
      unsupported_options.push_back(name);
    } else if (name == "replication") {
      co_await send_fatal(sqlstate::kFeatureNotSupported,
                          "pgwarden does not support replication connections");
      co_return false;
    } else if (name == "client_encoding") {
      if (!acceptable_client_encoding(value)) {
        co_await send_fatal(
            sqlstate::kInvalidParameterValue,
            fmt::format("pgwarden supports only client_encoding UTF8, not \"{}\"", value));
        co_return false;
      }
    } else if (auto tracked = tracked_parameter(name); !tracked.empty()) {
      client_parameters_ = with_parameter(client_parameters_, tracked, value);
    } else if (name == "extra_float_digits") {
      // pgjdbc sends 3; since PostgreSQL 12 the default output is already
      // exact, so ignoring it changes nothing a client can observe.
    } else {
      // Anything else (options, search_path, statement_timeout...) would have
      // to live on a shared server connection: refuse, as PgBouncer does.
      co_await send_fatal(sqlstate::kProtocolViolation,
                          fmt::format("unsupported startup parameter: {}", name));
      co_return false;
    }
  }
  if (database_.empty()) database_ = user_;
  client_in_.consume(packet.total_size);

  if (packet.minor != 0 || !unsupported_options.empty()) {
    // Ask the client to speak 3.0 and name the options we ignore. Like
    // PostgreSQL, send the whole version code, not just the minor number.
    std::string out;
    proto::put_negotiate_protocol_version(out, proto::kProtocol30, unsupported_options);
    if (co_await write_all(client_, out)) co_return false;
  }
  co_return true;
}

awaitable<bool> ClientSession::read_client_message(proto::Frame& frame) {
  auto read = co_await read_frontend_message(client_, client_in_, client_limits_);
  if (read.status == ReadStatus::Closed) co_return false;
  if (read.status == ReadStatus::Malformed) {
    co_await send_fatal(read.error.sqlstate, read.error.message);
    co_return false;
  }
  frame = read.frame;
  co_return true;
}

awaitable<bool> ClientSession::authenticate() {
  const auto* user = config_->find_user(user_);
  auto scram = user ? proto::ScramServer(*proto::parse_scram_verifier(user->verifier))
                    : proto::ScramServer::mock(user_, context_.mock_secret);
  const auto auth_failed = fmt::format("password authentication failed for user \"{}\"", user_);

  std::string out;
  const std::string_view mechanisms[] = {proto::kScramSha256};
  proto::put_auth_sasl(out, mechanisms);
  if (co_await write_all(client_, out)) co_return false;

  // SASLInitialResponse: mechanism and client-first-message.
  proto::Frame frame;
  if (!co_await read_client_message(frame)) co_return false;
  if (frame.type != static_cast<char>(proto::FrontendType::Password) ||
      frame.body.size() > kMaxSaslMessage) {
    co_await send_fatal(sqlstate::kProtocolViolation, "expected SASL response");
    co_return false;
  }
  auto initial = proto::decode_sasl_initial_response(frame.body);
  if (!initial || !initial->data) {
    co_await send_fatal(sqlstate::kProtocolViolation, "malformed SASLInitialResponse message");
    co_return false;
  }
  if (initial->mechanism != proto::kScramSha256) {
    co_await send_fatal(sqlstate::kProtocolViolation,
                        "client selected an invalid SASL authentication mechanism");
    co_return false;
  }
  auto server_first = scram.handle_client_first(*initial->data);
  client_in_.consume(frame.total_size);
  if (auto* error = std::get_if<proto::ScramError>(&server_first)) {
    co_await send_fatal(
        error->protocol_violation ? sqlstate::kProtocolViolation : sqlstate::kInvalidPassword,
        error->protocol_violation ? error->message : auth_failed);
    co_return false;
  }
  out.clear();
  proto::put_auth_sasl_continue(out, std::get<std::string>(server_first));
  if (co_await write_all(client_, out)) co_return false;

  // SASLResponse: client-final-message with the proof.
  if (!co_await read_client_message(frame)) co_return false;
  if (frame.type != static_cast<char>(proto::FrontendType::Password) ||
      frame.body.size() > kMaxSaslMessage) {
    co_await send_fatal(sqlstate::kProtocolViolation, "expected SASL response");
    co_return false;
  }
  auto server_final = scram.handle_client_final(proto::decode_sasl_response(frame.body));
  client_in_.consume(frame.total_size);
  if (auto* error = std::get_if<proto::ScramError>(&server_final)) {
    if (error->protocol_violation) {
      co_await send_fatal(sqlstate::kProtocolViolation, error->message);
    } else {
      const auto verdict = context_.auth_throttle.failed(client_address_, user_, Clock::now());
      if (verdict.delay.count() > 0) {
        spdlog::warn(
            "{} user={:?}: authentication failed ({} times within a minute); "
            "answering in {} ms",
            log_tag_, user_, verdict.failures, verdict.delay.count());
        asio::steady_timer pause(strand_, verdict.delay);
        co_await pause.async_wait(use_nothrow);
      } else {
        spdlog::info("{} user={:?}: authentication failed", log_tag_, user_);
      }
      co_await send_fatal(sqlstate::kInvalidPassword, auth_failed);
    }
    co_return false;
  }
  context_.auth_throttle.succeeded(client_address_, user_);
  out.clear();
  proto::put_auth_sasl_final(out, std::get<std::string>(server_final));
  proto::put_auth_ok(out);
  if (co_await write_all(client_, out)) co_return false;
  co_return true;
}

awaitable<bool> ClientSession::finish_login(std::string& out) {
  uses_tls_ = client_.uses_tls();
  const ClientKey key = context_.sessions.add(weak_from_this());
  client_pid_ = key.pid;
  // Every later line about this session names it, its user and database.
  log_tag_ = fmt::format("client={} user={:?} db={:?} addr={}", client_pid_, user_, database_,
                         client_address_);
  proto::put_backend_key_data(out, key.pid, key.secret);
  proto::put_ready_for_query(out, proto::TxStatus::Idle);
  co_return !co_await write_all(client_, out);
}

awaitable<bool> ClientSession::attach_console() {
  if (context_.draining.load()) {
    co_await send_fatal(sqlstate::kAdminShutdown, "pgwarden is shutting down");
    co_return false;
  }
  const auto& admins = config_->admin.users;
  if (!context_.console || std::find(admins.begin(), admins.end(), user_) == admins.end()) {
    spdlog::info("{} user={:?}: refused the admin console", log_tag_, user_);
    co_await send_fatal(sqlstate::kInvalidAuthorization,
                        fmt::format("user \"{}\" may not use the admin console", user_),
                        "Admin console users are listed in [admin] users.");
    co_return false;
  }
  console_ = true;
  std::string out;
  // What psql needs to start; the version tells it this is no PostgreSQL.
  proto::put_parameter_status(out, "server_version", "15.0 (pgwarden " PGWARDEN_VERSION ")");
  proto::put_parameter_status(out, "server_encoding", "UTF8");
  proto::put_parameter_status(out, "client_encoding", "UTF8");
  proto::put_parameter_status(out, "DateStyle", "ISO, MDY");
  proto::put_parameter_status(out, "integer_datetimes", "on");
  proto::put_parameter_status(out, "standard_conforming_strings", "on");
  if (!co_await finish_login(out)) co_return false;
  spdlog::info("{}: admin console opened", log_tag_);
  co_return true;
}

awaitable<void> ClientSession::serve_console() {
  const AdminConsole& console = *context_.console;
  bool skip_until_sync = false;
  while (!closing_) {
    auto read = co_await read_frontend_message(client_, client_in_, client_limits_);
    if (read.status == ReadStatus::Closed) break;
    if (read.status == ReadStatus::Malformed) {
      co_await send_fatal(read.error.sqlstate, read.error.message);
      co_return;
    }
    const auto& frame = read.frame;
    std::string out;
    switch (static_cast<proto::FrontendType>(frame.type)) {
      case proto::FrontendType::Query: {
        skip_until_sync = false;
        auto query = proto::decode_query(frame.body);
        if (!query) {
          co_await send_fatal(sqlstate::kProtocolViolation, "invalid Query message");
          co_return;
        }
        // The command word only: whatever else an operator types stays out
        // of the log.
        auto word =
            query->sql.substr(std::min(query->sql.size(), query->sql.find_first_not_of(" \t\r\n")));
        word = word.substr(0, word.find_first_of(" \t\r\n;"));
        spdlog::info("{}: admin console: {} ...", log_tag_, word.substr(0, 32));
        out = console.handle_query(query->sql);
        break;
      }
      case proto::FrontendType::Parse:
      case proto::FrontendType::Bind:
      case proto::FrontendType::Describe:
      case proto::FrontendType::Execute:
      case proto::FrontendType::Close:
      case proto::FrontendType::Flush:
        if (!skip_until_sync) out = AdminConsole::refuse_extended();
        skip_until_sync = true;
        break;
      case proto::FrontendType::Sync:
        skip_until_sync = false;
        proto::put_ready_for_query(out, proto::TxStatus::Idle);
        break;
      case proto::FrontendType::Terminate:
        co_return;
      default:
        co_await send_fatal(sqlstate::kProtocolViolation,
                            "the admin console accepts simple queries only");
        co_return;
    }
    client_in_.consume(frame.total_size);
    if (!out.empty() && co_await write_all(client_, out)) co_return;
  }
  if (!farewell_.empty()) co_await write_all(client_, farewell_);
}

awaitable<bool> ClientSession::attach_tenant() {
  if (context_.draining.load()) {
    co_await send_fatal(sqlstate::kAdminShutdown, "pgwarden is shutting down");
    co_return false;
  }
  tenant_generation_ = context_.generation.load(std::memory_order_acquire);
  tenant_ = context_.tenants()->find(user_, database_);
  if (!tenant_) {
    // The same words whether the name is unknown or belongs to another user.
    co_await send_fatal(sqlstate::kInvalidCatalogName,
                        fmt::format("database \"{}\" does not exist", database_));
    co_return false;
  }

  auto welcome = tenant_->pool->welcome();
  if (!welcome) {
    // The first client of a pool waits for a server: login must show real
    // server values, and an unreachable upstream is best reported now.
    auto leased = co_await tenant_->pool->acquire();
    if (auto* error = std::get_if<AcquireError>(&leased)) {
      co_await send_fatal(error->sqlstate, error->message, error->hint);
      co_return false;
    }
    tenant_->pool->release(std::move(std::get<std::unique_ptr<ServerConnection>>(leased)), true);
    welcome = tenant_->pool->welcome();
    if (!welcome) welcome.emplace();
  }

  ParameterMap shown = *welcome;
  if (client_parameters_) {
    for (const auto& [name, value] : *client_parameters_) shown[name] = value;
  }
  shown["client_encoding"] = "UTF8";
  // Servers only report application_name when set; clients expect to see it.
  shown.try_emplace("application_name", "");
  // What the session remembers is what it replays on servers: the tracked
  // parameters (the rest are the server's own and the same everywhere).
  ParameterMap tracked;
  for (std::string_view name : kTrackedParameters) {
    if (auto it = shown.find(name); it != shown.end()) tracked.insert(*it);
  }
  client_parameters_ = intern_parameters(std::move(tracked));

  std::string out;
  for (const auto& [name, value] : shown) proto::put_parameter_status(out, name, value);
  if (!co_await finish_login(out)) co_return false;
  counted_in_ = tenant_->pool;
  counted_in_->activity.clients.fetch_add(1, std::memory_order_relaxed);
  if (context_.on_login) context_.on_login(user_, database_);
  spdlog::debug("{}: logged in{}", log_tag_,
                client_.uses_tls() ? fmt::format(" over {}", SSL_get_version(client_.tls_handle()))
                                   : std::string());
  co_return true;
}

void ClientSession::cancel_running_statement() {
  asio::post(strand_, [self = shared_from_this()] {
    // Idle clients' cancels are dropped: nothing of theirs is running.
    if (!self->server_ || self->pending_.empty()) return;
    spdlog::info("{}: forwarding a cancel request to its server", self->log_tag_);
    self->cancel_on_server();
  });
}

void ClientSession::shut_down(bool force) {
  asio::post(strand_, [self = shared_from_this(), force] {
    self->draining_ = true;
    if (force || (!self->server_ && self->pending_.empty())) self->leave_for_shutdown();
  });
}

conf::Seconds ClientSession::idle_limit() const {
  if (!pending_.empty()) return conf::Seconds{0};  // a statement runs: query_timeout applies
  if (!server_) return config_->server.client_idle_timeout;
  if (tx_status_ != proto::TxStatus::Idle)
    return tenant_->pool->settings().idle_transaction_timeout;
  return conf::Seconds{0};
}

void ClientSession::arm_idle_timer() {
  const auto idle = config_->server.client_idle_timeout;
  const auto in_transaction = tenant_->pool->settings().idle_transaction_timeout;
  if (idle.count() <= 0 && in_transaction.count() <= 0) return;  // nothing to enforce
  // Wake when the limit that applies now would expire, or, while none
  // applies, after the shorter limit to look again.
  auto wait = idle_limit();
  if (wait.count() <= 0) {
    wait = idle.count() <= 0             ? in_transaction
           : in_transaction.count() <= 0 ? idle
                                         : std::min(idle, in_transaction);
  }
  auto& idle_timer = timer(idle_timer_);
  idle_timer.expires_at(last_activity_ + std::chrono::duration_cast<Clock::duration>(wait));
  idle_timer.async_wait([weak = weak_from_this()](const error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->on_idle_timer();
  });
}

void ClientSession::on_idle_timer() {
  if (closing_) return;
  const auto limit = idle_limit();
  if (limit.count() > 0 && Clock::now() - last_activity_ >= limit) {
    const bool in_transaction = server_ != nullptr;
    spdlog::info("{}: {} on \"{}\", closing", log_tag_,
                 in_transaction ? "idle_transaction_timeout" : "client_idle_timeout",
                 tenant_->name);
    proto::put_error(
        farewell_,
        {.severity = "FATAL",
         .sqlstate = in_transaction ? "25P03" : "57P05",
         .message = in_transaction ? "terminating connection due to idle-in-transaction timeout"
                                   : "terminating connection due to idle-session timeout"});
    closing_ = true;
    error_code ignored;
    client_.socket().cancel(ignored);
    return;
  }
  arm_idle_timer();
}

void ClientSession::leave_for_shutdown() {
  if (closing_) return;
  proto::put_error(farewell_, {.severity = "FATAL",
                               .sqlstate = sqlstate::kAdminShutdown,
                               .message = "pgwarden is shutting down"});
  closing_ = true;
  // The client loop wakes from its read, sends farewell_ and ends; a linked
  // server is released or closed by the pump as usual.
  error_code ignored;
  client_.socket().cancel(ignored);
}

awaitable<void> ClientSession::send_fatal(std::string_view sqlstate, std::string_view message,
                                          std::string_view hint) {
  std::string out;
  proto::put_error(out,
                   {.severity = "FATAL", .sqlstate = sqlstate, .message = message, .hint = hint});
  co_await write_all(client_, out);
}

}  // namespace pgwarden::daemon
