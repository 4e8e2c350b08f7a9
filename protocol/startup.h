// The first packet of a connection: StartupMessage, SSLRequest, GSSENCRequest
// or CancelRequest. It has no type byte.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/frame.h"

namespace pgwarden::protocol {

enum class StartupKind { Startup, SslRequest, GssEncRequest, CancelRequest };

struct StartupPacket {
  StartupKind kind = StartupKind::Startup;
  std::uint16_t major = 0;  //!< Startup only
  std::uint16_t minor = 0;  //!< Startup only
  //! Startup only: name/value pairs in wire order, viewing the caller's buffer.
  //! Guaranteed: "user" present and non-empty, names unique and non-empty.
  std::vector<std::pair<std::string_view, std::string_view>> parameters;
  //! CancelRequest only.
  std::uint32_t cancel_pid = 0;
  ByteView cancel_key;  //!< 4 bytes under 3.0, 4..256 under 3.2
  std::size_t total_size = 0;  //!< bytes consumed

  //! The value of a startup parameter, or empty if absent.
  std::string_view parameter(std::string_view name) const;
};

struct StartupResult {
  DecodeStatus status = DecodeStatus::NeedMore;
  StartupPacket packet;
  DecodeError error;
};

//! Decodes the first packet. Length must be 8..10000 (kMaxStartupPacketLength
//! counts the body after the length word, as PostgreSQL does); an SSLRequest or
//! GSSENCRequest must be exactly 8, a CancelRequest 12 + 4..256. A major version
//! other than 3 is an Error with SQLSTATE 0A000. Strings must be NUL-terminated
//! inside the packet and the list must end with an empty name.
StartupResult decode_startup(ByteView buffer);

}  // namespace pgwarden::protocol
