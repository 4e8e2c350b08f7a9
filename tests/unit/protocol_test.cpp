// Unit tests for protocol framing, the startup packet, message decoders and builders.
#define BOOST_TEST_MODULE protocol
#include <boost/test/unit_test.hpp>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "protocol/backend.h"
#include "protocol/builder.h"
#include "protocol/frame.h"
#include "protocol/frontend.h"
#include "protocol/startup.h"

using namespace pgwarden::protocol;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

std::string be16(std::uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)};
}
std::string be32(std::uint32_t v) {
  return be16(static_cast<std::uint16_t>(v >> 16)) + be16(v);
}

//! A typed message: type, length word (counting itself) and body.
std::string msg(char type, const std::string& body) {
  return type + be32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}
//! A typed message header claiming `length` with no body, for limit checks.
std::string header(char type, std::uint32_t length) {
  return type + be32(length);
}

//! An untyped startup-style packet: length word then `rest`.
std::string packet(const std::string& rest) {
  return be32(static_cast<std::uint32_t>(rest.size() + 4)) + rest;
}
std::string startup(std::uint16_t major, std::uint16_t minor, const std::string& params) {
  return packet(be16(major) + be16(minor) + params);
}

ByteView view(const std::string& s) {
  return as_bytes(s);
}

//! True iff `part` lies entirely inside `outer`: decoders must only return views
//! into the caller's buffer.
bool inside(ByteView outer, ByteView part) {
  if (part.empty()) return true;
  const auto* begin = outer.data();
  return part.data() >= begin && part.data() + part.size() <= begin + outer.size();
}
bool inside(ByteView outer, std::string_view part) {
  return inside(outer, as_bytes(part));
}

const FrontendLimits kFront{};
const BackendLimits kBack{};

DecodeStatus front_status(const std::string& s, const FrontendLimits& l = kFront) {
  return decode_frontend_header(view(s), l).status;
}

}  // namespace

// ---------------------------------------------------------------- framing

BOOST_AUTO_TEST_CASE(frontend_messages_need_more_until_the_last_byte_arrives) {
  std::string parse;
  put_parse(parse, "s1", "SELECT $1", std::vector<std::uint32_t>{23});
  std::string sync;
  put_sync(sync);
  std::string bind = msg('B', "\0s1\0"s + be16(0) + be16(0) + be16(0));
  for (const std::string& whole : {parse, sync, bind, msg('Q', "SELECT 1\0"s)}) {
    for (std::size_t n = 0; n < whole.size(); ++n) {
      const auto r = decode_frontend_frame(view(whole).first(n), kFront);
      BOOST_TEST_CONTEXT("prefix " << n << " of type " << whole[0]) {
        BOOST_TEST((r.status == DecodeStatus::NeedMore));
      }
    }
    const auto r = decode_frontend_frame(view(whole), kFront);
    BOOST_TEST((r.status == DecodeStatus::Ok));
    BOOST_TEST(r.frame.type == whole[0]);
    BOOST_TEST(r.frame.total_size == whole.size());
    BOOST_TEST(r.frame.body.size() == whole.size() - 5);
    BOOST_TEST(r.frame.body.data() == view(whole).data() + 5);
  }
}

BOOST_AUTO_TEST_CASE(backend_messages_need_more_until_the_last_byte_arrives) {
  std::string rfq, err;
  put_ready_for_query(rfq, TxStatus::Idle);
  put_error(err, {.severity = "ERROR", .sqlstate = "42501", .message = "denied"});
  for (const std::string& whole : {rfq, err}) {
    for (std::size_t n = 0; n < whole.size(); ++n) {
      BOOST_TEST(
          (decode_backend_frame(view(whole).first(n), kBack).status == DecodeStatus::NeedMore));
    }
    const auto r = decode_backend_frame(view(whole), kBack);
    BOOST_TEST((r.status == DecodeStatus::Ok));
    BOOST_TEST(r.frame.total_size == whole.size());
  }
}

BOOST_AUTO_TEST_CASE(two_messages_in_one_buffer_decode_one_after_the_other) {
  std::string stream;
  put_query(stream, "SELECT 1");
  put_sync(stream);
  stream += "Q"s + be32(20).substr(0, 2);  // a third message, incomplete
  const auto first = decode_frontend_frame(view(stream), kFront);
  BOOST_TEST((first.status == DecodeStatus::Ok));
  BOOST_TEST(first.frame.type == 'Q');
  BOOST_TEST(decode_query(first.frame.body)->sql == "SELECT 1");
  const auto second = decode_frontend_frame(view(stream).subspan(first.frame.total_size), kFront);
  BOOST_TEST((second.status == DecodeStatus::Ok));
  BOOST_TEST(second.frame.type == 'S');
  const auto rest = view(stream).subspan(first.frame.total_size + second.frame.total_size);
  BOOST_TEST((decode_frontend_frame(rest, kFront).status == DecodeStatus::NeedMore));

  std::string back;
  put_command_complete(back, "SELECT 1");
  put_ready_for_query(back, TxStatus::InBlock);
  const auto cc = decode_backend_frame(view(back), kBack);
  const auto z = decode_backend_frame(view(back).subspan(cc.frame.total_size), kBack);
  BOOST_TEST((z.status == DecodeStatus::Ok));
  BOOST_TEST((*decode_ready_for_query(z.frame.body) == TxStatus::InBlock));
}

