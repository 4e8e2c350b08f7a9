// Typed views of the frontend messages pgwarden inspects. Each decoder takes a
// message body (from decode_frontend_frame) and returns views into it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/frame.h"

namespace pgwarden::protocol {

struct QueryMessage {
  std::string_view sql;
};

struct ParseMessage {
  std::string_view statement;  //!< empty = unnamed
  std::string_view sql;
  std::uint16_t param_count = 0;
  ByteView param_types;  //!< param_count big-endian Int32 OIDs
  std::uint32_t param_type(std::size_t i) const;
};

struct BindMessage {
  std::string_view portal;
  std::string_view statement;
  std::uint16_t param_format_count = 0;
  std::uint16_t param_count = 0;
  std::uint16_t result_format_count = 0;
  //! Offset within the body where the statement name starts and ends, so a
  //! pooler can rewrite the name without re-encoding the rest.
  std::size_t statement_offset = 0;
};

//! Describe ('D') and Close ('C') share a layout.
struct TargetMessage {
  char kind = 0;  //!< 'S' statement or 'P' portal
  std::string_view name;
};

struct ExecuteMessage {
  std::string_view portal;
  std::int32_t max_rows = 0;
};

struct SaslInitialResponse {
  std::string_view mechanism;
  std::optional<std::string_view> data;  //!< absent when length was -1
};

// Every decoder returns std::nullopt when the body is malformed: missing NUL,
// counts beyond the remaining bytes, format codes other than 0/1, a negative
// length other than -1, bytes left over at the end, a Describe/Close kind other
// than 'S'/'P', or a NUL inside a Query/Parse string.
std::optional<QueryMessage> decode_query(ByteView body);
std::optional<ParseMessage> decode_parse(ByteView body);
std::optional<BindMessage> decode_bind(ByteView body);
std::optional<TargetMessage> decode_describe(ByteView body);
std::optional<TargetMessage> decode_close(ByteView body);
std::optional<ExecuteMessage> decode_execute(ByteView body);
//! PasswordMessage: a single NUL-terminated string (cleartext or md5).
std::optional<std::string_view> decode_password(ByteView body);
std::optional<SaslInitialResponse> decode_sasl_initial_response(ByteView body);
//! SASLResponse is the raw remaining bytes; never fails.
std::string_view decode_sasl_response(ByteView body);

}  // namespace pgwarden::protocol
