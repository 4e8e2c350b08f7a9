// A PostgreSQL connection's byte stream, either side: a TCP socket, wrapped
// in TLS once SSLRequest was answered 'S'. Clients and servers alike.
#pragma once

#include <boost/asio/ssl.hpp>
#include <optional>
#include <tuple>

#include "daemon/asio.h"

namespace pgwarden::daemon {

class PgStream {
 public:
  explicit PgStream(tcp::socket socket) : socket_(std::move(socket)) {}

  //! The TCP socket under any TLS layer (options, cancel, close, address).
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }
  bool uses_tls() const { return tls_.has_value(); }
  //! The TLS session, when there is one (peer certificate, version).
  SSL* tls_handle() { return tls_ ? tls_->native_handle() : nullptr; }

  awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer buffer) {
    if (tls_) co_return co_await tls_->async_read_some(buffer, use_nothrow);
    co_return co_await socket_.async_read_some(buffer, use_nothrow);
  }
  template <typename ConstBuffers>
  awaitable<std::tuple<error_code, std::size_t>> write(const ConstBuffers& buffers) {
    if (tls_) co_return co_await asio::async_write(*tls_, buffers, use_nothrow);
    co_return co_await asio::async_write(socket_, buffers, use_nothrow);
  }
  //! Best effort, on a non-blocking socket: what fits in the socket buffer.
  void try_write(std::string_view bytes) {
    error_code ignored;
    socket().non_blocking(true, ignored);
    if (tls_) {
      asio::write(*tls_, asio::buffer(bytes), ignored);
    } else {
      asio::write(socket_, asio::buffer(bytes), ignored);
    }
  }

  //! Wraps the connected socket in TLS; the caller runs the handshake (as
  //! client or server). Nothing sent before may still be unread.
  asio::ssl::stream<tcp::socket>& wrap_tls(asio::ssl::context& context) {
    tls_.emplace(std::move(socket_), context);
    return *tls_;
  }

 private:
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
};

}  // namespace pgwarden::daemon