BOOST_AUTO_TEST_CASE(unknown_frontend_type_is_refused_from_its_first_byte) {
  for (const char type : {'Z', 'x', 'A', '\0', 'R', '1'}) {
    const auto r = decode_frontend_header(view(std::string(1, type)), kFront);
    BOOST_TEST((r.status == DecodeStatus::Error));
    BOOST_TEST(r.error.sqlstate == "08P01");
  }
  BOOST_TEST((front_status("Q") == DecodeStatus::NeedMore));  // known type waits for length
}

BOOST_AUTO_TEST_CASE(length_below_four_is_a_protocol_violation) {
  for (std::uint32_t len = 0; len < 4; ++len) {
    const auto f = decode_frontend_header(view(header('Q', len)), kFront);
    BOOST_TEST((f.status == DecodeStatus::Error));
    BOOST_TEST(f.error.sqlstate == "08P01");
    const auto b = decode_backend_header(view(header('C', len)), kBack);
    BOOST_TEST((b.status == DecodeStatus::Error));
    BOOST_TEST(b.error.sqlstate == "08P01");
  }
}

BOOST_AUTO_TEST_CASE(sync_flush_terminate_copydone_must_have_length_exactly_four) {
  for (const char type : {'S', 'H', 'X', 'c'}) {
    BOOST_TEST((front_status(header(type, 4)) == DecodeStatus::Ok));
    for (const std::uint32_t bad : {5U, 8U, 10000U}) {
      const auto r = decode_frontend_header(view(header(type, bad)), kFront);
      BOOST_TEST((r.status == DecodeStatus::Error));
      BOOST_TEST(r.error.sqlstate == "08P01");
    }
  }
}

BOOST_AUTO_TEST_CASE(small_control_messages_are_capped_at_10000_with_54000) {
  // A huge configured limit must not lift PostgreSQL's small-message cap.
  const FrontendLimits generous{.max_message_size = 1U << 30};
  for (const char type : {'C', 'D', 'E', 'f'}) {
    BOOST_TEST((front_status(header(type, 10000), generous) == DecodeStatus::Ok));
    const auto r = decode_frontend_header(view(header(type, 10001)), generous);
    BOOST_TEST((r.status == DecodeStatus::Error));
    BOOST_TEST(r.error.sqlstate == "54000");
  }
}

BOOST_AUTO_TEST_CASE(large_messages_are_capped_by_the_configured_limit) {
  const FrontendLimits limits{.max_message_size = 100};
  for (const char type : {'Q', 'P', 'B', 'F', 'd', 'p'}) {
    BOOST_TEST((front_status(header(type, 100), limits) == DecodeStatus::Ok));
    const auto r = decode_frontend_header(view(header(type, 101)), limits);
    BOOST_TEST((r.status == DecodeStatus::Error));
    BOOST_TEST(r.error.sqlstate == "54000");
  }
  // The largest length word must not overflow into an accepted size.
  BOOST_TEST((front_status(header('Q', 0xFFFFFFFF)) == DecodeStatus::Error));
}

BOOST_AUTO_TEST_CASE(backend_type_length_and_ready_for_query_rules) {
  const auto unknown = decode_backend_header(view(header('Q', 4)), kBack);
  BOOST_TEST((unknown.status == DecodeStatus::Error));
  BOOST_TEST(unknown.error.sqlstate == "08P01");
  BOOST_TEST((decode_backend_header(view(header('Z', 5)), kBack).status == DecodeStatus::Ok));
  for (const std::uint32_t bad : {4U, 6U, 100U}) {
    BOOST_TEST(
        (decode_backend_header(view(header('Z', bad)), kBack).status == DecodeStatus::Error));
  }
  const BackendLimits small{.max_message_size = 64};
  BOOST_TEST((decode_backend_header(view(header('D', 64)), small).status == DecodeStatus::Ok));
  const auto big = decode_backend_header(view(header('D', 65)), small);
  BOOST_TEST((big.status == DecodeStatus::Error));
  BOOST_TEST(big.error.sqlstate == "54000");
}

// ---------------------------------------------------------------- startup

