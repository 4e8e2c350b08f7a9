// Encoders that append complete protocol messages to a caller-owned buffer.
#include "protocol/builder.h"

#include <limits>
#include <stdexcept>

namespace pgwarden::protocol {
namespace {

void put_u8(std::string& out, std::uint8_t value) {
  out.push_back(static_cast<char>(value));
}

void put_u16(std::string& out, std::uint16_t value) {
  put_u8(out, static_cast<std::uint8_t>(value >> 8));
  put_u8(out, static_cast<std::uint8_t>(value));
}

void put_u32(std::string& out, std::uint32_t value) {
  put_u8(out, static_cast<std::uint8_t>(value >> 24));
  put_u8(out, static_cast<std::uint8_t>(value >> 16));
  put_u8(out, static_cast<std::uint8_t>(value >> 8));
  put_u8(out, static_cast<std::uint8_t>(value));
}

void put_bytes(std::string& out, ByteView bytes) {
  out.append(as_chars(bytes));
}

// A NUL inside a string field would end it early and shift every later field,
// letting data become framing; callers pass decoded (NUL-free) text, so one
// here is a bug and must not reach the wire.
void put_cstring(std::string& out, std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("NUL inside a protocol string field");
  }
  out.append(text);
  out.push_back('\0');
}

// Error text is informational and is written on failure paths that must not
// throw, so it is cut at a NUL instead.
void put_error_text(std::string& out, std::string_view text) {
  out.append(text.substr(0, text.find('\0')));
  out.push_back('\0');
}

// One message being appended: writes a placeholder length, patches it in
// finish(), and on an exception removes the partial message so the caller's
// buffer never holds a broken frame.
class Message {
 public:
  Message(std::string& out, char type) : out_(out), rollback_(out.size()) {
    out_.push_back(type);
    length_at_ = out_.size();
    put_u32(out_, 0);
  }
  //! The startup packet and its relatives have no type byte.
  explicit Message(std::string& out) : out_(out), rollback_(out.size()), length_at_(out.size()) {
    put_u32(out_, 0);
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message() {
    if (!finished_) out_.resize(rollback_);
  }

  void finish() {
    const std::size_t length = out_.size() - length_at_;
    if (length > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      throw std::length_error("protocol message longer than 2^31 - 1 bytes");
    }
    for (std::size_t i = 0; i < 4; ++i) {
      out_[length_at_ + i] = static_cast<char>(length >> (24 - 8 * i));
    }
    finished_ = true;
  }

 private:
  std::string& out_;
  std::size_t rollback_;
  std::size_t length_at_ = 0;
  bool finished_ = false;
};

std::uint16_t count16(std::size_t n) {
  if (n > std::numeric_limits<std::uint16_t>::max()) {
    throw std::length_error("more than 65535 items in a protocol message");
  }
  return static_cast<std::uint16_t>(n);
}

std::uint32_t length32(std::size_t n) {
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw std::length_error("protocol field longer than 2^31 - 1 bytes");
  }
  return static_cast<std::uint32_t>(n);
}

void put_fields(std::string& out, char type, const ErrorInfo& info) {
  Message message(out, type);
  const auto field = [&](char code, std::string_view value) {
    out.push_back(code);
    put_error_text(out, value);
  };
  field('S', info.severity);
  field('V', info.severity);
  field('C', info.sqlstate);
  field('M', info.message);
  if (!info.detail.empty()) field('D', info.detail);
  if (!info.hint.empty()) field('H', info.hint);
  if (!info.position.empty()) field('P', info.position);
  out.push_back('\0');
  message.finish();
}

void put_auth(std::string& out, AuthCode code, std::string_view payload) {
  Message message(out, static_cast<char>(BackendType::Authentication));
  put_u32(out, static_cast<std::uint32_t>(code));
  out.append(payload);
  message.finish();
}

void put_empty(std::string& out, char type) {
  Message(out, type).finish();
}

void put_target(std::string& out, char type, char kind, std::string_view name) {
  Message message(out, type);
  out.push_back(kind);
  put_cstring(out, name);
  message.finish();
}

}  // namespace

void put_error(std::string& out, const ErrorInfo& error) {
  put_fields(out, static_cast<char>(BackendType::ErrorResponse), error);
}

void put_notice(std::string& out, const ErrorInfo& notice) {
  put_fields(out, static_cast<char>(BackendType::NoticeResponse), notice);
}

void put_auth_ok(std::string& out) {
  put_auth(out, AuthCode::Ok, {});
}

void put_auth_cleartext(std::string& out) {
  put_auth(out, AuthCode::CleartextPassword, {});
}

void put_auth_sasl(std::string& out, std::span<const std::string_view> mechanisms) {
  Message message(out, static_cast<char>(BackendType::Authentication));
  put_u32(out, static_cast<std::uint32_t>(AuthCode::Sasl));
  for (const auto mechanism : mechanisms) put_cstring(out, mechanism);
  out.push_back('\0');
  message.finish();
}

void put_auth_sasl_continue(std::string& out, std::string_view data) {
  put_auth(out, AuthCode::SaslContinue, data);
}

void put_auth_sasl_final(std::string& out, std::string_view data) {
  put_auth(out, AuthCode::SaslFinal, data);
}

