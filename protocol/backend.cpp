// Decoders for the bodies of backend messages pgwarden inspects.
#include "protocol/backend.h"

#include "protocol/reader.h"

namespace pgwarden::protocol {
namespace {

constexpr std::size_t kMd5SaltSize = 4;
constexpr std::size_t kMinCancelKey = 4;
constexpr std::size_t kMaxCancelKey = 256;

}  // namespace

bool ErrorFields::is_fatal() const {
  const std::string_view level = severity_nonlocalized.empty() ? severity : severity_nonlocalized;
  return level == "FATAL" || level == "PANIC";
}

std::optional<AuthenticationRequest> decode_authentication(ByteView body) {
  Reader reader(body);
  const auto code = reader.i32();
  if (!code) return std::nullopt;
  AuthenticationRequest request{static_cast<AuthCode>(*code), reader.rest()};
  // Requests we act on must have the exact shape; others are handed to the
  // caller, which refuses methods it does not implement.
  switch (request.code) {
    case AuthCode::Ok:
    case AuthCode::CleartextPassword:
      if (!request.payload.empty()) return std::nullopt;
      break;
    case AuthCode::Md5Password:
      if (request.payload.size() != kMd5SaltSize) return std::nullopt;
      break;
    case AuthCode::Sasl:
      if (!decode_sasl_mechanisms(request.payload)) return std::nullopt;
      break;
    case AuthCode::SaslContinue:
    case AuthCode::SaslFinal:
      break;
  }
  return request;
}

std::optional<std::vector<std::string_view>> decode_sasl_mechanisms(ByteView payload) {
  Reader reader(payload);
  std::vector<std::string_view> mechanisms;
  for (;;) {
    const auto name = reader.cstring();
    if (!name) return std::nullopt;
    if (name->empty()) break;
    mechanisms.push_back(*name);
  }
  if (!reader.at_end()) return std::nullopt;
  return mechanisms;
}

std::optional<ParameterStatus> decode_parameter_status(ByteView body) {
  Reader reader(body);
  const auto name = reader.cstring();
  const auto value = name ? reader.cstring() : std::nullopt;
  if (!value || !reader.at_end()) return std::nullopt;
  return ParameterStatus{*name, *value};
}

std::optional<BackendKeyData> decode_backend_key_data(ByteView body) {
  Reader reader(body);
  const auto pid = reader.u32();
  if (!pid) return std::nullopt;
  const ByteView key = reader.rest();
  if (key.size() < kMinCancelKey || key.size() > kMaxCancelKey) return std::nullopt;
  return BackendKeyData{*pid, key};
}

std::optional<TxStatus> decode_ready_for_query(ByteView body) {
  if (body.size() != 1) return std::nullopt;
  const char status = static_cast<char>(body[0]);
  switch (static_cast<TxStatus>(status)) {
    case TxStatus::Idle:
    case TxStatus::InBlock:
    case TxStatus::Failed:
      return static_cast<TxStatus>(status);
  }
  return std::nullopt;
}

std::optional<ErrorFields> decode_error_fields(ByteView body) {
  Reader reader(body);
  ErrorFields fields;
  for (;;) {
    const auto code = reader.u8();
    if (!code) return std::nullopt;
    if (*code == 0) break;
    const auto value = reader.cstring();
    if (!value) return std::nullopt;
    switch (*code) {
      case 'S':
        fields.severity = *value;
        break;
      case 'V':
        fields.severity_nonlocalized = *value;
        break;
      case 'C':
        fields.sqlstate = *value;
        break;
      case 'M':
        fields.message = *value;
        break;
      case 'D':
        fields.detail = *value;
        break;
      case 'H':
        fields.hint = *value;
        break;
      case 'P':
        fields.position = *value;
        break;
      default:
        break;  // the protocol reserves new codes; clients must skip them
    }
  }
  if (!reader.at_end()) return std::nullopt;
  return fields;
}

std::optional<std::string_view> decode_command_complete(ByteView body) {
  Reader reader(body);
  const auto tag = reader.cstring();
  if (!tag || !reader.at_end()) return std::nullopt;
  return *tag;
}

std::optional<NegotiateProtocolVersion> decode_negotiate_protocol_version(ByteView body) {
  Reader reader(body);
  const auto minor = reader.u32();
  const auto count = minor ? reader.u32() : std::nullopt;
  // Each option takes at least its NUL, which bounds the count before any
  // allocation sized by it.
  if (!count || *count > reader.remaining()) return std::nullopt;
  NegotiateProtocolVersion message;
  message.newest_version = *minor;
  message.unsupported_options.reserve(*count);
  for (std::uint32_t i = 0; i < *count; ++i) {
    const auto option = reader.cstring();
    if (!option) return std::nullopt;
    message.unsupported_options.push_back(*option);
  }
  if (!reader.at_end()) return std::nullopt;
  return message;
}

}  // namespace pgwarden::protocol
