// Builders: append encoded messages to a caller-owned buffer (reused, so the
// hot path does not allocate once the buffer has grown).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/types.h"

namespace pgwarden::protocol {

//! What pgwarden puts in its own ErrorResponse / NoticeResponse.
struct ErrorInfo {
  std::string_view severity = "ERROR";  //!< ERROR, FATAL, WARNING, NOTICE...
  std::string_view sqlstate{};
  std::string_view message{};
  std::string_view detail{};    //!< omitted when empty
  std::string_view hint{};      //!< omitted when empty
  std::string_view position{};  //!< 1-based character position; omitted when empty
};

// ---- backend messages (pgwarden talking to its clients) ----

//! ErrorResponse with S, V, C, M and, when set, D, H, P.
void put_error(std::string& out, const ErrorInfo& error);
//! NoticeResponse, same fields.
void put_notice(std::string& out, const ErrorInfo& notice);
void put_auth_ok(std::string& out);
void put_auth_cleartext(std::string& out);
//! AuthenticationSASL listing the mechanisms (e.g. "SCRAM-SHA-256").
void put_auth_sasl(std::string& out, std::span<const std::string_view> mechanisms);
void put_auth_sasl_continue(std::string& out, std::string_view data);
void put_auth_sasl_final(std::string& out, std::string_view data);
void put_parameter_status(std::string& out, std::string_view name, std::string_view value);
void put_backend_key_data(std::string& out, std::uint32_t pid, ByteView key);
void put_ready_for_query(std::string& out, TxStatus status);
//! newest_version is a whole version code (196608 = 3.0), as PostgreSQL sends.
void put_negotiate_protocol_version(std::string& out, std::uint32_t newest_version,
                                    std::span<const std::string_view> unsupported);
void put_command_complete(std::string& out, std::string_view tag);
void put_empty_query_response(std::string& out);
void put_parse_complete(std::string& out);
void put_bind_complete(std::string& out);
void put_close_complete(std::string& out);
void put_no_data(std::string& out);

//! One column of a RowDescription: no source table, format 0 (text).
struct FieldDescription {
  std::string_view name;
  std::uint32_t type_oid = 25;  //!< text; 20 = int8
  std::int16_t type_size = -1;  //!< -1 = variable length; 8 for int8
};
//! RowDescription of text-format columns.
void put_row_description(std::string& out, std::span<const FieldDescription> fields);
//! DataRow of text values; nullopt is SQL NULL.
void put_data_row(std::string& out, std::span<const std::optional<std::string_view>> values);

// ---- frontend messages (pgwarden talking to upstream servers) ----

//! StartupMessage, protocol 3.0, parameters in the given order.
void put_startup_message(std::string& out,
                         std::span<const std::pair<std::string_view, std::string_view>> params);
void put_ssl_request(std::string& out);
void put_cancel_request(std::string& out, std::uint32_t pid, ByteView key);
//! PasswordMessage: cleartext or md5 string, NUL-terminated.
void put_password(std::string& out, std::string_view password);
void put_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data);
void put_sasl_response(std::string& out, std::string_view data);
void put_query(std::string& out, std::string_view sql);
void put_parse(std::string& out, std::string_view statement, std::string_view sql,
               std::span<const std::uint32_t> param_types);
void put_describe(std::string& out, char kind, std::string_view name);
void put_close(std::string& out, char kind, std::string_view name);
void put_sync(std::string& out);
void put_flush(std::string& out);
void put_terminate(std::string& out);

}  // namespace pgwarden::protocol
