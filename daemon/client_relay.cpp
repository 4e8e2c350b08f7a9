// The client side of the ready loop: read client messages, judge them, lease
// a server when one is needed, and send them upstream (rewriting prepared
// statement names) or answer them locally.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <tuple>
#include <utility>

#include "daemon/audit.h"
#include "daemon/client_session.h"
#include "daemon/deallocate.h"
#include "daemon/wire_io.h"
#include "protocol/frontend.h"
#include "protocol/sqlstate.h"

namespace pgwarden::daemon {

namespace {

namespace proto = protocol;

//! Client bytes read in one go once a message is longer than the small buffer.
constexpr std::size_t kClientReadChunk = 8192;
namespace sqlstate = protocol::sqlstate;
using proto::FrontendType;

//! Text that never parses: sent upstream in place of a refused statement
//! when the server must fail the same way (abort its transaction block).
constexpr std::string_view kRefusedStatement = "pgwarden refused this statement";

void put_u32(std::string& out, std::size_t value) {
  const auto v = static_cast<std::uint32_t>(value);
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

//! Bind or Describe(S) with the statement name replaced: `head` is what
//! precedes the name in the body, `tail` what follows its NUL.
void put_renamed(std::string& out, char type, std::string_view head, std::string_view name,
                 std::string_view tail) {
  out.push_back(type);
  put_u32(out, 4 + head.size() + name.size() + 1 + tail.size());
  out.append(head).append(name).push_back('\0');
  out.append(tail);
}

}  // namespace

awaitable<void> ClientSession::serve() {
  co_await relay();
  if (dormant_.load(std::memory_order_relaxed)) {
    wait_dormant();
    co_return;
  }
  if (idle_timer_) idle_timer_->cancel();
}

void ClientSession::make_dormant_if_idle() {
  if (dormant_.load(std::memory_order_relaxed)) return;
  asio::post(strand_, [self = shared_from_this()] { self->try_dormant(); });
}

bool ClientSession::may_sleep() const {
  // Nothing owed or held: no server, no answer, no write, no cancel on its
  // way, no byte unread. TLS sessions stay awake (the TLS stream may hold
  // decrypted bytes the socket no longer shows), as do console sessions.
  return !closing_ && !console_ && client_in_.empty() && !server_ && pending_.empty() &&
         parked_.empty() && !writing_client_ && client_write_waiters_ == 0 && !client_.uses_tls();
}

void ClientSession::try_dormant() {
  // Only a session waiting in its client read.
  if (!reading_client_ || dormancy_asked_ || !may_sleep() ||
      Clock::now() - last_activity_ < kDormantAfter) {
    return;
  }
  dormancy_asked_ = true;
  error_code ignored;
  client_.socket().cancel(ignored);  // the relay's read ends; relay() sees why
}

void ClientSession::wait_dormant() {
  context_.dormant_clients.fetch_add(1, std::memory_order_relaxed);
  // Readable, closed or cancelled (shutdown, idle timeout): serve again; the
  // relay reads what came, or sees closing_ and says goodbye.
  client_.socket().async_wait(
      tcp::socket::wait_read, [self = shared_from_this()](const error_code&) {
        self->context_.dormant_clients.fetch_sub(1, std::memory_order_relaxed);
        self->dormant_.store(false, std::memory_order_relaxed);
        asio::co_spawn(
            self->strand_, [self] { return self->serve(); }, &ClientSession::report_end);
      });
}

awaitable<void> ClientSession::relay() {
  while (!closing_) {
    if (client_in_.empty()) {
      // Between messages the session holds no read buffer of its own: the
      // next read goes into the small one, which a short message fits (a
      // long one is read on below). Through TLS a record may decrypt to
      // more than that, so read in full chunks there.
      client_in_.release();
      if (!server_) release_idle_buffers();
    }
    const bool small_read = client_in_.empty() && !client_.uses_tls();
    auto space = small_read ? client_in_.prepare(1) : client_in_.prepare(kClientReadChunk);
    error_code ec;
    std::size_t n = 0;
    if (may_sleep()) {
      // Idle between transactions (just logged in, just woken, or answered
      // locally): if the client has sent nothing, sleep rather than wait in
      // a read. A recv either way; the frames go back to be reused at once.
      n = client_.read_now(asio::buffer(space.data(), space.size()), ec);
      if (n == 0 && !ec) {
        dormant_.store(true, std::memory_order_relaxed);
        co_return;
      }
    } else {
      reading_client_ = true;
      std::tie(ec, n) = co_await client_.read_some(asio::buffer(space.data(), space.size()));
      reading_client_ = false;
      if (std::exchange(dormancy_asked_, false) && ec == asio::error::operation_aborted &&
          !closing_) {
        // try_dormant cancelled the read: end here, frames and all; serve()
        // waits for the client instead. (A read that finished first carries
        // on as usual, and so does one cancelled for closing_.)
        dormant_.store(true, std::memory_order_relaxed);
        co_return;
      }
    }
    if (ec) {
      spdlog::debug("{}: disconnected ({})", log_tag_, ec.message());
      break;
    }
    client_in_.commit(n);
    if (n == space.size()) {
      // The socket may hold more: take what is there now, without waiting.
      // An error shows again on the next read.
      auto more = client_in_.prepare(kClientReadChunk);
      error_code ignored;
      client_in_.commit(client_.read_now(asio::buffer(more.data(), more.size()), ignored));
    }
    last_activity_ = Clock::now();
    const bool keep_going = co_await take_client_messages();
    if (!to_server_.empty() && server_) {
      // Most often the socket takes it all at once; only the rest is awaited.
      error_code write_ec;
      const std::size_t sent = server_->write_now(asio::buffer(to_server_), write_ec);
      if (!write_ec && sent < to_server_.size()) {
        writing_server_ = true;
        auto [rest_ec, written] = co_await server_->write(asio::buffer(to_server_) + sent);
        (void)written;
        writing_server_ = false;
        write_ec = rest_ec;
      }
      if (write_ec && server_) {
        // The pump's read fails as well and reports the lost server.
        error_code ignored;
        server_->socket().cancel(ignored);
      }
    }
    to_server_.clear();
    emit_ready_locals(loop_out_);
    if (!loop_out_.empty()) {
      auto write_ec = co_await write_client(loop_out_);
      loop_out_.clear();
      if (write_ec) break;
    }
    if (!keep_going) break;
  }
  closing_ = true;
  loop_out_.append(farewell_);
  if (!loop_out_.empty()) {
    co_await write_client(loop_out_);
    loop_out_.clear();
  }
  if (server_ && !writing_server_) {
    // Wake the pump; it decides whether the server can be reused.
    error_code ignored;
    server_->socket().cancel(ignored);
    client_.socket().cancel(ignored);
  }
}

awaitable<bool> ClientSession::take_client_messages() {
  for (;;) {
    auto decoded = proto::decode_frontend_frame(client_in_.data(), client_limits_);
    if (decoded.status == proto::DecodeStatus::NeedMore) co_return true;
    if (decoded.status == proto::DecodeStatus::Error) {
      // Framing is lost: tell the client why and close, as PostgreSQL does.
      proto::put_error(loop_out_, {.severity = "FATAL",
                                   .sqlstate = decoded.error.sqlstate,
                                   .message = decoded.error.message});
      spdlog::info("{}: {}, closing", log_tag_, decoded.error.message);
      co_return false;
    }
    const auto frame = decoded.frame;
    const auto bytes = proto::as_chars(client_in_.data().first(frame.total_size));
    auto step = take_message(frame, bytes, nullptr);
    if (step == Step::NeedServer) {
      // The one suspension of a message: waiting for (or opening) a server.
      // Then the message is taken again from where it stopped.
      std::optional<Refusal> refusal = co_await ensure_server();
      step = take_message(frame, bytes, &refusal);
    }
    client_in_.consume(frame.total_size);
    if (step == Step::Close) co_return false;
  }
}

bool ClientSession::lease_server(const std::optional<Refusal>* leased, Step& step,
                                 void (ClientSession::*refuse)(const Refusal&)) {
  if (has_server()) return true;
  if (leased == nullptr) {
    step = Step::NeedServer;  // the caller leases one and calls again
  } else {
    // ensure_server found none: its refusal (it always gives one then).
    (this->*refuse)(leased->has_value() ? **leased
                                        : Refusal{sqlstate::kConnectionFailure,
                                                  "pgwarden could not lease a server connection"});
    step = Step::Continue;
  }
  return false;
}

ClientSession::Step ClientSession::take_message(const proto::Frame& frame, std::string_view bytes,
                                                const std::optional<Refusal>* leased) {
  const auto type = static_cast<FrontendType>(frame.type);
  // Taken again after a lease (`leased` set): what was done before the
  // lease point (the guard's verdict, rate tokens) is not done twice.
  const bool first_pass = leased == nullptr;
  Step step = Step::Continue;
  if (skip_until_sync_ && type != FrontendType::Sync && type != FrontendType::Terminate) {
    return Step::Continue;
  }
  switch (type) {
    case FrontendType::Terminate:
      return Step::Close;

    case FrontendType::Query: {
      auto query = proto::decode_query(frame.body);
      if (!query) {
        refuse_query({sqlstate::kProtocolViolation, "invalid Query message", {}});
        break;
      }
      if (auto deallocate = match_deallocate(query->sql)) {
        answer_deallocate(*deallocate);
        break;
      }
      if (first_pass) {
        if (auto refusal = check_statement(query->sql)) {
          refuse_query(*refusal);
          break;
        }
        if (auto refusal = take_rate_tokens(static_cast<double>(last_statement_count_))) {
          refuse_query(*refusal);
          break;
        }
      }
      if (!lease_server(leased, step, &ClientSession::refuse_query)) return step;
      push('Q', Disposition::Forward);
      pending_.back().fingerprint = last_fingerprint_;
      note_effect(last_effect_);
      to_server_.append(bytes);
      break;
    }

    case FrontendType::Parse:
      if (!lease_server(leased, step, &ClientSession::refuse_extended)) return step;
      take_parse(frame, bytes);
      break;

    case FrontendType::Bind:
    case FrontendType::Describe: {
      std::string_view statement;
      std::string_view head;  // body bytes before the statement name
      if (type == FrontendType::Bind) {
        auto bind = proto::decode_bind(frame.body);
        if (!bind) {
          refuse_extended({sqlstate::kProtocolViolation, "invalid Bind message", {}});
          break;
        }
        statement = bind->statement;
        head = proto::as_chars(frame.body.first(bind->statement_offset));
      } else {
        auto describe = proto::decode_describe(frame.body);
        if (!describe) {
          refuse_extended({sqlstate::kProtocolViolation, "invalid Describe message", {}});
          break;
        }
        if (describe->kind == 'S') statement = describe->name;
        head = proto::as_chars(frame.body.first(1));
      }
      if (!lease_server(leased, step, &ClientSession::refuse_extended)) return step;
      batch_open_ = true;
      if (statement.empty()) {
        if (type == FrontendType::Bind) {
          bound_fingerprint_ = unnamed_fingerprint_;
          bound_effect_ = unnamed_effect_;
        }
        push(frame.type, Disposition::Forward);
        to_server_.append(bytes);
        break;
      }
      const ClientStatement* prepared = statements_.find(statement);
      if (!prepared) {
        refuse_extended({sqlstate::kInvalidSqlStatementName,
                         fmt::format("prepared statement \"{}\" does not exist", statement),
                         {}});
        break;
      }
      ensure_prepared(*prepared);
      if (type == FrontendType::Bind) {
        bound_fingerprint_ = prepared->fingerprint;
        bound_effect_ = prepared->effect;
      }
      const auto tail = proto::as_chars(frame.body.subspan(head.size() + statement.size() + 1));
      put_renamed(to_server_, frame.type, head, prepared->server_name, tail);
      push(frame.type, Disposition::Forward);
      break;
    }

    case FrontendType::Execute:
    case FrontendType::Flush:
      if (type == FrontendType::Execute && first_pass) {
        if (auto refusal = take_rate_tokens(1)) {
          refuse_extended(*refusal);
          break;
        }
      }
      if (!lease_server(leased, step, &ClientSession::refuse_extended)) return step;
      batch_open_ = true;
      if (type == FrontendType::Execute) {
        push('E', Disposition::Forward);
        pending_.back().fingerprint = bound_fingerprint_;
        note_effect(bound_effect_);
      }
      to_server_.append(bytes);
      break;

    case FrontendType::Close: {
      auto close = proto::decode_close(frame.body);
      if (!close) {
        refuse_extended({sqlstate::kProtocolViolation, "invalid Close message", {}});
        break;
      }
      if (close->kind == 'S' && !close->name.empty()) {
        // Named statements live on whichever servers have them; the client's
        // name simply goes away. Closing an unknown name is not an error.
        statements_.remove(close->name);
        std::string complete;
        proto::put_close_complete(complete);
        push_local(std::move(complete));
        break;
      }
      if (!lease_server(leased, step, &ClientSession::refuse_extended)) return step;
      batch_open_ = true;
      push('C', Disposition::Forward);
      to_server_.append(bytes);
      break;
    }

    case FrontendType::Sync:
      skip_until_sync_ = false;
      if (!server_) {
        // Nothing of this batch reached a server: answer its Sync here.
        std::string ready;
        proto::put_ready_for_query(ready, tx_status_);
        push_local(std::move(ready));
        break;
      }
      if (abort_at_sync_) {
        // Part of the batch already reached the server: make it fail there
        // too, so its transaction state is what PostgreSQL's would be.
        abort_at_sync_ = false;
        push('P', Disposition::SwallowAll);
        proto::put_parse(to_server_, "", kRefusedStatement, {});
      }
      batch_open_ = false;
      push('S', Disposition::Forward);
      to_server_.append(bytes);
      break;

    case FrontendType::CopyData:
    case FrontendType::CopyDone:
    case FrontendType::CopyFail:
      // Only meaningful while a server is in COPY FROM STDIN; PostgreSQL
      // ignores them otherwise, and so do we.
      if (server_) to_server_.append(bytes);
      break;

    case FrontendType::FunctionCall:
      // Calls a function by OID, out of sight of any SQL check: never.
      refuse_query({sqlstate::kFeatureNotSupported,
                    "pgwarden does not support the FunctionCall protocol message",
                    {}});
      break;

    case FrontendType::Password:
      refuse_query({sqlstate::kProtocolViolation, "unexpected password message", {}});
      break;
  }
  return Step::Continue;
}

void ClientSession::take_parse(const proto::Frame& frame, std::string_view bytes) {
  auto parse = proto::decode_parse(frame.body);
  if (!parse) {
    refuse_extended({sqlstate::kProtocolViolation, "invalid Parse message", {}});
    return;
  }
  if (auto refusal = check_statement(parse->sql)) {
    refuse_extended(*refusal);
    return;
  }
  batch_open_ = true;
  if (parse->statement.empty()) {
    unnamed_fingerprint_ = last_fingerprint_;
    unnamed_effect_ = last_effect_;
    push('P', Disposition::Forward);
    to_server_.append(bytes);
    return;
  }
  ClientStatement statement;
  statement.fingerprint = last_fingerprint_;
  statement.effect = last_effect_;
  statement.server_name = server_statement_name(parse->sql, parse->param_types);
  std::vector<std::uint32_t> types(parse->param_count);
  for (std::size_t i = 0; i < types.size(); ++i) types[i] = parse->param_type(i);
  proto::put_parse(statement.parse_message, statement.server_name, parse->sql, types);
  if (!statements_.add(parse->statement, statement)) {
    refuse_extended({sqlstate::kDuplicatePreparedStatement,
                     fmt::format("prepared statement \"{}\" already exists", parse->statement),
                     {}});
    return;
  }
  if (server_->statements().touch(statement.server_name)) {
    // Already prepared on this server (by this or another client).
    std::string complete;
    proto::put_parse_complete(complete);
    push_local(std::move(complete));
    return;
  }
  if (auto evicted = server_->statements().add(statement.server_name)) {
    push('C', Disposition::SwallowAll);
    proto::put_close(to_server_, 'S', *evicted);
  }
  push('P', Disposition::Forward, statement.server_name);
  to_server_.append(statement.parse_message);
}

void ClientSession::ensure_prepared(const ClientStatement& statement) {
  if (server_->statements().touch(statement.server_name)) return;
  if (auto evicted = server_->statements().add(statement.server_name)) {
    push('C', Disposition::SwallowAll);
    proto::put_close(to_server_, 'S', *evicted);
  }
  // Errors still reach the client: a statement that no longer prepares (a
  // table was dropped) must not fail silently.
  push('P', Disposition::Swallow, statement.server_name);
  to_server_.append(statement.parse_message);
}

bool ClientSession::has_server() {
  if (server_) return true;
  // The common case under load: a server released a moment ago, taken
  // without a coroutine (ensure_server does the rest: waiting, opening,
  // checking an idle one, a reloaded tenant).
  if (tenant_generation_ != context_.generation.load(std::memory_order_acquire)) return false;
  auto server = tenant_->pool->try_acquire();
  if (!server) return false;
  link_server(std::move(server));
  return true;
}

awaitable<std::optional<ClientSession::Refusal>> ClientSession::ensure_server() {
  if (server_) co_return std::nullopt;
  const auto generation = context_.generation.load(std::memory_order_acquire);
  if (generation != tenant_generation_) {
    // The configuration was reloaded: this transaction uses the new record
    // (pool size, limits, credentials) for this client's database.
    auto current = context_.tenants()->find(user_, database_);
    if (!current) {
      co_return Refusal{sqlstate::kInvalidCatalogName,
                        fmt::format("database \"{}\" no longer exists", database_)};
    }
    tenant_ = std::move(current);
    tenant_generation_ = generation;
  }
  auto leased = co_await tenant_->pool->acquire();
  if (auto* error = std::get_if<AcquireError>(&leased)) {
    co_return Refusal{error->sqlstate, error->message, error->hint};
  }
  link_server(std::move(std::get<std::unique_ptr<ServerConnection>>(leased)));
  co_return std::nullopt;
}

void ClientSession::link_server(std::unique_ptr<ServerConnection> server) {
  server_ = std::move(server);
  tx_status_ = proto::TxStatus::Idle;
  // Bring the server's session to this client's: undo what a previous
  // client left that pgwarden could not follow, then apply this client's
  // parameters and settings where they differ. Pipelined ahead of the
  // client's first message, so even this costs no extra round trip; a
  // clean server with matching values gets nothing at all.
  std::string sql;
  if (server_->needs_reset()) {
    sql = "RESET ALL;CLOSE ALL;";
    server_->parameters() = server_->initial_parameters();
    server_->settings().clear();
    server_->set_needs_reset(false);
  }
  if (!server_->known_to_match(client_parameters_)) {
    build_parameter_sync(*client_parameters_, std::as_const(*server_).parameters(), sql);
    server_->remember_match(client_parameters_);
  }
  if (build_settings_sync(client_settings_, server_->settings(), sql)) {
    server_->settings() = client_settings_;
  }
  in_block_ = false;
  if (!sql.empty()) {
    push('Q', Disposition::SwallowAll);
    pending_.back().parameter_sync = true;
    proto::put_query(to_server_, sql);
  }
  // Started from a fresh handler, not inline: with Asio 1.26, a coroutine
  // co_spawned inline from this one on the same strand cancelled this one's
  // pending client read when it finished (seen as ECANCELED on the next read).
  asio::post(strand_, [self = shared_from_this()] {
    asio::co_spawn(
        self->strand_, [self] { return self->pump_server(); }, asio::detached);
  });
}

std::optional<ClientSession::Refusal> ClientSession::check_statement(std::string_view sql) {
  const policy::Decision decision = tenant_->classifier->classify(sql);
  last_statement_count_ = decision.statement_count;
  last_fingerprint_ = decision.fingerprint;
  if (decision.allowed()) {
    if (decision.clears_prepared_statements) statements_.clear();
    last_effect_ = session_effect(sql, decision.statement_count);
    return std::nullopt;
  }
  tenant_->pool->activity.denials.fetch_add(1, std::memory_order_relaxed);
  Refusal refusal{decision.sqlstate, {}, decision.hint};
  if (decision.sqlstate == policy::sqlstate::kInsufficientPrivilege) {
    refusal.message = fmt::format("pgwarden: {} (connection \"{}\" is read-only)", decision.message,
                                  tenant_->name);
  } else if (decision.sqlstate == policy::sqlstate::kSyntaxError) {
    // The parser's own words, as PostgreSQL would report them.
    refusal.message = decision.message;
  } else {
    refusal.message = fmt::format("pgwarden: {}", decision.message);
  }
  if (decision.position > 0) refusal.position = std::to_string(decision.position);
  spdlog::info("{}: refused on \"{}\" ({}): {}", log_tag_, tenant_->name, decision.sqlstate,
               decision.message);
  audit_refusal(decision.sqlstate, decision.message, sql);
  return refusal;
}

std::optional<ClientSession::Refusal> ClientSession::take_rate_tokens(double tokens) {
  if (tokens <= 0) return std::nullopt;  // an empty query runs nothing
  const auto result = tenant_->rate->try_acquire(Clock::now(), tokens);
  if (result.allowed) {
    tenant_->pool->activity.queries.fetch_add(static_cast<std::uint64_t>(tokens),
                                              std::memory_order_relaxed);
    return std::nullopt;
  }
  tenant_->pool->activity.rate_limited.fetch_add(1, std::memory_order_relaxed);
  audit_refusal(sqlstate::kConfigurationLimitExceeded, "rate limit", {});
  spdlog::info("{}: rate limit of \"{}\" reached", log_tag_, tenant_->name);
  return Refusal{
      sqlstate::kConfigurationLimitExceeded,
      fmt::format("pgwarden: connection \"{}\" is limited to {:g} queries per minute; "
                  "retry in {:.1f} s",
                  tenant_->name, tenant_->rate->per_minute(), result.retry_after_seconds),
      "Spread the queries out, or ask for a higher queries_per_minute."};
}

void ClientSession::answer_deallocate(const Deallocate& deallocate) {
  // The client's names exist only in pgwarden (servers hold hashed names
  // shared by all clients), so the answer is ours: psycopg deallocates its
  // own statements this way.
  if (deallocate.all) {
    statements_.clear();
  } else if (!statements_.find(deallocate.name)) {
    refuse_query({sqlstate::kInvalidSqlStatementName,
                  fmt::format("prepared statement \"{}\" does not exist", deallocate.name),
                  {}});
    return;
  } else {
    statements_.remove(deallocate.name);
  }
  std::string reply;
  proto::put_command_complete(reply, deallocate.all ? "DEALLOCATE ALL" : "DEALLOCATE");
  proto::put_ready_for_query(reply, tx_status_);
  push_local(std::move(reply));
}

void ClientSession::refuse_query(const Refusal& refusal) {
  std::string error;
  proto::put_error(error, {.sqlstate = refusal.sqlstate,
                           .message = refusal.message,
                           .hint = refusal.hint,
                           .position = refusal.position});
  if (server_) {
    // Inside a transaction (or with requests in flight) the server must see
    // a failure too, so the block is aborted exactly as PostgreSQL would.
    push_local(std::move(error));
    push('Q', Disposition::SwallowButReady);
    proto::put_query(to_server_, kRefusedStatement);
    return;
  }
  proto::put_ready_for_query(error, tx_status_);
  push_local(std::move(error));
}

void ClientSession::refuse_extended(const Refusal& refusal) {
  std::string error;
  proto::put_error(error, {.sqlstate = refusal.sqlstate,
                           .message = refusal.message,
                           .hint = refusal.hint,
                           .position = refusal.position});
  push_local(std::move(error));
  skip_until_sync_ = true;
  if (server_) abort_at_sync_ = true;
}

void ClientSession::audit_refusal(std::string_view state, std::string_view reason,
                                  std::string_view sql) {
  audit::record({.user = user_,
                 .connection = tenant_->name,
                 .client = client_address_,
                 .allowed = false,
                 .reason = reason,
                 .sqlstate = state,
                 .fingerprint = last_fingerprint_,
                 .text = tenant_->limits.log_query_text ? sql : std::string_view{}});
}

void ClientSession::audit_completion(const PendingRequest& done) {
  if (audit::mode() != audit::Mode::All) return;
  const auto elapsed = std::chrono::duration<double, std::milli>(Clock::now() - done.started);
  audit::record({.user = user_,
                 .connection = tenant_->name,
                 .client = client_address_,
                 .allowed = true,
                 .fingerprint = done.fingerprint,
                 .duration_ms = elapsed.count(),
                 .rows = static_cast<std::int64_t>(request_rows_)});
}

void ClientSession::push(char request, Disposition disposition, std::string registers) {
  pending_.push_back({request, disposition, std::move(registers), {}});
  if (request == 'Q' || request == 'E') pending_.back().started = Clock::now();
  if ((request == 'Q' || request == 'E') && !statement_timer_armed_) arm_statement_timer();
}

void ClientSession::push_local(std::string bytes) {
  pending_.push_back({0, Disposition::Local, {}, std::move(bytes)});
}

void ClientSession::note_effect(const SessionEffect& effect) {
  switch (effect.kind) {
    case SessionEffect::Kind::None:
      return;
    case SessionEffect::Kind::Dirty:
      server_->set_needs_reset(true);
      return;
    default:
      // Applied when its CommandComplete shows it ran (settle_effect).
      pending_.back().effect = std::make_unique<SessionEffect>(effect);
      return;
  }
}

void ClientSession::settle_effect(SessionEffect& effect) {
  if (in_block_) {
    // COMMIT keeps it, ROLLBACK (or ROLLBACK TO) undoes it; the server is
    // reset before its next use either way.
    server_->set_needs_reset(true);
    in_block_effects_.push_back(std::move(effect));
    return;
  }
  apply_effect(effect);
  switch (effect.kind) {
    case SessionEffect::Kind::Track:
      server_->settings()[effect.name] = effect.sql;
      break;
    case SessionEffect::Kind::Reset:
      server_->settings().erase(effect.name);
      break;
    case SessionEffect::Kind::ResetAll:
      server_->settings().clear();
      break;
    default:
      break;
  }
}

void ClientSession::apply_effect(const SessionEffect& effect) {
  switch (effect.kind) {
    case SessionEffect::Kind::Track:
      client_settings_[effect.name] = effect.sql;
      break;
    case SessionEffect::Kind::Reset: {
      auto it = client_settings_.find(effect.name);
      if (it != client_settings_.end()) client_settings_.erase(it);
      break;
    }
    case SessionEffect::Kind::ResetAll:
      client_settings_.clear();
      break;
    default:
      break;
  }
}

void ClientSession::emit_ready_locals(std::string& out) {
  while (!pending_.empty() && pending_.front().disposition == Disposition::Local) {
    out.append(pending_.front().local);
    pending_.pop_front();
  }
}

}  // namespace pgwarden::daemon
