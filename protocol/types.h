// Message type bytes and shared vocabulary of the PostgreSQL v3 wire protocol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace pgwarden::protocol {

//! A read-only view of wire bytes; decoders never copy out of it.
using ByteView = std::span<const std::byte>;

//! Messages a frontend (client) sends, named as in the PostgreSQL docs.
enum class FrontendType : char {
  Bind = 'B',
  Close = 'C',
  CopyData = 'd',
  CopyDone = 'c',
  CopyFail = 'f',
  Describe = 'D',
  Execute = 'E',
  Flush = 'H',
  FunctionCall = 'F',
  Parse = 'P',
  Password = 'p',  //!< also SASLInitialResponse, SASLResponse, GSSResponse
  Query = 'Q',
  Sync = 'S',
  Terminate = 'X',
};

//! Messages a backend (server) sends, named as in the PostgreSQL docs.
enum class BackendType : char {
  Authentication = 'R',
  BackendKeyData = 'K',
  BindComplete = '2',
  CloseComplete = '3',
  CommandComplete = 'C',
  CopyData = 'd',
  CopyDone = 'c',
  CopyInResponse = 'G',
  CopyOutResponse = 'H',
  CopyBothResponse = 'W',
  DataRow = 'D',
  EmptyQueryResponse = 'I',
  ErrorResponse = 'E',
  FunctionCallResponse = 'V',
  NegotiateProtocolVersion = 'v',
  NoData = 'n',
  NoticeResponse = 'N',
  NotificationResponse = 'A',
  ParameterDescription = 't',
  ParameterStatus = 'S',
  ParseComplete = '1',
  PortalSuspended = 's',
  ReadyForQuery = 'Z',
  RowDescription = 'T',
};

//! Authentication request codes carried by an 'R' message.
enum class AuthCode : std::int32_t {
  Ok = 0,
  CleartextPassword = 3,
  Md5Password = 5,
  Sasl = 10,
  SaslContinue = 11,
  SaslFinal = 12,
};

//! Transaction status byte of ReadyForQuery.
enum class TxStatus : char { Idle = 'I', InBlock = 'T', Failed = 'E' };

//! Protocol codes that stand where a StartupMessage's version would.
inline constexpr std::uint32_t kProtocol30 = 196608;  // 3.0
inline constexpr std::uint32_t kSslRequestCode = 80877103;
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;
inline constexpr std::uint32_t kCancelRequestCode = 80877102;

//! PostgreSQL's MAX_STARTUP_PACKET_LENGTH (pqcomm.h).
inline constexpr std::uint32_t kMaxStartupPacketLength = 10000;
//! PostgreSQL's PQ_SMALL_MESSAGE_LIMIT, for control messages (libpq.h).
inline constexpr std::uint32_t kSmallMessageLimit = 10000;

//! Views raw bytes as characters, for strings decoded in place.
inline std::string_view as_chars(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
//! Views characters as raw bytes.
inline ByteView as_bytes(std::string_view chars) {
  return {reinterpret_cast<const std::byte*>(chars.data()), chars.size()};
}

}  // namespace pgwarden::protocol
