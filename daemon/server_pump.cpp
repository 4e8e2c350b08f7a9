// The server side of the ready loop: relay a linked server's answers to the
// client in large chunks, account for them against what is owed, and give
// the server back once the client is between transactions.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/client_session.h"
#include "protocol/backend.h"
#include "protocol/sqlstate.h"

namespace pgwarden::daemon {

namespace {

namespace proto = protocol;
namespace sqlstate = protocol::sqlstate;
using proto::BackendType;

//! Bytes read from a server in one go: large, so results move in big chunks.
constexpr std::size_t kServerReadChunk = 32768;
// How long a server may take to act on pgwarden's cancel at query_timeout.
constexpr auto kCancelGrace = std::chrono::seconds(5);

//! Backend messages the relay must see whole; the rest may stream through.
bool needs_whole_message(char type) {
  switch (static_cast<BackendType>(type)) {
    case BackendType::ReadyForQuery:
    case BackendType::ParameterStatus:
    case BackendType::CommandComplete:
    case BackendType::ErrorResponse:
    case BackendType::PortalSuspended:
    case BackendType::EmptyQueryResponse:
      return true;
    default:
      return false;
  }
}

//! Messages that make up a statement's result (rows, COPY data).
bool counts_toward_result(char type) {
  return type == 'D' || type == 'd';
}

//! Messages that end one statement's result.
bool ends_statement(char type) {
  return type == 'C' || type == 'E' || type == 's' || type == 'I';
}

//! Whether a message answering a request with `disposition` reaches the client.
bool reaches_client(Disposition disposition, char type) {
  switch (disposition) {
    case Disposition::Forward:
      return true;
    case Disposition::Swallow:
      return type == 'E';
    case Disposition::SwallowButReady:
      return type == 'Z';
    case Disposition::SwallowAll:
    case Disposition::Local:
      return false;
  }
  return true;
}

}  // namespace

bool ClientSession::server_is_clean() const {
  return pending_.empty() && !batch_open_ && tx_status_ == proto::TxStatus::Idle &&
         passthrough_ == 0 && server_in_.empty() && !writing_server_ && to_server_.empty();
}

awaitable<void> ClientSession::pump_server() {
  co_await pump_server_loop();
  if (closing_) {
    // The session ends (the client left, or was sent a FATAL): wake the
    // client loop so that it closes the connection.
    error_code ignored;
    client_.socket().cancel(ignored);
  }
  // The transaction is over: an idle client keeps no buffers.
  if (!server_) release_idle_buffers();
}

void ClientSession::release_idle_buffers() {
  server_in_.release();
  if (!reading_client_) client_in_.release();
  pending_.release();
  // Output scratch strings keep the capacity of the largest message seen;
  // give back anything beyond a small working size.
  constexpr std::size_t kKeep = 1024;
  for (std::string* s : {&to_server_, &loop_out_, &pump_out_}) {
    if (s->empty() && s->capacity() > kKeep) std::string().swap(*s);
  }
}

awaitable<void> ClientSession::pump_server_loop() {
  // Runs while a server is linked; ends by giving it back or closing it.
  while (server_) {
    if (closing_) {
      // The client is gone, or its session ends (a FATAL was sent). Checked
      // here too, not only on a cancelled read: the client loop's cancel is
      // lost if it lands while we are writing.
      unlink_server(server_is_clean());
      co_return;
    }
    auto space = server_in_.prepare(kServerReadChunk);
    auto [ec, n] = co_await server_->read_some(asio::buffer(space.data(), space.size()));
    if (ec) {
      if (closing_) {
        unlink_server(server_is_clean());
        co_return;
      }
      spdlog::warn("{}: connection to the server of \"{}\" lost: {}", log_tag_, tenant_->name,
                   ec.message());
      co_await abandon_server("pgwarden lost the connection to the server");
      co_return;
    }
    server_in_.commit(n);

    const std::size_t scanned = scan_server_bytes();
    if (scanned == kMalformed) {
      spdlog::warn("{}: the server of \"{}\" sent a malformed message", log_tag_, tenant_->name);
      co_await abandon_server("pgwarden received an invalid message from the server");
      co_return;
    }
    gather_.clear();
    for (const auto& segment : segments_) {
      const auto* base = segment.local ? reinterpret_cast<const std::byte*>(pump_out_.data())
                                       : server_in_.data().data();
      gather_.push_back(asio::buffer(base + segment.offset, segment.size));
    }
    error_code write_error;
    std::size_t sent = 0;
    if (!gather_.empty() && !write_client_now(gather_, sent, write_error)) {
      write_error = co_await write_client(gather_, sent);
    }
    server_in_.consume(scanned);
    pump_out_.clear();
    last_activity_ = Clock::now();
    if (write_error) {
      closing_ = true;
      unlink_server(server_is_clean());
      co_return;
    }
    if (server_is_clean()) unlink_server(true);
  }
}

std::size_t ClientSession::scan_server_bytes() {
  const auto data = server_in_.data();
  segments_.clear();
  std::size_t pos = 0;
  std::size_t run_start = 0;
  bool run_forward = true;
  // Bytes go to the client in runs; a swallowed stretch or a local reply
  // closes the current run.
  auto close_run = [&] {
    if (run_forward && pos > run_start) segments_.push_back({false, run_start, pos - run_start});
    run_start = pos;
  };
  auto continue_run = [&](bool forward) {
    if (forward != run_forward) {
      close_run();
      run_forward = forward;
    }
  };
  // The client gets pgwarden's error in place of the server message at pos.
  auto substitute_error = [&](const proto::ErrorInfo& error) {
    continue_run(false);
    const std::size_t offset = pump_out_.size();
    proto::put_error(pump_out_, error);
    segments_.push_back({true, offset, pump_out_.size() - offset});
  };

  if (!pending_.empty() && pending_.front().disposition == Disposition::Local) {
    const std::size_t offset = pump_out_.size();
    emit_ready_locals(pump_out_);
    segments_.push_back({true, offset, pump_out_.size() - offset});
  }
  if (passthrough_ > 0) {
    continue_run(passthrough_forward_);
    const std::size_t n = std::min(passthrough_, data.size());
    pos += n;
    passthrough_ -= n;
  }
  while (passthrough_ == 0 && pos < data.size()) {
    const auto header = proto::decode_backend_header(data.subspan(pos), server_limits_);
    if (header.status == proto::DecodeStatus::NeedMore) break;
    if (header.status == proto::DecodeStatus::Error) return kMalformed;
    const char type = header.header.type;
    const std::size_t total = header.header.total_size();
    const std::size_t available = data.size() - pos;
    // Once the session is ending (a refused startup parameter), nothing more
    // of the server's goes to the client.
    bool forward =
        !closing_ && (pending_.empty() || reaches_client(pending_.front().disposition, type));
    if (forward && counts_toward_result(type)) {
      // The result cap: rows past it are dropped and the statement cancelled;
      // its end is then reported as the cap, never as a silent truncation.
      ++result_rows_;
      ++request_rows_;
      result_bytes_ += total;
      const auto& limits = tenant_->limits;
      if (!result_capped_ &&
          ((limits.max_result_rows && result_rows_ > limits.max_result_rows) ||
           (limits.max_result_bytes && result_bytes_ > limits.max_result_bytes))) {
        result_capped_ = true;
        spdlog::info("{}: result on \"{}\" passed its cap, cancelling the statement", log_tag_,
                     tenant_->name);
        cancel_on_server();
      }
      if (result_capped_) forward = false;
    }
    if (available < total) {
      if (needs_whole_message(type)) break;
      // Stream the start of a large message now, the rest as it arrives.
      continue_run(forward);
      passthrough_ = total - available;
      passthrough_forward_ = forward;
      pos = data.size();
      break;
    }
    if (forward && ends_statement(type)) {
      if (result_capped_) {
        const auto message = fmt::format(
            "pgwarden: the result is larger than connection \"{}\" allows ({})", tenant_->name,
            tenant_->limits.max_result_rows && result_rows_ > tenant_->limits.max_result_rows
                ? fmt::format("max_result_rows = {}", tenant_->limits.max_result_rows)
                : fmt::format("max_result_bytes = {}", tenant_->limits.max_result_bytes));
        substitute_error({.sqlstate = sqlstate::kProgramLimitExceeded,
                          .message = message,
                          .hint = "Add a LIMIT (or narrower columns) to the query."});
        forward = false;
        result_capped_ = false;
        timed_out_ = false;
      }
      result_rows_ = 0;
      result_bytes_ = 0;
    }
    if (type == 'E' && !pending_.empty() && pending_.front().parameter_sync) {
      // The client's own startup parameters failed on the server (an unknown
      // TimeZone, say): PostgreSQL would have refused the login, so does
      // pgwarden now. The server's state is unknown: reset before reuse.
      auto fields = proto::decode_error_fields(data.subspan(pos + 5, total - 5));
      server_->set_needs_reset(true);
      substitute_error({.severity = "FATAL",
                        .sqlstate = fields ? std::string(fields->sqlstate)
                                           : std::string(sqlstate::kInvalidParameterValue),
                        .message = fields ? std::string(fields->message)
                                          : std::string("invalid startup parameter")});
      closing_ = true;
      forward = false;
    } else if (type == 'E' && forward) {
      auto fields = proto::decode_error_fields(data.subspan(pos + 5, total - 5));
      if (fields && fields->is_fatal()) {
        // The server is ending its session (terminated, shutting down); the
        // client's session goes on, on another server: not FATAL for it.
        server_said_fatal_ = true;
        substitute_error({.sqlstate = sqlstate::kConnectionFailure,
                          .message = fmt::format("pgwarden lost the connection to the server: {}",
                                                 fields->message),
                          .detail = fmt::format("The server reported {} {}.", fields->severity,
                                                fields->sqlstate)});
        forward = false;
      }
    }
    if (type == 'E' && forward && timed_out_) {
      auto fields = proto::decode_error_fields(data.subspan(pos + 5, total - 5));
      if (fields && fields->sqlstate == sqlstate::kQueryCanceled) {
        // Our cancel, not the user's: say which limit fired.
        timed_out_ = false;
        const auto detail =
            fmt::format("The query_timeout of connection \"{}\" is {:g} s.", tenant_->name,
                        tenant_->pool->settings().query_timeout.count());
        substitute_error({.sqlstate = sqlstate::kQueryCanceled,
                          .message = "canceling statement due to statement timeout",
                          .detail = detail});
        forward = false;
      }
    }
    continue_run(forward);
    bool well_formed = true;
    on_server_message(type, data.subspan(pos + 5, total - 5), well_formed);
    if (!well_formed) return kMalformed;
    pos += total;
    if (!pending_.empty() && pending_.front().request != 0 &&
        ends_request(pending_.front().request, type)) {
      complete_request(type);
      if (!pending_.empty() && pending_.front().disposition == Disposition::Local) {
        close_run();
        const std::size_t offset = pump_out_.size();
        emit_ready_locals(pump_out_);
        segments_.push_back({true, offset, pump_out_.size() - offset});
      }
    }
  }
  close_run();
  return pos;
}

void ClientSession::on_server_message(char type, proto::ByteView body, bool& well_formed) {
  switch (static_cast<BackendType>(type)) {
    case BackendType::ReadyForQuery: {
      auto status = proto::decode_ready_for_query(body);
      if (!status) {
        well_formed = false;
        return;
      }
      tx_status_ = *status;
      in_block_ = tx_status_ != proto::TxStatus::Idle;
      if (!in_block_) in_block_effects_.clear();  // ended without COMMIT
      return;
    }
    case BackendType::ParameterStatus: {
      auto status = proto::decode_parameter_status(body);
      if (!status) {
        well_formed = false;
        return;
      }
      server_->parameters()[std::string(status->name)] = std::string(status->value);
      // Forwarded: the client's own SET, now its value. Swallowed: pgwarden's
      // sync (already the client's value) or its RESET ALL (not the client's).
      const auto tracked = tracked_parameter(status->name);
      if (!tracked.empty() &&
          (pending_.empty() || pending_.front().disposition == Disposition::Forward)) {
        client_parameters_ = with_parameter(client_parameters_, tracked, status->value);
      }
      return;
    }
    case BackendType::CommandComplete: {
      auto tag = proto::decode_command_complete(body);
      // These drop every prepared statement on the server, ours included,
      // and, when the client asked, every statement the client named.
      if (tag && (*tag == "DISCARD ALL" || *tag == "DEALLOCATE ALL")) {
        server_->statements().clear();
        if (!pending_.empty() && pending_.front().disposition == Disposition::Forward) {
          statements_.clear();
        }
      }
      if (!tag) return;
      if (*tag == "BEGIN" || *tag == "START TRANSACTION") {
        in_block_ = true;
      } else if (*tag == "COMMIT") {
        for (const auto& effect : in_block_effects_) apply_effect(effect);
        in_block_effects_.clear();
      } else if (*tag == "ROLLBACK") {
        in_block_effects_.clear();
      } else if ((*tag == "SET" || *tag == "RESET" || *tag == "DISCARD ALL") && !pending_.empty() &&
                 pending_.front().effect) {
        settle_effect(*pending_.front().effect);
        pending_.front().effect.reset();
      }
      return;
    }
    default:
      return;
  }
}

void ClientSession::complete_request(char type) {
  const PendingRequest done = std::move(pending_.front());
  pending_.pop_front();
  if ((done.request == 'Q' || done.request == 'E') && done.disposition == Disposition::Forward) {
    audit_completion(done);
    request_rows_ = 0;
  }
  if (done.request == 'Q' || done.request == 'E') {
    // The next statement, if any, gets a full query_timeout of its own.
    disarm_statement_timer();
    if (std::any_of(pending_.begin(), pending_.end(),
                    [](const PendingRequest& r) { return r.request == 'Q' || r.request == 'E'; })) {
      arm_statement_timer();
    }
  }
  if (type != 'E' || done.request == 'Q') return;
  // An extended-protocol request failed: the server skips everything up to
  // the next Sync, so nothing else of this batch will be answered.
  if (!done.registers.empty()) server_->statements().remove(done.registers);
  while (!pending_.empty() && pending_.front().request != 'S') {
    if (!pending_.front().registers.empty()) {
      server_->statements().remove(pending_.front().registers);
    }
    pending_.pop_front();
  }
}

awaitable<void> ClientSession::abandon_server(std::string_view message) {
  if (passthrough_ > 0 && passthrough_forward_) {
    // The client holds the start of a message whose rest will never come:
    // nothing more can be framed for it. End its connection.
    spdlog::info("{}: the server went away in the middle of a message; closing the client",
                 log_tag_);
    cancel_ignored_ = false;
    server_said_fatal_ = false;
    unlink_server(false);
    pending_.clear();
    closing_ = true;
    error_code ignored;
    client_.socket().cancel(ignored);
    co_return;
  }
  // Everything still owed gets one error (unless the server's own last words
  // already reached the client), and every Query or Sync its 'Z', so the
  // client's protocol state stays in step. Counted before unlink_server
  // forgets the requests.
  std::string out;
  if (cancel_ignored_) {
    const auto detail = fmt::format(
        "The query_timeout of connection \"{}\" is {:g} s; the server did not act on the "
        "cancel request, so pgwarden closed its connection.",
        tenant_->name, tenant_->pool->settings().query_timeout.count());
    proto::put_error(out, {.sqlstate = sqlstate::kQueryCanceled,
                           .message = "canceling statement due to statement timeout",
                           .detail = detail});
  } else if (!server_said_fatal_) {
    proto::put_error(out, {.sqlstate = sqlstate::kConnectionFailure, .message = message});
  }
  cancel_ignored_ = false;
  server_said_fatal_ = false;
  bool any = false;
  for (const auto& request : pending_) {
    if (request.request == 'Q' || request.request == 'S') {
      proto::put_ready_for_query(out, proto::TxStatus::Idle);
      any = true;
    }
  }
  unlink_server(false);
  pending_.clear();
  tx_status_ = proto::TxStatus::Idle;
  if (batch_open_) {
    batch_open_ = false;
    skip_until_sync_ = true;
  }
  if (any || skip_until_sync_) co_await write_client(out);
}

void ClientSession::unlink_server(bool reusable) {
  if (!server_) return;
  server_in_.consume(server_in_.size());
  passthrough_ = 0;
  if (!reusable && !pending_.empty()) {
    // A statement may still be running: cancel it, or the backend works on
    // for nobody until it next tries to write.
    asio::co_spawn(strand_,
                   send_cancel_request(server_->endpoint(), server_->backend_pid(),
                                       server_->cancel_key(), std::chrono::seconds(5)),
                   asio::detached);
  }
  if (!reusable) {
    // Its prepared statements and session state went with it.
    pending_.erase(
        std::remove_if(pending_.begin(), pending_.end(),
                       [](const PendingRequest& r) { return r.disposition != Disposition::Local; }),
        pending_.end());
  }
  disarm_statement_timer();
  release_or_park(std::move(server_), reusable);
  if (draining_ && pending_.empty()) leave_for_shutdown();
}

bool ClientSession::write_client_now(std::span<const asio::const_buffer> buffers, std::size_t& sent,
                                     error_code& ec) {
  sent = 0;
  ec.clear();
  if (writing_client_) return false;  // queue behind the writer at the gate
  sent = client_.write_now(buffers, ec);
  return ec || sent == asio::buffer_size(buffers);
}

awaitable<error_code> ClientSession::write_client(std::span<const asio::const_buffer> buffers,
                                                  std::size_t sent) {
  // Server results and local replies share the socket: one writer at a time.
  while (writing_client_) {
    ++client_write_waiters_;
    // Never expires: woken by cancel_one() from the writer before us. (Its
    // expiry is set once; setting it again would cancel the other waiters.)
    if (!client_write_gate_) {
      client_write_gate_ = std::make_unique<asio::steady_timer>(strand_, Clock::time_point::max());
    }
    co_await client_write_gate_->async_wait(use_nothrow);
    --client_write_waiters_;
  }
  writing_client_ = true;
  // Most often the socket takes it all at once; only the rest is awaited,
  // which is how a client that does not read holds back its server.
  error_code ec;
  std::size_t skip = sent;
  if (skip == 0) skip = client_.write_now(buffers, ec);
  if (!ec && skip < asio::buffer_size(buffers)) {
    std::vector<asio::const_buffer> rest;
    for (const auto& buffer : buffers) {
      if (skip >= buffer.size()) {
        skip -= buffer.size();
        continue;
      }
      rest.push_back(buffer + skip);
      skip = 0;
    }
    auto [write_ec, n] = co_await client_.write(rest);
    (void)n;
    ec = write_ec;
  }
  writing_client_ = false;
  if (client_write_waiters_ > 0) client_write_gate_->cancel_one();
  co_return ec;
}

awaitable<error_code> ClientSession::write_client(std::string_view bytes) {
  const asio::const_buffer buffer = asio::buffer(bytes);
  co_return co_await write_client(std::span<const asio::const_buffer>(&buffer, 1));
}

void ClientSession::arm_statement_timer() {
  const auto timeout = tenant_->pool->settings().query_timeout;
  if (timeout.count() <= 0) return;
  statement_timer_armed_ = true;
  cancel_grace_ = false;
  statement_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  wait_statement_timer();
}

void ClientSession::arm_cancel_deadline() {
  // A stopped server, or one blocked writing to us while the client does not
  // read, never acts on a cancel: past this grace, its connection is closed,
  // which ends the statement upstream; the pump then answers 57014.
  statement_timer_armed_ = true;
  cancel_grace_ = true;
  statement_deadline_ = Clock::now() + kCancelGrace;
  wait_statement_timer();
}

void ClientSession::wait_statement_timer() {
  // One wait at a time, left running when its statement ends: when it
  // expires it looks at the deadline of whatever runs then. A statement
  // that ends within query_timeout so costs a clock read, not a timer
  // armed and cancelled (and a handler run) each time.
  auto& statement_timer = timer(statement_timer_);
  if (statement_timer_waiting_ && statement_timer.expiry() <= statement_deadline_) return;
  statement_timer_waiting_ = true;
  // Replaces a wait that would expire too late (a reload shortened
  // query_timeout); that one completes with operation_aborted.
  statement_timer.expires_at(statement_deadline_);
  statement_timer.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->statement_timer_waiting_ = false;
    if (!self->statement_timer_armed_) return;  // nothing runs now
    if (Clock::now() < self->statement_deadline_) {
      self->wait_statement_timer();  // a later statement's deadline
      return;
    }
    self->statement_timer_armed_ = false;
    self->on_statement_deadline();
  });
}

