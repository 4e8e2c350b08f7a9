// Framing of typed messages: type byte and length checks before any body is read.
#include "protocol/frame.h"

#include "protocol/reader.h"
#include "protocol/sqlstate.h"

namespace pgwarden::protocol {
namespace {

constexpr std::size_t kHeaderSize = 5;

constexpr DecodeError kInvalidFrontendType{sqlstate::kProtocolViolation,
                                           "invalid frontend message type"};
constexpr DecodeError kInvalidBackendType{sqlstate::kProtocolViolation,
                                          "invalid backend message type"};
constexpr DecodeError kInvalidLength{sqlstate::kProtocolViolation, "invalid message length"};
constexpr DecodeError kTooLarge{sqlstate::kProgramLimitExceeded, "message too large"};

enum class FrontendClass { Unknown, Large, Small, Empty };

// PostgreSQL chooses the cap from the type byte before reading the body
// (postgres.c SocketBackend), so an unknown type is refused without trusting
// its length.
FrontendClass classify_frontend(char type) {
  switch (static_cast<FrontendType>(type)) {
    case FrontendType::Bind:
    case FrontendType::CopyData:
    case FrontendType::FunctionCall:
    case FrontendType::Parse:
    case FrontendType::Password:
    case FrontendType::Query:
      return FrontendClass::Large;
    case FrontendType::Close:
    case FrontendType::Describe:
    case FrontendType::Execute:
    case FrontendType::CopyFail:
      return FrontendClass::Small;
    case FrontendType::Flush:
    case FrontendType::Sync:
    case FrontendType::Terminate:
    case FrontendType::CopyDone:
      return FrontendClass::Empty;
  }
  return FrontendClass::Unknown;
}

bool is_backend_type(char type) {
  switch (static_cast<BackendType>(type)) {
    case BackendType::Authentication:
    case BackendType::BackendKeyData:
    case BackendType::BindComplete:
    case BackendType::CloseComplete:
    case BackendType::CommandComplete:
    case BackendType::CopyData:
    case BackendType::CopyDone:
    case BackendType::CopyInResponse:
    case BackendType::CopyOutResponse:
    case BackendType::CopyBothResponse:
    case BackendType::DataRow:
    case BackendType::EmptyQueryResponse:
    case BackendType::ErrorResponse:
    case BackendType::FunctionCallResponse:
    case BackendType::NegotiateProtocolVersion:
    case BackendType::NoData:
    case BackendType::NoticeResponse:
    case BackendType::NotificationResponse:
    case BackendType::ParameterDescription:
    case BackendType::ParameterStatus:
    case BackendType::ParseComplete:
    case BackendType::PortalSuspended:
    case BackendType::ReadyForQuery:
    case BackendType::RowDescription:
      return true;
  }
  return false;
}

HeaderResult fail(const DecodeError& error) {
  HeaderResult result;
  result.status = DecodeStatus::Error;
  result.error = error;
  return result;
}

HeaderResult ok(char type, std::uint32_t length) {
  HeaderResult result;
  result.status = DecodeStatus::Ok;
  result.header.type = type;
  result.header.length = length;
  return result;
}

FrameResult to_frame(ByteView buffer, const HeaderResult& header) {
  FrameResult result;
  result.status = header.status;
  result.error = header.error;
  if (header.status != DecodeStatus::Ok) return result;
  const std::size_t total = header.header.total_size();
  if (buffer.size() < total) {
    result.status = DecodeStatus::NeedMore;
    return result;
  }
  result.frame.type = header.header.type;
  result.frame.body = buffer.subspan(kHeaderSize, header.header.body_size());
  result.frame.total_size = total;
  return result;
}

}  // namespace

HeaderResult decode_frontend_header(ByteView buffer, const FrontendLimits& limits) {
  if (buffer.empty()) return {};
  const char type = static_cast<char>(buffer[0]);
  const FrontendClass cls = classify_frontend(type);
  // Rejecting the type from the first byte means garbage is refused at once
  // rather than after waiting for a length that may never come.
  if (cls == FrontendClass::Unknown) return fail(kInvalidFrontendType);
  if (buffer.size() < kHeaderSize) return {};
  const std::uint32_t length = load_be32(buffer.data() + 1);
  if (length < 4) return fail(kInvalidLength);
  switch (cls) {
    case FrontendClass::Empty:
      if (length != 4) return fail(kInvalidLength);
      break;
    case FrontendClass::Small:
      if (length > kSmallMessageLimit) return fail(kTooLarge);
      break;
    case FrontendClass::Large:
    case FrontendClass::Unknown:
      if (length > limits.max_message_size) return fail(kTooLarge);
      break;
  }
  return ok(type, length);
}

HeaderResult decode_backend_header(ByteView buffer, const BackendLimits& limits) {
  if (buffer.empty()) return {};
  const char type = static_cast<char>(buffer[0]);
  if (!is_backend_type(type)) return fail(kInvalidBackendType);
  if (buffer.size() < kHeaderSize) return {};
  const std::uint32_t length = load_be32(buffer.data() + 1);
  if (length < 4) return fail(kInvalidLength);
  if (static_cast<BackendType>(type) == BackendType::ReadyForQuery && length != 5) {
    return fail(kInvalidLength);
  }
  if (length > limits.max_message_size) return fail(kTooLarge);
  return ok(type, length);
}

FrameResult decode_frontend_frame(ByteView buffer, const FrontendLimits& limits) {
  return to_frame(buffer, decode_frontend_header(buffer, limits));
}

FrameResult decode_backend_frame(ByteView buffer, const BackendLimits& limits) {
  return to_frame(buffer, decode_backend_header(buffer, limits));
}

}  // namespace pgwarden::protocol