BOOST_AUTO_TEST_CASE(startup_message_decodes_parameters_in_order_byte_by_byte) {
  const std::string params = "user\0alice\0database\0db\0_pq_.x\0y\0\0"s;
  const std::string whole = startup(3, 0, params);
  for (std::size_t n = 0; n < whole.size(); ++n) {
    BOOST_TEST((decode_startup(view(whole).first(n)).status == DecodeStatus::NeedMore));
  }
  const auto r = decode_startup(view(whole));
  BOOST_TEST_REQUIRE((r.status == DecodeStatus::Ok));
  BOOST_TEST((r.packet.kind == StartupKind::Startup));
  BOOST_TEST(r.packet.major == 3);
  BOOST_TEST(r.packet.minor == 0);
  BOOST_TEST(r.packet.total_size == whole.size());
  BOOST_TEST_REQUIRE(r.packet.parameters.size() == 3U);
  BOOST_TEST(r.packet.parameters[2].first == "_pq_.x");
  BOOST_TEST(r.packet.parameter("database") == "db");
  BOOST_TEST(r.packet.parameter("options") == "");
  BOOST_TEST(inside(view(whole), r.packet.parameter("user")));
}

BOOST_AUTO_TEST_CASE(startup_builder_round_trips) {
  const std::pair<std::string_view, std::string_view> params[] = {{"user", "bob"},
                                                                  {"application_name", ""}};
  std::string out;
  put_startup_message(out, params);
  const auto r = decode_startup(view(out));
  BOOST_TEST_REQUIRE((r.status == DecodeStatus::Ok));
  BOOST_TEST(r.packet.parameter("user") == "bob");
  BOOST_TEST(r.packet.parameters.size() == 2U);
  BOOST_TEST(r.packet.total_size == out.size());
}

BOOST_AUTO_TEST_CASE(ssl_and_gssenc_requests_are_exactly_eight_bytes) {
  std::string ssl;
  put_ssl_request(ssl);
  BOOST_TEST(ssl == be32(8) + be32(80877103));
  const auto r = decode_startup(view(ssl));
  BOOST_TEST((r.packet.kind == StartupKind::SslRequest));
  BOOST_TEST(r.packet.total_size == 8U);
  const auto g = decode_startup(view(packet(be32(80877104))));
  BOOST_TEST((g.packet.kind == StartupKind::GssEncRequest));
  for (const std::uint32_t code : {80877103U, 80877104U}) {
    const auto bad = decode_startup(view(packet(be32(code) + be32(0))));
    BOOST_TEST((bad.status == DecodeStatus::Error));
    BOOST_TEST(bad.error.sqlstate == "08P01");
  }
}

BOOST_AUTO_TEST_CASE(ssl_request_then_startup_in_one_buffer) {
  std::string stream;
  put_ssl_request(stream);
  stream += startup(3, 0, "user\0u\0\0"s);
  const auto ssl = decode_startup(view(stream));
  BOOST_TEST(ssl.packet.total_size == 8U);
  const auto s = decode_startup(view(stream).subspan(8));
  BOOST_TEST((s.packet.kind == StartupKind::Startup));
}

BOOST_AUTO_TEST_CASE(cancel_request_keys_of_4_to_256_bytes) {
  std::string cancel;
  const std::string key30 = "\x01\x02\x03\x04";
  put_cancel_request(cancel, 0x7FFF0001, view(key30));
  BOOST_TEST(cancel.size() == 16U);
  const auto r = decode_startup(view(cancel));
  BOOST_TEST_REQUIRE((r.status == DecodeStatus::Ok));
  BOOST_TEST((r.packet.kind == StartupKind::CancelRequest));
  BOOST_TEST(r.packet.cancel_pid == 0x7FFF0001U);
  BOOST_TEST(as_chars(r.packet.cancel_key) == key30);
  for (const std::size_t len : {32U, 256U}) {
    const auto ok = decode_startup(view(packet(be32(80877102) + be32(1) + std::string(len, 'k'))));
    BOOST_TEST((ok.status == DecodeStatus::Ok));
    BOOST_TEST(ok.packet.cancel_key.size() == len);
  }
  for (const std::size_t len : {0U, 3U, 257U}) {
    const auto bad = decode_startup(view(packet(be32(80877102) + be32(1) + std::string(len, 'k'))));
    BOOST_TEST((bad.status == DecodeStatus::Error));
  }
}

BOOST_AUTO_TEST_CASE(startup_length_bounds_follow_postgresql) {
  for (const std::uint32_t len : {0U, 4U, 7U}) {
    const auto r = decode_startup(view(be32(len)));
    BOOST_TEST((r.status == DecodeStatus::Error));
    BOOST_TEST(r.error.sqlstate == "08P01");
  }
  // 10000 bytes after the length word is the most PostgreSQL accepts.
  const std::string head = "user\0u\0options\0"s;
  const std::string fill(10000 - 4 - head.size() - 2, 'x');
  const std::string largest = startup(3, 0, head + fill + "\0\0"s);
  BOOST_TEST(largest.size() == 10004U);
  BOOST_TEST((decode_startup(view(largest)).status == DecodeStatus::Ok));
  const auto over = decode_startup(view(be32(10005)));  // refused before the body arrives
  BOOST_TEST((over.status == DecodeStatus::Error));
  BOOST_TEST(over.error.sqlstate == "54000");
}

