// The ready loop: read client messages, lease a server for each transaction,
// forward both ways, and give the server back at ReadyForQuery idle.
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "daemon/client_session.h"
#include "daemon/wire_io.h"
#include "protocol/backend.h"
#include "protocol/sqlstate.h"

namespace pgwarden::daemon {

namespace {

namespace proto = protocol;
namespace sqlstate = protocol::sqlstate;
using proto::BackendType;
using proto::FrontendType;

//! Bytes read from a server in one go: large, so results move in big chunks.
constexpr std::size_t kServerReadChunk = 32768;

//! Backend messages the relay must see whole; the rest may stream through.
bool needs_whole_message(char type) {
  switch (static_cast<BackendType>(type)) {
    case BackendType::ReadyForQuery:
    case BackendType::ParameterStatus:
      return true;
    default:
      return false;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Client side

awaitable<void> ClientSession::relay() {
  while (!closing_) {
    auto space = client_in_.prepare(8192);
    auto [ec, n] =
        co_await client_.async_read_some(asio::buffer(space.data(), space.size()), use_nothrow);
    if (ec) {
      spdlog::debug("client {}: disconnected ({})", client_pid_, ec.message());
      break;
    }
    client_in_.commit(n);
    if (!take_client_messages()) break;
    if (!to_server_.empty()) co_await flush_to_server();
    if (!replies_.empty() && replies_.front().kind == ReplyKind::Local) {
      // Nothing earlier is still owed by a server: answer now.
      deliver_local_replies(loop_out_);
    }
    if (!loop_out_.empty()) {
      auto ec2 = co_await write_client(loop_out_);
      loop_out_.clear();
      if (ec2) break;
    }
  }
  closing_ = true;
  if (!loop_out_.empty()) co_await write_client(loop_out_);
  if (server_ && !writing_server_) {
    // Wake the pump; it decides whether the server can be reused.
    error_code ignored;
    server_->socket().cancel(ignored);
    client_.cancel(ignored);
  }
}

bool ClientSession::take_client_messages() {
  for (;;) {
    auto decoded = proto::decode_frontend_frame(client_in_.data(), client_limits_);
    if (decoded.status == proto::DecodeStatus::NeedMore) return true;
    if (decoded.status == proto::DecodeStatus::Error) {
      // Framing is lost: tell the client why and close, as PostgreSQL does.
      proto::put_error(loop_out_, {.severity = "FATAL",
                                   .sqlstate = decoded.error.sqlstate,
                                   .message = decoded.error.message});
      spdlog::info("client {}: {}, closing", client_pid_, decoded.error.message);
      return false;
    }
    const auto& frame = decoded.frame;
    const auto bytes = proto::as_chars(client_in_.data().first(frame.total_size));
    const auto type = static_cast<FrontendType>(frame.type);

    if (skip_until_sync_ && type != FrontendType::Sync && type != FrontendType::Terminate) {
      client_in_.consume(frame.total_size);
      continue;
    }
    switch (type) {
      case FrontendType::Terminate:
        client_in_.consume(frame.total_size);
        return false;
      case FrontendType::Query:
        replies_.push_back({ReplyKind::Forward, {}});
        to_server_.append(bytes);
        break;
      case FrontendType::Sync:
        if (skip_until_sync_) {
          skip_until_sync_ = false;
          if (!server_) {
            // The failed batch never reached a server: answer its Sync here.
            replies_.push_back({ReplyKind::Local, {}});
            break;
          }
        }
        batch_open_ = false;
        replies_.push_back({ReplyKind::Forward, {}});
        to_server_.append(bytes);
        break;
      case FrontendType::Parse:
      case FrontendType::Bind:
      case FrontendType::Describe:
      case FrontendType::Execute:
      case FrontendType::Close:
      case FrontendType::Flush:
        batch_open_ = true;
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
        reply_locally(sqlstate::kFeatureNotSupported,
                      "pgwarden does not support the FunctionCall protocol message");
        break;
      case FrontendType::Password:
        reply_locally(sqlstate::kProtocolViolation, "unexpected password message");
        break;
    }
    client_in_.consume(frame.total_size);
  }
}

void ClientSession::reply_locally(std::string_view state, std::string message) {
  Reply reply{ReplyKind::Local, {}};
  proto::put_error(reply.error, {.sqlstate = state, .message = message});
  replies_.push_back(std::move(reply));
}

awaitable<void> ClientSession::flush_to_server() {
  if (!server_ && !co_await link_server()) co_return;
  std::array<asio::const_buffer, 2> out{asio::buffer(sync_query_), asio::buffer(to_server_)};
  writing_server_ = true;
  auto [ec, n] = co_await asio::async_write(server_->socket(), out, use_nothrow);
  writing_server_ = false;
  (void)n;
  sync_query_.clear();
  to_server_.clear();
  if (ec) {
    // The pump's read fails as well and reports the lost server.
    spdlog::debug("client {}: write to server failed: {}", client_pid_, ec.message());
    error_code ignored;
    if (server_) server_->socket().cancel(ignored);
  } else if (closing_ && server_) {
    error_code ignored;
    server_->socket().cancel(ignored);
  }
}

awaitable<bool> ClientSession::link_server() {
  auto leased = co_await tenant_->pool->acquire();
  if (auto* error = std::get_if<AcquireError>(&leased)) {
    to_server_.clear();
    fail_pending(error->sqlstate, error->message, loop_out_);
    co_return false;
  }
  server_ = std::move(std::get<std::unique_ptr<ServerConnection>>(leased));
  tx_status_ = proto::TxStatus::Idle;
  sync_query_.clear();
  std::string sql;
  if (build_parameter_sync(client_parameters_, server_->parameters(), sql)) {
    proto::put_query(sync_query_, sql);
    replies_.push_front({ReplyKind::Swallow, {}});
  }
  // Started from a fresh handler, not inline: with Asio 1.26, a coroutine
  // co_spawned inline from this one on the same strand cancelled this one's
  // pending client read when it finished (seen as ECANCELED on the next read).
  asio::post(strand_, [self = shared_from_this()] {
    asio::co_spawn(self->strand_, [self] { return self->pump_server(); }, asio::detached);
  });
  co_return true;
}

void ClientSession::fail_pending(std::string_view state, std::string_view message,
                                 std::string& out) {
  std::string error;
  proto::put_error(error, {.sqlstate = state, .message = message});
  for (auto& reply : replies_) {
    if (reply.kind == ReplyKind::Forward) reply = Reply{ReplyKind::Local, error};
  }
  std::erase_if(replies_, [](const Reply& r) { return r.kind == ReplyKind::Swallow; });
  if (batch_open_) {
    // The rest of the batch up to its Sync is skipped, as after an error.
    out.append(error);
    batch_open_ = false;
    skip_until_sync_ = true;
  }
  tx_status_ = proto::TxStatus::Idle;
}

void ClientSession::deliver_local_replies(std::string& out) {
  while (!replies_.empty() && replies_.front().kind == ReplyKind::Local) {
    out.append(replies_.front().error);
    proto::put_ready_for_query(out, tx_status_);
    replies_.pop_front();
  }
}

awaitable<error_code> ClientSession::write_client(std::span<const asio::const_buffer> buffers) {
  // Server results and local replies share the socket: one writer at a time.
  while (writing_client_) co_await client_write_gate_.async_wait(use_nothrow);
  writing_client_ = true;
  auto [ec, n] = co_await asio::async_write(client_, buffers, use_nothrow);
  (void)n;
  writing_client_ = false;
  client_write_gate_.cancel_one();
  co_return ec;
}

awaitable<error_code> ClientSession::write_client(std::string_view bytes) {
  const asio::const_buffer buffer = asio::buffer(bytes);
  co_return co_await write_client(std::span<const asio::const_buffer>(&buffer, 1));
}

// ---------------------------------------------------------------------------
// Server side

bool ClientSession::server_is_clean() const {
  return replies_.empty() && !batch_open_ && tx_status_ == proto::TxStatus::Idle &&
         passthrough_ == 0 && server_in_.empty() && !writing_server_;
}

awaitable<void> ClientSession::pump_server() {
  // Runs while a server is linked; ends by giving it back or closing it.
  for (;;) {
    auto space = server_in_.prepare(kServerReadChunk);
    auto [ec, n] = co_await server_->socket().async_read_some(
        asio::buffer(space.data(), space.size()), use_nothrow);
    if (ec) {
      if (closing_) {
        unlink_server(server_is_clean());
        co_return;
      }
      spdlog::warn("client {}: connection to the server of \"{}\" lost: {}", client_pid_,
                   tenant_->name, ec.message());
      co_await abandon_server("pgwarden lost the connection to the server");
      co_return;
    }
    server_in_.commit(n);

    const std::size_t scanned = scan_server_bytes();
    if (scanned == kMalformed) {
      spdlog::warn("client {}: the server of \"{}\" sent a malformed message", client_pid_,
                   tenant_->name);
      co_await abandon_server("pgwarden received an invalid message from the server");
      co_return;
    }
    gather_.clear();
    for (const auto& segment : segments_) {
      const auto* base = segment.local ? reinterpret_cast<const std::byte*>(pump_out_.data())
                                       : server_in_.data().data();
      gather_.push_back(asio::buffer(base + segment.offset, segment.size));
    }
    const auto write_error = gather_.empty() ? error_code{} : co_await write_client(gather_);
    server_in_.consume(scanned);
    pump_out_.clear();
    if (write_error) {
      closing_ = true;
      unlink_server(server_is_clean());
      co_return;
    }
    if (server_is_clean()) {
      unlink_server(true);
      co_return;
    }
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
    const bool forward = replies_.empty() || replies_.front().kind != ReplyKind::Swallow;
    if (available < total) {
      if (needs_whole_message(type)) break;
      // Stream the start of a large message now, the rest as it arrives.
      continue_run(forward);
      passthrough_ = total - available;
      passthrough_forward_ = forward;
      pos = data.size();
      break;
    }
    const auto body = data.subspan(pos + 5, total - 5);
    continue_run(forward);
    pos += total;
    if (type == static_cast<char>(BackendType::ReadyForQuery)) {
      auto status = proto::decode_ready_for_query(body);
      if (!status) return kMalformed;
      tx_status_ = *status;
      if (!replies_.empty()) replies_.pop_front();
      if (!replies_.empty() && replies_.front().kind == ReplyKind::Local) {
        close_run();
        const std::size_t offset = pump_out_.size();
        deliver_local_replies(pump_out_);
        segments_.push_back({true, offset, pump_out_.size() - offset});
      }
    } else if (type == static_cast<char>(BackendType::ParameterStatus)) {
      auto status = proto::decode_parameter_status(body);
      if (!status) return kMalformed;
      server_->parameters()[std::string(status->name)] = std::string(status->value);
      // Forwarded: the client's own SET. Swallowed: our sync of its values.
      // Either way this is now the client's value too.
      client_parameters_[std::string(status->name)] = std::string(status->value);
    }
  }
  close_run();
  return pos;
}

awaitable<void> ClientSession::abandon_server(std::string_view message) {
  unlink_server(false);
  std::string out;
  fail_pending(sqlstate::kConnectionFailure, message, out);
  deliver_local_replies(out);
  if (!out.empty()) co_await write_client(out);
}

void ClientSession::unlink_server(bool reusable) {
  if (!server_) return;
  server_in_.consume(server_in_.size());
  passthrough_ = 0;
  tenant_->pool->release(std::move(server_), reusable);
}

}  // namespace pgwarden::daemon
