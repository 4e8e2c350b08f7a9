// Decoders for the bodies of frontend messages pgwarden inspects.
#include "protocol/frontend.h"

#include "protocol/reader.h"

namespace pgwarden::protocol {
namespace {

// Format codes are 0 (text) or 1 (binary); anything else would be refused by
// PostgreSQL only later, after the proxy had already judged the message.
bool read_format_codes(Reader& reader, std::uint16_t& count) {
  const auto n = reader.u16();
  if (!n) return false;
  count = *n;
  for (std::uint16_t i = 0; i < count; ++i) {
    const auto code = reader.u16();
    if (!code || *code > 1) return false;
  }
  return true;
}

std::optional<TargetMessage> decode_target(ByteView body) {
  Reader reader(body);
  const auto kind = reader.u8();
  if (!kind || (*kind != 'S' && *kind != 'P')) return std::nullopt;
  const auto name = reader.cstring();
  if (!name || !reader.at_end()) return std::nullopt;
  return TargetMessage{static_cast<char>(*kind), *name};
}

}  // namespace

std::uint32_t ParseMessage::param_type(std::size_t i) const {
  if (i >= param_count || (i + 1) * 4 > param_types.size()) return 0;
  return load_be32(param_types.data() + i * 4);
}

std::optional<QueryMessage> decode_query(ByteView body) {
  Reader reader(body);
  const auto sql = reader.cstring();
  // Bytes after the first NUL would be SQL the server ignores but a naive
  // reader might see; refusing them keeps both views identical.
  if (!sql || !reader.at_end()) return std::nullopt;
  return QueryMessage{*sql};
}

std::optional<ParseMessage> decode_parse(ByteView body) {
  Reader reader(body);
  ParseMessage message;
  const auto statement = reader.cstring();
  const auto sql = statement ? reader.cstring() : std::nullopt;
  const auto count = sql ? reader.u16() : std::nullopt;
  if (!count) return std::nullopt;
  const auto types = reader.bytes(std::size_t{*count} * 4);
  if (!types || !reader.at_end()) return std::nullopt;
  message.statement = *statement;
  message.sql = *sql;
  message.param_count = *count;
  message.param_types = *types;
  return message;
}

std::optional<BindMessage> decode_bind(ByteView body) {
  Reader reader(body);
  BindMessage message;
  const auto portal = reader.cstring();
  if (!portal) return std::nullopt;
  message.statement_offset = reader.offset();
  const auto statement = reader.cstring();
  if (!statement) return std::nullopt;
  message.portal = *portal;
  message.statement = *statement;

  if (!read_format_codes(reader, message.param_format_count)) return std::nullopt;
  const auto params = reader.u16();
  if (!params) return std::nullopt;
  message.param_count = *params;
  // As PostgreSQL's exec_bind_message: zero or one format applies to all,
  // otherwise there must be one per parameter.
  if (message.param_format_count > 1 && message.param_format_count != message.param_count) {
    return std::nullopt;
  }
  for (std::uint16_t i = 0; i < message.param_count; ++i) {
    const auto length = reader.i32();
    if (!length || *length < -1) return std::nullopt;
    if (*length >= 0 && !reader.bytes(static_cast<std::size_t>(*length))) return std::nullopt;
  }
  if (!read_format_codes(reader, message.result_format_count)) return std::nullopt;
  if (!reader.at_end()) return std::nullopt;
  return message;
}

std::optional<TargetMessage> decode_describe(ByteView body) {
  return decode_target(body);
}

std::optional<TargetMessage> decode_close(ByteView body) {
  return decode_target(body);
}

std::optional<ExecuteMessage> decode_execute(ByteView body) {
  Reader reader(body);
  const auto portal = reader.cstring();
  const auto max_rows = portal ? reader.i32() : std::nullopt;
  if (!max_rows || !reader.at_end()) return std::nullopt;
  return ExecuteMessage{*portal, *max_rows};
}

std::optional<std::string_view> decode_password(ByteView body) {
  Reader reader(body);
  const auto password = reader.cstring();
  if (!password || !reader.at_end()) return std::nullopt;
  return *password;
}

std::optional<SaslInitialResponse> decode_sasl_initial_response(ByteView body) {
  Reader reader(body);
  const auto mechanism = reader.cstring();
  const auto length = mechanism ? reader.i32() : std::nullopt;
  if (!length || *length < -1) return std::nullopt;
  SaslInitialResponse message{*mechanism, std::nullopt};
  if (*length >= 0) {
    const auto data = reader.bytes(static_cast<std::size_t>(*length));
    if (!data) return std::nullopt;
    message.data = as_chars(*data);
  }
  if (!reader.at_end()) return std::nullopt;
  return message;
}

std::string_view decode_sasl_response(ByteView body) {
  return as_chars(body);
}

}  // namespace pgwarden::protocol