BOOST_AUTO_TEST_CASE(startup_without_user_is_28000) {
  for (const std::string& params : {"database\0d\0\0"s, "user\0\0\0"s, "\0"s}) {
    const auto r = decode_startup(view(startup(3, 0, params)));
    BOOST_TEST((r.status == DecodeStatus::Error));
    BOOST_TEST(r.error.sqlstate == "28000");
  }
}

BOOST_AUTO_TEST_CASE(startup_layout_errors_are_08P01) {
  for (const std::string& params : {
           "user\0u"s,              // unterminated value
           "user\0u\0"s,            // no final terminator
           "user\0u\0data"s,        // unterminated name
           "user\0u\0\0extra"s,     // bytes after the terminator
           "user\0u\0user\0v\0\0"s  // duplicate name
       }) {
    const auto r = decode_startup(view(startup(3, 0, params)));
    BOOST_TEST((r.status == DecodeStatus::Error));
    BOOST_TEST(r.error.sqlstate == "08P01");
  }
  BOOST_TEST((decode_startup(view(startup(3, 0, ""))).status == DecodeStatus::Error));
}

BOOST_AUTO_TEST_CASE(only_major_version_3_is_accepted_and_minor_is_returned) {
  for (const std::uint16_t major : {1, 2, 4, 1234}) {
    const auto r = decode_startup(view(startup(major, 0, "user\0u\0\0"s)));
    BOOST_TEST((r.status == DecodeStatus::Error));
    BOOST_TEST(r.error.sqlstate == "0A000");
    BOOST_TEST(r.error.message == "unsupported frontend protocol");
  }
  for (const std::uint16_t minor : {0, 2, 9}) {
    const auto r = decode_startup(view(startup(3, minor, "user\0u\0\0"s)));
    BOOST_TEST_REQUIRE((r.status == DecodeStatus::Ok));
    BOOST_TEST(r.packet.minor == minor);
  }
}

// ---------------------------------------------------------------- frontend decoders

namespace {
//! Decodes the single frame that `out` must hold, checking its type.
ByteView only_frame(const std::string& out, char type) {
  const auto r = decode_frontend_frame(view(out), FrontendLimits{});
  BOOST_TEST_REQUIRE((r.status == DecodeStatus::Ok));
  BOOST_TEST(r.frame.type == type);
  BOOST_TEST(r.frame.total_size == out.size());
  return r.frame.body;
}
}  // namespace

BOOST_AUTO_TEST_CASE(query_round_trips_and_rejects_trailing_bytes) {
  std::string out;
  put_query(out, "SELECT 1");
  BOOST_TEST(decode_query(only_frame(out, 'Q'))->sql == "SELECT 1");
  BOOST_TEST(!decode_query(view("SELECT 1\0; DROP TABLE t\0"s)));
  BOOST_TEST(!decode_query(view("SELECT 1"s)));
  BOOST_TEST(!decode_query({}));
}

BOOST_AUTO_TEST_CASE(parse_round_trips_with_parameter_types) {
  std::string out;
  const std::vector<std::uint32_t> types{23, 0, 0xFFFFFFFF};
  put_parse(out, "stmt", "SELECT $1, $2, $3", types);
  const auto body = only_frame(out, 'P');
  const auto p = decode_parse(body);
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->statement == "stmt");
  BOOST_TEST(p->sql == "SELECT $1, $2, $3");
  BOOST_TEST(p->param_count == 3);
  BOOST_TEST(p->param_type(0) == 23U);
  BOOST_TEST(p->param_type(2) == 0xFFFFFFFFU);
  BOOST_TEST(p->param_type(3) == 0U);
  BOOST_TEST(inside(body, p->param_types));
  BOOST_TEST(!decode_parse(body.first(body.size() - 1)));              // truncated OID
  BOOST_TEST(!decode_parse(view(std::string(as_chars(body)) + "x")));  // trailing byte
  BOOST_TEST(!decode_parse(view("\0SELECT 1\0"s + be16(1))));          // count beyond bytes
}

BOOST_AUTO_TEST_CASE(bind_decodes_counts_and_statement_offset) {
  const std::string body = "p1\0s1\0"s + be16(2) + be16(0) + be16(1) + be16(2) + be32(3) + "abc" +
                           be32(0xFFFFFFFF) + be16(1) + be16(1);
  const auto b = decode_bind(view(body));
  BOOST_TEST_REQUIRE(b.has_value());
  BOOST_TEST(b->portal == "p1");
  BOOST_TEST(b->statement == "s1");
  BOOST_TEST(b->statement_offset == 3U);
  BOOST_TEST(body.substr(b->statement_offset, b->statement.size()) == "s1");
  BOOST_TEST(b->param_format_count == 2);
  BOOST_TEST(b->param_count == 2);
  BOOST_TEST(b->result_format_count == 1);
  BOOST_TEST(decode_bind(view("\0\0"s + be16(1) + be16(1) + be16(3) + be32(0) + be32(0) + be32(0) +
                              be16(0)))
                 .has_value());  // one format applies to all three parameters
}

