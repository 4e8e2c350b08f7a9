// libFuzzer target for the frontend decoders: the input is a byte stream as a
// client would send it after startup. Every frame is cut out with
// decode_frontend_frame, decoded by the body decoder for its type, and where
// a builder exists, re-encoded: a message the proxy accepts must come out
// byte for byte as it came in (the decoders are strict, so there is one
// encoding). Prefixes of a frame must never decode as a different frame.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/builder.h"
#include "protocol/frame.h"
#include "protocol/frontend.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pgwarden::protocol;
using pgwarden::fuzz::check;
using pgwarden::fuzz::check_prefixes;
using pgwarden::fuzz::within;

// Small enough that the fuzzer reaches the "too large" path with short inputs.
constexpr FrontendLimits kLimits{.max_message_size = 4096};

bool same_bytes(ByteView frame, const std::string& encoded) {
  return as_chars(frame) == encoded;
}

void check_body(ByteView stream, const Frame& frame) {
  const ByteView whole = stream.first(frame.total_size);
  const ByteView body = frame.body;
  std::string out;
  switch (static_cast<FrontendType>(frame.type)) {
    case FrontendType::Query:
      if (const auto m = decode_query(body)) {
        check(within(body, m->sql), "query view");
        check(m->sql.find('\0') == std::string_view::npos, "NUL in query");
        put_query(out, m->sql);
        check(same_bytes(whole, out), "Query round trip");
      }
      break;
    case FrontendType::Parse:
      if (const auto m = decode_parse(body)) {
        check(within(body, m->statement) && within(body, m->sql) && within(body, m->param_types),
              "parse views");
        check(m->param_types.size() == std::size_t{m->param_count} * 4, "parse type count");
        std::vector<std::uint32_t> types;
        for (std::size_t i = 0; i < m->param_count; ++i) types.push_back(m->param_type(i));
        check(m->param_type(m->param_count) == 0, "param_type past the end");
        put_parse(out, m->statement, m->sql, types);
        check(same_bytes(whole, out), "Parse round trip");
      }
      break;
    case FrontendType::Bind:
      if (const auto m = decode_bind(body)) {
        check(within(body, m->portal) && within(body, m->statement), "bind views");
        // A pooler rewrites the statement name in place at this offset.
        check(m->statement_offset == m->portal.size() + 1, "bind statement offset");
        check(as_chars(body).substr(m->statement_offset, m->statement.size()) == m->statement,
              "bind statement at its offset");
        check(m->param_format_count <= 1 || m->param_format_count == m->param_count,
              "bind format count");
      }
      break;
    case FrontendType::Describe:
    case FrontendType::Close: {
      const bool describe = static_cast<FrontendType>(frame.type) == FrontendType::Describe;
      if (const auto m = describe ? decode_describe(body) : decode_close(body)) {
        check(m->kind == 'S' || m->kind == 'P', "target kind");
        check(within(body, m->name), "target view");
        if (describe) {
          put_describe(out, m->kind, m->name);
        } else {
          put_close(out, m->kind, m->name);
        }
        check(same_bytes(whole, out), "Describe/Close round trip");
      }
      break;
    }
    case FrontendType::Execute:
      if (const auto m = decode_execute(body)) {
        check(within(body, m->portal), "execute view");
        check(body.size() == m->portal.size() + 5, "execute size");
      }
      break;
    case FrontendType::Password: {
      // One type byte, three layouts: the session knows which it expects;
      // the fuzzer tries all of them on the same body.
      if (const auto password = decode_password(body)) {
        check(within(body, *password), "password view");
        put_password(out, *password);
        check(same_bytes(whole, out), "PasswordMessage round trip");
        out.clear();
      }
      if (const auto m = decode_sasl_initial_response(body)) {
        check(within(body, m->mechanism), "sasl mechanism view");
        if (m->data) {
          check(within(body, *m->data), "sasl data view");
          put_sasl_initial_response(out, m->mechanism, *m->data);
          check(same_bytes(whole, out), "SASLInitialResponse round trip");
          out.clear();
        } else {
          check(body.size() == m->mechanism.size() + 5, "SASLInitialResponse without data");
        }
      }
      const std::string_view response = decode_sasl_response(body);
      check(within(body, response) && response.size() == body.size(), "sasl response view");
      put_sasl_response(out, response);
      check(same_bytes(whole, out), "SASLResponse round trip");
      break;
    }
    case FrontendType::Sync:
      put_sync(out);
      check(same_bytes(whole, out), "Sync round trip");
      break;
    case FrontendType::Flush:
      put_flush(out);
      check(same_bytes(whole, out), "Flush round trip");
      break;
    case FrontendType::Terminate:
      put_terminate(out);
      check(same_bytes(whole, out), "Terminate round trip");
      break;
    case FrontendType::CopyData:
    case FrontendType::CopyDone:
    case FrontendType::CopyFail:
    case FrontendType::FunctionCall:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView stream(reinterpret_cast<const std::byte*>(data), size);
  while (!stream.empty()) {
    const FrameResult r = decode_frontend_frame(stream, kLimits);
    if (r.status == DecodeStatus::NeedMore) break;
    if (r.status == DecodeStatus::Error) {
      check(r.error.sqlstate.size() == 5 && !r.error.message.empty(), "error without a reason");
      // Errors are decided on the header alone, so more bytes change nothing.
      const HeaderResult h = decode_frontend_header(stream, kLimits);
      check(h.status == DecodeStatus::Error && h.error.sqlstate == r.error.sqlstate,
            "frame and header disagree");
      break;
    }
    const Frame& frame = r.frame;
    check(frame.total_size >= 5 && frame.total_size <= stream.size(), "frame size");
    check(frame.body.size() + 5 == frame.total_size, "body size");
    check(within(stream, frame.body) && frame.body.data() == stream.data() + 5, "body view");
    check(frame.total_size - 1 <= kLimits.max_message_size, "frame over the limit");
    check_prefixes(stream, frame.total_size,
                   [](ByteView b) { return decode_frontend_frame(b, kLimits); });
    check_body(stream, frame);
    stream = stream.subspan(frame.total_size);
  }
  return 0;
}