void put_parameter_status(std::string& out, std::string_view name, std::string_view value) {
  Message message(out, static_cast<char>(BackendType::ParameterStatus));
  put_cstring(out, name);
  put_cstring(out, value);
  message.finish();
}

void put_backend_key_data(std::string& out, std::uint32_t pid, ByteView key) {
  Message message(out, static_cast<char>(BackendType::BackendKeyData));
  put_u32(out, pid);
  put_bytes(out, key);
  message.finish();
}

void put_ready_for_query(std::string& out, TxStatus status) {
  Message message(out, static_cast<char>(BackendType::ReadyForQuery));
  out.push_back(static_cast<char>(status));
  message.finish();
}

void put_negotiate_protocol_version(std::string& out, std::uint32_t newest_version,
                                    std::span<const std::string_view> unsupported) {
  Message message(out, static_cast<char>(BackendType::NegotiateProtocolVersion));
  put_u32(out, newest_version);
  put_u32(out, length32(unsupported.size()));
  for (const auto option : unsupported) put_cstring(out, option);
  message.finish();
}

void put_command_complete(std::string& out, std::string_view tag) {
  Message message(out, static_cast<char>(BackendType::CommandComplete));
  put_cstring(out, tag);
  message.finish();
}

void put_empty_query_response(std::string& out) {
  put_empty(out, static_cast<char>(BackendType::EmptyQueryResponse));
}

void put_parse_complete(std::string& out) {
  put_empty(out, static_cast<char>(BackendType::ParseComplete));
}

void put_bind_complete(std::string& out) {
  put_empty(out, static_cast<char>(BackendType::BindComplete));
}

void put_close_complete(std::string& out) {
  put_empty(out, static_cast<char>(BackendType::CloseComplete));
}

void put_no_data(std::string& out) {
  put_empty(out, static_cast<char>(BackendType::NoData));
}

void put_row_description(std::string& out, std::span<const FieldDescription> fields) {
  Message message(out, static_cast<char>(BackendType::RowDescription));
  put_u16(out, count16(fields.size()));
  for (const auto& field : fields) {
    put_cstring(out, field.name);
    put_u32(out, 0);  // table OID
    put_u16(out, 0);  // column number
    put_u32(out, field.type_oid);
    put_u16(out, static_cast<std::uint16_t>(field.type_size));
    put_u32(out, 0xFFFFFFFF);  // type modifier -1
    put_u16(out, 0);           // text format
  }
  message.finish();
}

void put_data_row(std::string& out, std::span<const std::optional<std::string_view>> values) {
  Message message(out, static_cast<char>(BackendType::DataRow));
  put_u16(out, count16(values.size()));
  for (const auto& value : values) {
    if (!value) {
      put_u32(out, 0xFFFFFFFF);  // -1: NULL
      continue;
    }
    put_u32(out, length32(value->size()));
    out.append(*value);
  }
  message.finish();
}

// The startup packet has no type byte, so its length sits at the start.
void put_startup_message(std::string& out,
                         std::span<const std::pair<std::string_view, std::string_view>> params) {
  Message message(out);
  put_u32(out, kProtocol30);
  for (const auto& [name, value] : params) {
    put_cstring(out, name);
    put_cstring(out, value);
  }
  out.push_back('\0');
  message.finish();
}

void put_ssl_request(std::string& out) {
  put_u32(out, 8);
  put_u32(out, kSslRequestCode);
}

void put_cancel_request(std::string& out, std::uint32_t pid, ByteView key) {
  Message message(out);
  put_u32(out, kCancelRequestCode);
  put_u32(out, pid);
  put_bytes(out, key);
  message.finish();
}

void put_password(std::string& out, std::string_view password) {
  Message message(out, static_cast<char>(FrontendType::Password));
  put_cstring(out, password);
  message.finish();
}

void put_sasl_initial_response(std::string& out, std::string_view mechanism,
                               std::string_view data) {
  Message message(out, static_cast<char>(FrontendType::Password));
  put_cstring(out, mechanism);
  put_u32(out, length32(data.size()));
  out.append(data);
  message.finish();
}

void put_sasl_response(std::string& out, std::string_view data) {
  Message message(out, static_cast<char>(FrontendType::Password));
  out.append(data);
  message.finish();
}

void put_query(std::string& out, std::string_view sql) {
  Message message(out, static_cast<char>(FrontendType::Query));
  put_cstring(out, sql);
  message.finish();
}

void put_parse(std::string& out, std::string_view statement, std::string_view sql,
               std::span<const std::uint32_t> param_types) {
  Message message(out, static_cast<char>(FrontendType::Parse));
  put_cstring(out, statement);
  put_cstring(out, sql);
  put_u16(out, count16(param_types.size()));
  for (const auto oid : param_types) put_u32(out, oid);
  message.finish();
}

void put_describe(std::string& out, char kind, std::string_view name) {
  put_target(out, static_cast<char>(FrontendType::Describe), kind, name);
}

void put_close(std::string& out, char kind, std::string_view name) {
  put_target(out, static_cast<char>(FrontendType::Close), kind, name);
}

void put_sync(std::string& out) {
  put_empty(out, static_cast<char>(FrontendType::Sync));
}

void put_flush(std::string& out) {
  put_empty(out, static_cast<char>(FrontendType::Flush));
}

void put_terminate(std::string& out) {
  put_empty(out, static_cast<char>(FrontendType::Terminate));
}

}  // namespace pgwarden::protocol