BOOST_AUTO_TEST_CASE(bind_rejects_malformed_bodies) {
  const std::string head = "\0\0"s;
  for (const std::string& body : {
           head + be16(1) + be16(2) + be16(0) + be16(0),           // format code 2
           head + be16(0) + be16(1) + be32(0xFFFFFFFE) + be16(0),  // length -2
           head + be16(0) + be16(1) + be32(10) + "abc" + be16(0),  // value past end
           head + be16(2) + be16(0) + be16(0) + be16(3) + be32(0) + be32(0) + be32(0) +
               be16(0),                                   // 2 formats for 3 params
           head + be16(0) + be16(0) + be16(0) + "x",      // trailing byte
           head + be16(0) + be16(0) + be16(1) + be16(7),  // result format 7
           "\0"s,                                         // no statement name
       }) {
    BOOST_TEST(!decode_bind(view(body)));
  }
}

BOOST_AUTO_TEST_CASE(describe_and_close_round_trip_and_check_kind) {
  std::string d, c;
  put_describe(d, 'S', "s1");
  put_close(c, 'P', "");
  const auto dm = decode_describe(only_frame(d, 'D'));
  BOOST_TEST(dm->kind == 'S');
  BOOST_TEST(dm->name == "s1");
  const auto cm = decode_close(only_frame(c, 'C'));
  BOOST_TEST(cm->kind == 'P');
  BOOST_TEST(cm->name == "");
  BOOST_TEST(!decode_describe(view("Xs1\0"s)));
  BOOST_TEST(!decode_close(view("Ss1"s)));
  BOOST_TEST(!decode_close(view("Ss1\0\0"s)));
  BOOST_TEST(!decode_close({}));
}

BOOST_AUTO_TEST_CASE(execute_password_and_sasl_bodies) {
  const std::string execute = "portal\0"s + be32(0xFFFFFFFF);
  const auto e = decode_execute(view(execute));
  BOOST_TEST(e->portal == "portal");
  BOOST_TEST(e->max_rows == -1);
  BOOST_TEST(!decode_execute(view("portal\0"s + be16(0))));

  std::string pw;
  put_password(pw, "md5abc");
  BOOST_TEST(*decode_password(only_frame(pw, 'p')) == "md5abc");
  BOOST_TEST(!decode_password(view("a\0b\0"s)));

  std::string sasl;
  put_sasl_initial_response(sasl, "SCRAM-SHA-256", "n,,n=,r=abc");
  const auto s = decode_sasl_initial_response(only_frame(sasl, 'p'));
  BOOST_TEST(s->mechanism == "SCRAM-SHA-256");
  BOOST_TEST(s->data.value() == "n,,n=,r=abc");
  const auto none = decode_sasl_initial_response(view("M\0"s + be32(0xFFFFFFFF)));
  BOOST_TEST_REQUIRE(none.has_value());
  BOOST_TEST(!none->data.has_value());
  BOOST_TEST(!decode_sasl_initial_response(view("M\0"s + be32(0xFFFFFFFE))));
  BOOST_TEST(!decode_sasl_initial_response(view("M\0"s + be32(4) + "abc")));
  BOOST_TEST(!decode_sasl_initial_response(view("M\0"s + be32(2) + "abc")));
  BOOST_TEST(!decode_sasl_initial_response(view("M\0"s + be32(0xFFFFFFFF) + "x")));

  std::string resp;
  put_sasl_response(resp, "c=biws,r=x,p=y");
  BOOST_TEST(decode_sasl_response(only_frame(resp, 'p')) == "c=biws,r=x,p=y");
}

// ---------------------------------------------------------------- backend decoders

namespace {
ByteView only_backend_frame(const std::string& out, char type) {
  const auto r = decode_backend_frame(view(out), BackendLimits{});
  BOOST_TEST_REQUIRE((r.status == DecodeStatus::Ok));
  BOOST_TEST(r.frame.type == type);
  BOOST_TEST(r.frame.total_size == out.size());
  return r.frame.body;
}
}  // namespace

