// Typed views of the backend messages pgwarden inspects. Each decoder takes a
// message body (from decode_backend_frame) and returns views into it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/frame.h"
#include "protocol/types.h"

namespace pgwarden::protocol {

struct AuthenticationRequest {
  AuthCode code = AuthCode::Ok;  //!< may hold values outside the enum
  ByteView payload;  //!< md5 salt (4 bytes), SASL mechanism list or SASL data
};

struct ParameterStatus {
  std::string_view name;
  std::string_view value;
};

struct BackendKeyData {
  std::uint32_t pid = 0;
  ByteView key;  //!< 4 bytes under 3.0
};

//! Fields of an ErrorResponse or NoticeResponse; absent ones are empty.
struct ErrorFields {
  std::string_view severity;             //!< 'S' (may be localised)
  std::string_view severity_nonlocalized;  //!< 'V'
  std::string_view sqlstate;             //!< 'C'
  std::string_view message;              //!< 'M'
  std::string_view detail;               //!< 'D'
  std::string_view hint;                 //!< 'H'
  std::string_view position;             //!< 'P'
  //! True if severity is FATAL or PANIC (by 'V' when present, else 'S').
  bool is_fatal() const;
};

struct NegotiateProtocolVersion {
  std::uint32_t newest_version = 0;
  std::vector<std::string_view> unsupported_options;
};

std::optional<AuthenticationRequest> decode_authentication(ByteView body);
//! SASL mechanism names from an AuthenticationSASL payload.
std::optional<std::vector<std::string_view>> decode_sasl_mechanisms(ByteView payload);
std::optional<ParameterStatus> decode_parameter_status(ByteView body);
std::optional<BackendKeyData> decode_backend_key_data(ByteView body);
//! The status byte of ReadyForQuery, if it is 'I', 'T' or 'E'.
std::optional<TxStatus> decode_ready_for_query(ByteView body);
//! Unknown field codes are skipped, as the protocol requires.
std::optional<ErrorFields> decode_error_fields(ByteView body);
std::optional<std::string_view> decode_command_complete(ByteView body);
std::optional<NegotiateProtocolVersion> decode_negotiate_protocol_version(ByteView body);

}  // namespace pgwarden::protocol
