// The client's side of a session: a TCP socket, wrapped in TLS once the
// client asked for it and the handshake succeeded.
#pragma once

#include <boost/asio/ssl.hpp>
#include <optional>
#include <tuple>

#include "daemon/asio.h"

namespace pgwarden::daemon {

class ClientStream {
 public:
  explicit ClientStream(tcp::socket socket) : socket_(std::move(socket)) {}

  //! The TCP socket under any TLS layer (options, cancel, close, address).
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }
  bool uses_tls() const { return tls_.has_value(); }
  //! The TLS session, when there is one (for the peer certificate, version).
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

  //! Server side of the TLS handshake, after pgwarden answered 'S' to an
  //! SSLRequest. Nothing the client sent before may still be unread.
  awaitable<error_code> start_tls(asio::ssl::context& context) {
    tls_.emplace(std::move(socket_), context);
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_nothrow);
    co_return ec;
  }

 private:
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
};

}  // namespace pgwarden::daemon
