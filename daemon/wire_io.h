// Reading whole protocol messages off a socket into a ByteBuffer.
#pragma once

#include "daemon/asio.h"
#include "daemon/byte_buffer.h"
#include "protocol/frame.h"

namespace pgwarden::daemon {

enum class ReadStatus { Ok, Closed, Malformed };

struct ReadResult {
  ReadStatus status = ReadStatus::Closed;
  protocol::Frame frame;        //!< Ok: views the buffer until consumed
  protocol::DecodeError error;  //!< Malformed
  error_code io_error;          //!< Closed: why (eof, reset, aborted...)
};

//! Reads until `buffer` holds one whole message (decoded by `decode`), reading
//! in chunks of at least `chunk` bytes with `read_some(mutable_buffer)`, an
//! awaitable yielding (error_code, bytes). The caller consumes
//! frame.total_size.
template <typename ReadSome, typename Decode>
awaitable<ReadResult> read_frame(ReadSome read_some, ByteBuffer& buffer, Decode decode,
                                 std::size_t chunk = 8192) {
  ReadResult result;
  for (;;) {
    auto decoded = decode(buffer.data());
    if (decoded.status == protocol::DecodeStatus::Ok) {
      result.status = ReadStatus::Ok;
      result.frame = decoded.frame;
      co_return result;
    }
    if (decoded.status == protocol::DecodeStatus::Error) {
      result.status = ReadStatus::Malformed;
      result.error = decoded.error;
      co_return result;
    }
    auto space = buffer.prepare(chunk);
    auto [ec, n] = co_await read_some(asio::buffer(space.data(), space.size()));
    if (ec) {
      result.io_error = ec;
      co_return result;
    }
    buffer.commit(n);
  }
}

//! Same for frontend messages, through any stream with a read_some member.
template <typename Stream>
awaitable<ReadResult> read_frontend_message(Stream& stream, ByteBuffer& buffer,
                                            const protocol::FrontendLimits& limits) {
  return read_frame(
      [&stream](asio::mutable_buffer b) { return stream.read_some(b); }, buffer,
      [&limits](protocol::ByteView data) { return protocol::decode_frontend_frame(data, limits); });
}

//! Same for backend messages, through any stream with a read_some member.
template <typename Stream>
awaitable<ReadResult> read_backend_message(Stream& stream, ByteBuffer& buffer,
                                           const protocol::BackendLimits& limits) {
  return read_frame(
      [&stream](asio::mutable_buffer b) { return stream.read_some(b); }, buffer,
      [&limits](protocol::ByteView data) { return protocol::decode_backend_frame(data, limits); });
}

//! Writes all of `bytes` through any stream with a write member; returns the
//! error, if any.
template <typename Stream>
awaitable<error_code> write_all(Stream& stream, std::string_view bytes) {
  auto [ec, n] = co_await stream.write(asio::buffer(bytes));
  (void)n;
  co_return ec;
}

}  // namespace pgwarden::daemon
