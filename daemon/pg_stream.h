// A PostgreSQL connection's byte stream, either side: a TCP socket, wrapped
// in TLS once SSLRequest was answered 'S'. Clients and servers alike.
#pragma once

#include <boost/asio/ssl.hpp>
#include <memory>
#include <tuple>

#include "daemon/asio.h"

namespace pgwarden::daemon {

class PgStream {
 public:
  explicit PgStream(tcp::socket socket) : socket_(std::move(socket)) {}

  //! The TCP socket under any TLS layer (options, cancel, close, address).
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }
  bool uses_tls() const { return tls_ != nullptr; }
  //! The TLS session, when there is one (peer certificate, version).
  SSL* tls_handle() { return tls_ ? tls_->native_handle() : nullptr; }

  // Not coroutines themselves: each returns the operation's own awaitable
  // (started when awaited, with its arguments copied), so a read or write
  // costs no coroutine frame of ours.
  awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer buffer) {
    if (tls_) return tls_->async_read_some(buffer, use_nothrow);
    return socket_.async_read_some(buffer, use_nothrow);
  }
  template <typename ConstBuffers>
  awaitable<std::tuple<error_code, std::size_t>> write(const ConstBuffers& buffers) {
    if (tls_) return asio::async_write(*tls_, buffers, use_nothrow);
    return asio::async_write(socket_, buffers, use_nothrow);
  }
  //! Plain TCP only: sends what the socket takes at once, without waiting
  //! and without a trip through the event loop (on loopback a reply almost
  //! always fits). Returns the bytes sent; 0 with `ec` clear when nothing
  //! could go now, and always through TLS: the caller then uses write().
  template <typename ConstBuffers>
  std::size_t write_now(const ConstBuffers& buffers, error_code& ec) {
    ec.clear();
    if (tls_ || !make_non_blocking(ec)) return 0;
    const std::size_t n = socket_.write_some(buffers, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec.clear();
    return n;
  }
  //! Plain TCP only: reads what the socket holds now, without waiting.
  //! Returns 0 with `ec` clear when nothing is there (or through TLS), and
  //! `asio::error::eof` when the peer closed.
  std::size_t read_now(asio::mutable_buffer buffer, error_code& ec) {
    ec.clear();
    if (tls_ || !make_non_blocking(ec)) return 0;
    const std::size_t n = socket_.read_some(buffer, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec.clear();
    return n;
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
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket_), context);
    return *tls_;
  }

 private:
  //! Asio's synchronous calls wait for readiness unless the socket is in
  //! user non-blocking mode; its asynchronous ones work either way.
  bool make_non_blocking(error_code& ec) {
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
    return !ec;
  }

  tcp::socket socket_;
  //! Allocated only once TLS is negotiated: an ssl::stream is large, and
  //! most sessions on loopback never use one.
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls_;
};

}  // namespace pgwarden::daemon
