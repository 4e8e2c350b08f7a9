// libFuzzer target for the first packet of a connection (StartupMessage,
// SSLRequest, GSSENCRequest, CancelRequest). An accepted packet keeps the
// guarantees the session relies on (user present, names unique, views inside
// the input) and re-encodes to its own bytes; every proper prefix of it is
// NeedMore; an error carries a SQLSTATE and a message.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/builder.h"
#include "protocol/reader.h"
#include "protocol/startup.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pgwarden::protocol;
using pgwarden::fuzz::check;
using pgwarden::fuzz::within;

void check_packet(ByteView input, const StartupPacket& p) {
  check(p.total_size >= 8 && p.total_size <= input.size(), "packet size");
  check(p.total_size - 4 <= kMaxStartupPacketLength, "packet over the limit");
  check(load_be32(input.data()) == p.total_size, "length word");
  const ByteView whole = input.first(p.total_size);
  std::string out;
  switch (p.kind) {
    case StartupKind::Startup: {
      check(p.major == 3, "major version other than 3 accepted");
      check(!p.parameter("user").empty(), "startup packet without a user");
      std::vector<std::string_view> names;
      for (const auto& [name, value] : p.parameters) {
        check(!name.empty(), "empty parameter name");
        check(within(whole, name) && within(whole, value), "parameter views");
        check(p.parameter(name) == value, "parameter lookup");
        names.push_back(name);
      }
      std::sort(names.begin(), names.end());
      check(std::adjacent_find(names.begin(), names.end()) == names.end(), "duplicate names");
      put_startup_message(out, p.parameters);
      // The builder always writes 3.0; the minor version is the client's.
      check(out.size() == whole.size(), "StartupMessage re-encodes to another size");
      std::string original(as_chars(whole));
      original[6] = 0;
      original[7] = 0;
      check(original == out, "StartupMessage round trip");
      break;
    }
    case StartupKind::SslRequest:
      put_ssl_request(out);
      check(as_chars(whole) == out, "SSLRequest round trip");
      break;
    case StartupKind::GssEncRequest:
      check(p.total_size == 8, "GSSENCRequest size");
      break;
    case StartupKind::CancelRequest:
      check(within(whole, p.cancel_key) && p.cancel_key.size() >= 4 && p.cancel_key.size() <= 256,
            "cancel key");
      put_cancel_request(out, p.cancel_pid, p.cancel_key);
      check(as_chars(whole) == out, "CancelRequest round trip");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(reinterpret_cast<const std::byte*>(data), size);
  const StartupResult r = decode_startup(input);
  if (r.status == DecodeStatus::Error) {
    check(r.error.sqlstate.size() == 5 && !r.error.message.empty(), "error without a reason");
    return 0;
  }
  if (r.status == DecodeStatus::NeedMore) {
    // Only a packet longer than the input may ask for more.
    check(size < 8 || load_be32(input.data()) > size, "NeedMore with the whole packet buffered");
    return 0;
  }
  check_packet(input, r.packet);
  // A decoder that answered before the whole packet arrived would act on
  // bytes that are not there yet. Prefixes past the eight-byte header only
  // wait, so checking every one is cheap.
  for (std::size_t n = 0; n < r.packet.total_size; ++n) {
    check(decode_startup(input.first(n)).status == DecodeStatus::NeedMore,
          "prefix of a packet is not NeedMore");
  }
  return 0;
}
