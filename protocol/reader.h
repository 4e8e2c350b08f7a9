// Bounds-checked cursor over wire bytes, shared by the protocol decoders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/types.h"

namespace pgwarden::protocol {

//! Reads a big-endian 16-bit integer; the caller guarantees 2 bytes.
inline std::uint16_t load_be16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<std::uint16_t>(p[0]) << 8) |
                                    std::to_integer<std::uint16_t>(p[1]));
}

//! Reads a big-endian 32-bit integer; the caller guarantees 4 bytes.
inline std::uint32_t load_be32(const std::byte* p) {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) |
         (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

//! A cursor that never moves past the end of its view: every read either
//! succeeds whole or returns nullopt and leaves the cursor where it was.
class Reader {
 public:
  explicit Reader(ByteView bytes) : bytes_(bytes) {}

  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return bytes_.size() - offset_; }
  bool at_end() const { return offset_ == bytes_.size(); }

  std::optional<std::uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return std::to_integer<std::uint8_t>(bytes_[offset_++]);
  }
  std::optional<std::uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    const auto value = load_be16(bytes_.data() + offset_);
    offset_ += 2;
    return value;
  }
  std::optional<std::uint32_t> u32() {
    if (remaining() < 4) return std::nullopt;
    const auto value = load_be32(bytes_.data() + offset_);
    offset_ += 4;
    return value;
  }
  std::optional<std::int32_t> i32() {
    const auto value = u32();
    if (!value) return std::nullopt;
    return static_cast<std::int32_t>(*value);
  }
  //! A NUL-terminated string; the view excludes the NUL, the cursor passes it.
  std::optional<std::string_view> cstring() {
    const auto rest = as_chars(bytes_.subspan(offset_));
    const auto nul = rest.find('\0');
    if (nul == std::string_view::npos) return std::nullopt;
    offset_ += nul + 1;
    return rest.substr(0, nul);
  }
  std::optional<ByteView> bytes(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    const auto view = bytes_.subspan(offset_, n);
    offset_ += n;
    return view;
  }
  ByteView rest() {
    const auto view = bytes_.subspan(offset_);
    offset_ = bytes_.size();
    return view;
  }

 private:
  ByteView bytes_;
  std::size_t offset_ = 0;
};

}  // namespace pgwarden::protocol