void ClientSession::on_statement_deadline() {
  if (!server_ || pending_.empty()) return;
  if (!cancel_grace_) {
    spdlog::info("{}: statement on \"{}\" ran past query_timeout, cancelling it", log_tag_,
                 tenant_->name);
    timed_out_ = true;
    cancel_on_server();
    arm_cancel_deadline();
    return;
  }
  if (!timed_out_) return;
  spdlog::warn("{}: the server of \"{}\" did not act on the cancel within {} s; closing it",
               log_tag_, tenant_->name,
               std::chrono::duration_cast<std::chrono::seconds>(kCancelGrace).count());
  cancel_ignored_ = true;
  // Closed, not shut down: with unread bytes queued the kernel resets the
  // connection, which also frees a backend blocked writing to us.
  error_code ignored;
  server_->socket().close(ignored);
}

void ClientSession::disarm_statement_timer() {
  // The wait itself stays; it finds nothing armed when it expires.
  statement_timer_armed_ = false;
  cancel_grace_ = false;
  timed_out_ = false;
}

void ClientSession::cancel_on_server() {
  ServerConnection* server = server_.get();
  ++server->cancels_in_flight;
  asio::co_spawn(
      strand_,
      [self = shared_from_this(), server, endpoint = server->endpoint(),
       pid = server->backend_pid(), key = server->cancel_key()]() -> awaitable<void> {
        co_await send_cancel_request(endpoint, pid, key, std::chrono::seconds(5));
        // Delivered (or given up on): the server may be handed out again.
        --server->cancels_in_flight;
        auto parked = std::find_if(self->parked_.begin(), self->parked_.end(),
                                   [server](const Parked& p) { return p.server.get() == server; });
        if (parked != self->parked_.end() && server->cancels_in_flight == 0) {
          auto entry = std::move(*parked);
          self->parked_.erase(parked);
          entry.pool->release(std::move(entry.server), entry.reusable);
        }
      },
      asio::detached);
}

void ClientSession::release_or_park(std::unique_ptr<ServerConnection> server, bool reusable) {
  if (server->cancels_in_flight > 0) {
    parked_.push_back({std::move(server), reusable, tenant_->pool});
    return;
  }
  tenant_->pool->release(std::move(server), reusable);
}

}  // namespace pgwarden::daemon
