// Framing: splits a byte stream into typed messages, with bounded lengths.
#pragma once

#include <cstdint>
#include <string_view>

#include "protocol/types.h"

namespace pgwarden::protocol {

enum class DecodeStatus { Ok, NeedMore, Error };

//! Why a decode failed: an SQLSTATE and a message fit to send in a FATAL.
struct DecodeError {
  std::string_view sqlstate;  //!< 08P01 for malformed input, 54000 for oversize
  std::string_view message;   //!< static text, never echoes input bytes
};

//! The five-byte header of a typed message.
struct FrameHeader {
  char type = 0;
  std::uint32_t length = 0;  //!< as on the wire: counts itself, not the type byte
  //! Bytes the whole message occupies in the stream (type byte + length).
  std::size_t total_size() const { return std::size_t{length} + 1; }
  std::size_t body_size() const { return std::size_t{length} - 4; }
};

//! A whole message: its type and a view of its body inside the caller's buffer.
struct Frame {
  char type = 0;
  ByteView body;
  std::size_t total_size = 0;  //!< bytes consumed from the buffer
};

struct HeaderResult {
  DecodeStatus status = DecodeStatus::NeedMore;
  FrameHeader header;
  DecodeError error;
};

struct FrameResult {
  DecodeStatus status = DecodeStatus::NeedMore;
  Frame frame;
  DecodeError error;
};

//! Limits for messages a client sends.
struct FrontendLimits {
  //! Cap for Query, Parse, Bind, FunctionCall, CopyData and password messages.
  std::uint32_t max_message_size = 1U << 20;
};

//! Limits for messages a server sends that the proxy decodes whole.
struct BackendLimits {
  std::uint32_t max_message_size = 1U << 30;
};

//! Reads the header of a frontend message: checks the type is one a client may
//! send after startup, that the length is at least 4, that fixed-size messages
//! (Sync, Flush, Terminate, CopyDone) have exactly length 4, and that the length
//! is within the limit for its type (small control messages: 10000).
HeaderResult decode_frontend_header(ByteView buffer, const FrontendLimits& limits);

//! Reads the header of a backend message: any type byte in BackendType, length
//! at least 4 and within limits.max_message_size; ReadyForQuery exactly 5.
HeaderResult decode_backend_header(ByteView buffer, const BackendLimits& limits);

//! Header plus a complete body, or NeedMore until the whole message is buffered.
FrameResult decode_frontend_frame(ByteView buffer, const FrontendLimits& limits);
FrameResult decode_backend_frame(ByteView buffer, const BackendLimits& limits);

}  // namespace pgwarden::protocol
