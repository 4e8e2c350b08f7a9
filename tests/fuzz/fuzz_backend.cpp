// libFuzzer target for the backend decoders: the input is a byte stream as an
// upstream server would send it. Each frame is cut out with
// decode_backend_frame and decoded by the decoder for its type; messages
// pgwarden also builds itself must re-encode to the same bytes, and an
// ErrorResponse must keep every field pgwarden relays through a re-encode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/backend.h"
#include "protocol/builder.h"
#include "protocol/frame.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pgwarden::protocol;
using pgwarden::fuzz::check;
using pgwarden::fuzz::check_prefixes;
using pgwarden::fuzz::within;

constexpr BackendLimits kLimits{.max_message_size = 8192};

bool same_bytes(ByteView frame, const std::string& encoded) {
  return as_chars(frame) == encoded;
}

void check_authentication(ByteView whole, ByteView body) {
  const auto m = decode_authentication(body);
  if (!m) return;
  check(within(body, m->payload) && m->payload.size() + 4 == body.size(), "auth payload");
  std::string out;
  switch (m->code) {
    case AuthCode::Ok:
      put_auth_ok(out);
      break;
    case AuthCode::CleartextPassword:
      put_auth_cleartext(out);
      break;
    case AuthCode::SaslContinue:
      put_auth_sasl_continue(out, as_chars(m->payload));
      break;
    case AuthCode::SaslFinal:
      put_auth_sasl_final(out, as_chars(m->payload));
      break;
    case AuthCode::Sasl: {
      const auto mechanisms = decode_sasl_mechanisms(m->payload);
      check(mechanisms.has_value(), "accepted SASL request without mechanisms");
      for (const auto name : *mechanisms) check(within(body, name), "mechanism view");
      put_auth_sasl(out, *mechanisms);
      break;
    }
    case AuthCode::Md5Password:
      check(m->payload.size() == 4, "md5 salt size");
      return;
    default:
      return;  // methods pgwarden refuses: only the views matter
  }
  check(same_bytes(whole, out), "Authentication round trip");
}

void check_error_fields(ByteView body, char type) {
  const auto f = decode_error_fields(body);
  if (!f) return;
  for (const auto v : {f->severity, f->severity_nonlocalized, f->sqlstate, f->message, f->detail,
                       f->hint, f->position}) {
    check(within(body, v), "error field view");
  }
  (void)f->is_fatal();
  // pgwarden writes S and V alike; every other field must survive.
  const ErrorInfo info{.severity = f->severity,
                       .sqlstate = f->sqlstate,
                       .message = f->message,
                       .detail = f->detail,
                       .hint = f->hint,
                       .position = f->position};
  std::string out;
  if (type == 'E') {
    put_error(out, info);
  } else {
    put_notice(out, info);
  }
  const FrameResult again = decode_backend_frame(as_bytes(out), BackendLimits{});
  check(again.status == DecodeStatus::Ok && again.frame.type == type &&
            again.frame.total_size == out.size(),
        "re-encoded error does not frame");
  const auto g = decode_error_fields(again.frame.body);
  check(g.has_value(), "re-encoded error does not decode");
  check(g->severity == f->severity && g->severity_nonlocalized == f->severity &&
            g->sqlstate == f->sqlstate && g->message == f->message && g->detail == f->detail &&
            g->hint == f->hint && g->position == f->position,
        "error fields changed in a round trip");
}

void check_body(ByteView stream, const Frame& frame) {
  const ByteView whole = stream.first(frame.total_size);
  const ByteView body = frame.body;
  std::string out;
  switch (static_cast<BackendType>(frame.type)) {
    case BackendType::Authentication:
      check_authentication(whole, body);
      break;
    case BackendType::ParameterStatus:
      if (const auto m = decode_parameter_status(body)) {
        check(within(body, m->name) && within(body, m->value), "parameter views");
        put_parameter_status(out, m->name, m->value);
        check(same_bytes(whole, out), "ParameterStatus round trip");
      }
      break;
    case BackendType::BackendKeyData:
      if (const auto m = decode_backend_key_data(body)) {
        check(within(body, m->key) && m->key.size() >= 4 && m->key.size() <= 256, "key view");
        put_backend_key_data(out, m->pid, m->key);
        check(same_bytes(whole, out), "BackendKeyData round trip");
      }
      break;
    case BackendType::ReadyForQuery:
      check(body.size() == 1, "ReadyForQuery framed with a body other than 1 byte");
      if (const auto status = decode_ready_for_query(body)) {
        put_ready_for_query(out, *status);
        check(same_bytes(whole, out), "ReadyForQuery round trip");
      }
      break;
    case BackendType::ErrorResponse:
    case BackendType::NoticeResponse:
      check_error_fields(body, frame.type);
      break;
    case BackendType::CommandComplete:
      if (const auto tag = decode_command_complete(body)) {
        check(within(body, *tag), "tag view");
        put_command_complete(out, *tag);
        check(same_bytes(whole, out), "CommandComplete round trip");
      }
      break;
    case BackendType::NegotiateProtocolVersion:
      if (const auto m = decode_negotiate_protocol_version(body)) {
        for (const auto option : m->unsupported_options) check(within(body, option), "option view");
        put_negotiate_protocol_version(out, m->newest_version, m->unsupported_options);
        check(same_bytes(whole, out), "NegotiateProtocolVersion round trip");
      }
      break;
    case BackendType::ParseComplete:
    case BackendType::BindComplete:
    case BackendType::CloseComplete:
    case BackendType::NoData:
    case BackendType::EmptyQueryResponse:
      if (body.empty()) {
        switch (static_cast<BackendType>(frame.type)) {
          case BackendType::ParseComplete:
            put_parse_complete(out);
            break;
          case BackendType::BindComplete:
            put_bind_complete(out);
            break;
          case BackendType::CloseComplete:
            put_close_complete(out);
            break;
          case BackendType::NoData:
            put_no_data(out);
            break;
          default:
            put_empty_query_response(out);
            break;
        }
        check(same_bytes(whole, out), "empty message round trip");
      }
      break;
    default:
      break;  // relayed as opaque bytes
  }
  // Decoders must refuse a body that is not theirs without reading past it:
  // run every one on every body (ASan checks the reads).
  (void)decode_authentication(body);
  (void)decode_sasl_mechanisms(body);
  (void)decode_parameter_status(body);
  (void)decode_backend_key_data(body);
  (void)decode_ready_for_query(body);
  (void)decode_error_fields(body);
  (void)decode_command_complete(body);
  (void)decode_negotiate_protocol_version(body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView stream(reinterpret_cast<const std::byte*>(data), size);
  while (!stream.empty()) {
    const FrameResult r = decode_backend_frame(stream, kLimits);
    if (r.status == DecodeStatus::NeedMore) break;
    if (r.status == DecodeStatus::Error) {
      check(r.error.sqlstate.size() == 5 && !r.error.message.empty(), "error without a reason");
      break;
    }
    const Frame& frame = r.frame;
    check(frame.total_size >= 5 && frame.total_size <= stream.size(), "frame size");
    check(frame.body.size() + 5 == frame.total_size, "body size");
    check(within(stream, frame.body) && frame.body.data() == stream.data() + 5, "body view");
    check(frame.total_size - 1 <= kLimits.max_message_size, "frame over the limit");
    check_prefixes(stream, frame.total_size,
                   [](ByteView b) { return decode_backend_frame(b, kLimits); });
    check_body(stream, frame);
    stream = stream.subspan(frame.total_size);
  }
  return 0;
}
