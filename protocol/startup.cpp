// Decoding of the first packet of a connection, following ProcessStartupPacket.
#include "protocol/startup.h"

#include <algorithm>

#include "protocol/reader.h"
#include "protocol/sqlstate.h"

namespace pgwarden::protocol {
namespace {

constexpr std::uint32_t kMinStartupLength = 8;  // length word + protocol code
constexpr std::uint32_t kRequestLength = 8;     // SSLRequest, GSSENCRequest
constexpr std::uint32_t kCancelHeaderLength = 12;
constexpr std::uint32_t kMinCancelKey = 4;
constexpr std::uint32_t kMaxCancelKey = 256;

constexpr DecodeError kInvalidLength{sqlstate::kProtocolViolation,
                                     "invalid length of startup packet"};
constexpr DecodeError kTooLong{sqlstate::kProgramLimitExceeded, "invalid length of startup packet"};
constexpr DecodeError kBadLayout{sqlstate::kProtocolViolation, "invalid startup packet layout"};
constexpr DecodeError kDuplicate{sqlstate::kProtocolViolation,
                                 "duplicate parameter in startup packet"};
constexpr DecodeError kUnsupported{sqlstate::kFeatureNotSupported, "unsupported frontend protocol"};
// PostgreSQL reports a missing user as 28000, not as a framing problem.
constexpr DecodeError kNoUser{sqlstate::kInvalidAuthorization,
                              "no PostgreSQL user name specified in startup packet"};

StartupResult fail(const DecodeError& error) {
  StartupResult result;
  result.status = DecodeStatus::Error;
  result.error = error;
  return result;
}

// Checks that depend only on the length and code, so a bad packet is refused
// as soon as its first eight bytes arrive.
std::optional<DecodeError> check_code(std::uint32_t length, std::uint32_t code) {
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (length != kRequestLength) return kInvalidLength;
      return std::nullopt;
    case kCancelRequestCode:
      if (length < kCancelHeaderLength + kMinCancelKey ||
          length > kCancelHeaderLength + kMaxCancelKey) {
        return kInvalidLength;
      }
      return std::nullopt;
    default:
      if ((code >> 16) != 3) return kUnsupported;
      return std::nullopt;
  }
}

// name\0value\0 ... \0, with the terminator as the very last byte.
bool parse_parameters(Reader& reader, StartupPacket& packet) {
  for (;;) {
    const auto name = reader.cstring();
    if (!name) return false;
    if (name->empty()) return reader.at_end();
    const auto value = reader.cstring();
    if (!value) return false;
    packet.parameters.emplace_back(*name, *value);
  }
}

// Sorting keeps this O(n log n): a 10000-byte packet can hold ~3000 names.
bool has_duplicates(const StartupPacket& packet) {
  std::vector<std::string_view> names;
  names.reserve(packet.parameters.size());
  for (const auto& param : packet.parameters) names.push_back(param.first);
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) != names.end();
}

}  // namespace

std::string_view StartupPacket::parameter(std::string_view name) const {
  const auto it = std::find_if(parameters.begin(), parameters.end(),
                               [&](const auto& p) { return p.first == name; });
  return it == parameters.end() ? std::string_view{} : it->second;
}

StartupResult decode_startup(ByteView buffer) {
  if (buffer.size() < 4) return {};
  const std::uint32_t length = load_be32(buffer.data());
  if (length < kMinStartupLength) return fail(kInvalidLength);
  if (length - 4 > kMaxStartupPacketLength) return fail(kTooLong);
  if (buffer.size() < kMinStartupLength) return {};
  const std::uint32_t code = load_be32(buffer.data() + 4);
  if (const auto error = check_code(length, code)) return fail(*error);
  if (buffer.size() < length) return {};

  StartupResult result;
  StartupPacket& packet = result.packet;
  packet.total_size = length;
  Reader reader(buffer.subspan(kMinStartupLength, length - kMinStartupLength));
  switch (code) {
    case kSslRequestCode:
      packet.kind = StartupKind::SslRequest;
      break;
    case kGssEncRequestCode:
      packet.kind = StartupKind::GssEncRequest;
      break;
    case kCancelRequestCode:
      packet.kind = StartupKind::CancelRequest;
      packet.cancel_pid = *reader.u32();  // length was checked above
      packet.cancel_key = reader.rest();
      break;
    default:
      packet.kind = StartupKind::Startup;
      packet.major = static_cast<std::uint16_t>(code >> 16);
      packet.minor = static_cast<std::uint16_t>(code & 0xFFFF);
      if (!parse_parameters(reader, packet)) return fail(kBadLayout);
      if (has_duplicates(packet)) return fail(kDuplicate);
      if (packet.parameter("user").empty()) return fail(kNoUser);
      break;
  }
  result.status = DecodeStatus::Ok;
  return result;
}

}  // namespace pgwarden::protocol