BOOST_AUTO_TEST_CASE(authentication_requests_round_trip) {
  std::string ok, clear, sasl, cont, fin;
  put_auth_ok(ok);
  put_auth_cleartext(clear);
  const std::string_view mechs[] = {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"};
  put_auth_sasl(sasl, mechs);
  put_auth_sasl_continue(cont, "r=abc,s=c2FsdA==,i=4096");
  put_auth_sasl_final(fin, "v=xyz");
  BOOST_TEST((decode_authentication(only_backend_frame(ok, 'R'))->code == AuthCode::Ok));
  BOOST_TEST(
      (decode_authentication(only_backend_frame(clear, 'R'))->code == AuthCode::CleartextPassword));
  const auto s = decode_authentication(only_backend_frame(sasl, 'R'));
  BOOST_TEST((s->code == AuthCode::Sasl));
  const auto list = decode_sasl_mechanisms(s->payload);
  BOOST_TEST_REQUIRE(list->size() == 2U);
  BOOST_TEST((*list)[1] == "SCRAM-SHA-256-PLUS");
  const auto c = decode_authentication(only_backend_frame(cont, 'R'));
  BOOST_TEST((c->code == AuthCode::SaslContinue));
  BOOST_TEST(as_chars(c->payload) == "r=abc,s=c2FsdA==,i=4096");
  BOOST_TEST(as_chars(decode_authentication(only_backend_frame(fin, 'R'))->payload) == "v=xyz");

  const std::string md5_request = be32(5) + "salt";
  const auto md5 = decode_authentication(view(md5_request));
  BOOST_TEST(as_chars(md5->payload) == "salt");
  BOOST_TEST(!decode_authentication(view(be32(5) + "sal")));
  BOOST_TEST(!decode_authentication(view(be32(0) + "x")));
  BOOST_TEST(!decode_authentication(view(be32(10) + "SCRAM-SHA-256\0"s)));  // no list end
  BOOST_TEST(!decode_authentication(view(be16(0))));
  BOOST_TEST(decode_authentication(view(be32(7)))->payload.empty());  // GSS: caller refuses
}

BOOST_AUTO_TEST_CASE(parameter_status_key_data_and_ready_for_query) {
  std::string ps, kd, z;
  put_parameter_status(ps, "TimeZone", "UTC");
  const auto p = decode_parameter_status(only_backend_frame(ps, 'S'));
  BOOST_TEST(p->name == "TimeZone");
  BOOST_TEST(p->value == "UTC");
  BOOST_TEST(!decode_parameter_status(view("TimeZone\0UTC"s)));

  const std::string key = "\xde\xad\xbe\xef";
  put_backend_key_data(kd, 42, view(key));
  const auto k = decode_backend_key_data(only_backend_frame(kd, 'K'));
  BOOST_TEST(k->pid == 42U);
  BOOST_TEST(as_chars(k->key) == key);
  BOOST_TEST(!decode_backend_key_data(view(be32(1) + "abc")));
  BOOST_TEST(decode_backend_key_data(view(be32(1) + std::string(256, 'k'))).has_value());
  BOOST_TEST(!decode_backend_key_data(view(be32(1) + std::string(257, 'k'))));

  for (const TxStatus st : {TxStatus::Idle, TxStatus::InBlock, TxStatus::Failed}) {
    z.clear();
    put_ready_for_query(z, st);
    BOOST_TEST((decode_ready_for_query(only_backend_frame(z, 'Z')) == st));
  }
  BOOST_TEST(!decode_ready_for_query(view("X"s)));
  BOOST_TEST(!decode_ready_for_query(view("II"s)));
}

BOOST_AUTO_TEST_CASE(error_response_has_exact_bytes_and_omits_empty_fields) {
  std::string out;
  put_error(out, {.severity = "FATAL", .sqlstate = "08P01", .message = "bad"});
  BOOST_TEST(out == msg('E', "SFATAL\0VFATAL\0C08P01\0Mbad\0\0"s));
}

BOOST_AUTO_TEST_CASE(error_fields_round_trip_and_unknown_codes_are_skipped) {
  std::string out;
  put_notice(out, {.severity = "WARNING",
                   .sqlstate = "01000",
                   .message = "m",
                   .detail = "d",
                   .hint = "h",
                   .position = "7"});
  const auto f = decode_error_fields(only_backend_frame(out, 'N'));
  BOOST_TEST_REQUIRE(f.has_value());
  BOOST_TEST(f->severity_nonlocalized == "WARNING");
  BOOST_TEST(f->sqlstate == "01000");
  BOOST_TEST(f->detail == "d");
  BOOST_TEST(f->hint == "h");
  BOOST_TEST(f->position == "7");
  BOOST_TEST(!f->is_fatal());

  const std::string fatal = "SFATAL\0Zfuture\0C57P01\0Mbye\0\0"s;
  const auto g = decode_error_fields(view(fatal));
  BOOST_TEST_REQUIRE(g.has_value());
  BOOST_TEST(g->is_fatal());
  BOOST_TEST(g->sqlstate == "57P01");
  // 'V' wins over a localised 'S'.
  BOOST_TEST(decode_error_fields(view("SFATALE\0VPANIC\0\0"s))->is_fatal());
  BOOST_TEST(!decode_error_fields(view("SFATAL\0VERROR\0\0"s))->is_fatal());
  BOOST_TEST(!decode_error_fields(view("SERROR\0Mx\0"s)));  // no terminator
  BOOST_TEST(!decode_error_fields(view("SERROR\0\0x"s)));   // trailing byte
  BOOST_TEST(!decode_error_fields(view("SERROR"s)));
}

BOOST_AUTO_TEST_CASE(command_complete_and_negotiate_protocol_version) {
  std::string cc, nv;
  put_command_complete(cc, "INSERT 0 1");
  BOOST_TEST(*decode_command_complete(only_backend_frame(cc, 'C')) == "INSERT 0 1");
  const std::string_view opts[] = {"_pq_.a", "_pq_.b"};
  put_negotiate_protocol_version(nv, 2, opts);
  const auto n = decode_negotiate_protocol_version(only_backend_frame(nv, 'v'));
  BOOST_TEST(n->newest_version == 2U);
  BOOST_TEST_REQUIRE(n->unsupported_options.size() == 2U);
  BOOST_TEST(n->unsupported_options[1] == "_pq_.b");
  BOOST_TEST(!decode_negotiate_protocol_version(view(be32(0) + be32(0xFFFFFFFF) + "a\0"s)));
  BOOST_TEST(!decode_negotiate_protocol_version(view(be32(0) + be32(1) + "a\0b"s)));
  BOOST_TEST(!decode_command_complete(view("SELECT 1"s)));
}

BOOST_AUTO_TEST_CASE(row_description_and_data_row_are_byte_exact) {
  std::string t;
  const FieldDescription fields[] = {{"user"}, {"cl_active", 20, 8}};
  put_row_description(t, fields);
  // count, then per field: name, table OID, column, type OID, size, typmod, format.
  const std::string body = be16(2) + "user\0"s + be32(0) + be16(0) + be32(25) + be16(0xFFFF) +
                           be32(0xFFFFFFFF) + be16(0) + "cl_active\0"s + be32(0) + be16(0) +
                           be32(20) + be16(8) + be32(0xFFFFFFFF) + be16(0);
  BOOST_TEST(t == msg('T', body));
  std::string d;
  const std::optional<std::string_view> values[] = {"alice", std::nullopt, ""};
  put_data_row(d, values);
  BOOST_TEST(d == msg('D', be16(3) + be32(5) + "alice" + be32(0xFFFFFFFF) + be32(0)));
  // A NUL inside a value is data, not framing; inside a column name it is a bug.
  std::string nul;
  const std::optional<std::string_view> binary[] = {"a\0b"sv};
  put_data_row(nul, binary);
  BOOST_TEST(nul == msg('D', be16(1) + be32(3) + "a\0b"s));
  const FieldDescription bad[] = {{"a\0b"sv}};
  BOOST_CHECK_THROW(put_row_description(nul, bad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(every_builder_emits_exactly_one_well_formed_frame) {
  const std::string_view mech[] = {"SCRAM-SHA-256"};
  const std::vector<std::function<void(std::string&)>> backend = {[](std::string& o) { put_auth_ok(o); },
                                                                  [](std::string& o) { put_empty_query_response(o); },
                                                                  [](std::string& o) { put_parse_complete(o); },
                                                                  [](std::string& o) { put_bind_complete(o); },
                                                                  [](std::string& o) { put_close_complete(o); },
                                                                  [](std::string& o) { put_no_data(o); },
                                                                  [&](std::string& o) { put_auth_sasl(o, mech); }};
  for (const auto& build : backend) {
    std::string out = "prefix";  // builders append, never overwrite
    build(out);
    BOOST_TEST(out.substr(0, 6) == "prefix");
    const auto r = decode_backend_frame(view(out).subspan(6), kBack);
    BOOST_TEST((r.status == DecodeStatus::Ok));
    BOOST_TEST(r.frame.total_size == out.size() - 6);
  }
  const std::vector<std::function<void(std::string&)>> frontend = {
      [](std::string& o) { put_sync(o); }, [](std::string& o) { put_flush(o); },
      [](std::string& o) { put_terminate(o); }};
  for (const auto& build : frontend) {
    std::string out;
    build(out);
    BOOST_TEST(out.size() == 5U);
    BOOST_TEST((decode_frontend_frame(view(out), kFront).status == DecodeStatus::Ok));
  }
}

BOOST_AUTO_TEST_CASE(a_nul_inside_a_string_field_throws_and_leaves_the_buffer_unchanged) {
  std::string out = "keep";
  BOOST_CHECK_THROW(put_query(out, "SELECT 1\0; DROP TABLE t"s), std::invalid_argument);
  BOOST_CHECK_THROW(put_parse(out, "s", "a\0b"s, {}), std::invalid_argument);
  BOOST_TEST(out == "keep");
  // Error text is cut instead, since error paths must not throw.
  put_error(out, {.severity = "ERROR", .sqlstate = "XX000", .message = "a\0b"s});
  BOOST_TEST(decode_error_fields(only_backend_frame(out.substr(4), 'E'))->message == "a");
}

// ---------------------------------------------------------------- robustness

namespace {

//! Runs every decoder on `input`; returned views must stay inside it.
void decode_everything(ByteView input) {
  const auto f = decode_frontend_frame(input, FrontendLimits{.max_message_size = 4096});
  if (f.status == DecodeStatus::Ok) {
    BOOST_TEST_REQUIRE(f.frame.total_size <= input.size());
    BOOST_TEST_REQUIRE(inside(input, f.frame.body));
  }
  const auto b = decode_backend_frame(input, BackendLimits{.max_message_size = 4096});
  if (b.status == DecodeStatus::Ok) BOOST_TEST_REQUIRE(inside(input, b.frame.body));
  const auto s = decode_startup(input);
  if (s.status == DecodeStatus::Ok) {
    BOOST_TEST_REQUIRE(s.packet.total_size <= input.size());
    for (const auto& [name, value] : s.packet.parameters) {
      BOOST_TEST_REQUIRE(inside(input, name));
      BOOST_TEST_REQUIRE(inside(input, value));
    }
  }
  if (const auto q = decode_query(input)) BOOST_TEST_REQUIRE(inside(input, q->sql));
  if (const auto p = decode_parse(input)) {
    BOOST_TEST_REQUIRE(inside(input, p->param_types));
    for (std::size_t i = 0; i <= p->param_count; ++i) (void)p->param_type(i);
  }
  if (const auto bm = decode_bind(input)) {
    BOOST_TEST_REQUIRE(bm->statement_offset + bm->statement.size() <= input.size());
  }
  (void)decode_describe(input);
  (void)decode_close(input);
  (void)decode_execute(input);
  (void)decode_password(input);
  if (const auto sr = decode_sasl_initial_response(input); sr && sr->data) {
    BOOST_TEST_REQUIRE(inside(input, *sr->data));
  }
  (void)decode_sasl_response(input);
  if (const auto a = decode_authentication(input)) (void)decode_sasl_mechanisms(a->payload);
  (void)decode_sasl_mechanisms(input);
  (void)decode_parameter_status(input);
  if (const auto k = decode_backend_key_data(input)) BOOST_TEST_REQUIRE(inside(input, k->key));
  (void)decode_ready_for_query(input);
  if (const auto e = decode_error_fields(input)) (void)e->is_fatal();
  (void)decode_command_complete(input);
  (void)decode_negotiate_protocol_version(input);
}

}  // namespace

BOOST_AUTO_TEST_CASE(ten_thousand_rounds_of_random_bytes_never_crash_any_decoder) {
  std::mt19937 rng(20240601);  // fixed seed: failures must reproduce
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 96);
  for (int round = 0; round < 10000; ++round) {
    std::vector<std::byte> data(static_cast<std::size_t>(length(rng)));
    for (auto& b : data) b = static_cast<std::byte>(byte(rng));
    // Small length words make random input reach the body decoders too.
    if (data.size() >= 5 && round % 2 == 0) {
      data[1] = data[2] = std::byte{0};
      data[3] = std::byte{0};
      data[4] = static_cast<std::byte>(data.size() - 1);
    }
    decode_everything(data);
    // Every decoder on every prefix would be slow; a random cut still
    // exercises the truncated-body paths.
    if (!data.empty()) decode_everything(ByteView(data).first(data.size() / 2));
  }
}

BOOST_AUTO_TEST_CASE(ten_thousand_mutations_of_valid_messages_never_crash_any_decoder) {
  std::vector<std::string> corpus;
  std::string s;
  put_parse(s, "s", "SELECT $1", std::vector<std::uint32_t>{23});
  corpus.push_back(s.substr(5));
  corpus.push_back("p\0s\0"s + be16(1) + be16(1) + be16(1) + be32(2) + "ab" + be16(1) + be16(0));
  corpus.push_back(startup(3, 0, "user\0u\0database\0d\0\0"s));
  corpus.push_back(be32(10) + "SCRAM-SHA-256\0\0"s);
  corpus.push_back("SERROR\0VERROR\0C42501\0Mdenied\0\0"s);
  corpus.push_back(be32(2) + be32(2) + "_pq_.a\0_pq_.b\0"s);
  corpus.push_back("M\0"s + be32(3) + "abc");
  std::mt19937 rng(7);
  for (int round = 0; round < 10000; ++round) {
    std::string m = corpus[static_cast<std::size_t>(round) % corpus.size()];
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < flips; ++i) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) m.resize(rng() % (m.size() + 1));
    decode_everything(view(m));
  }
}
