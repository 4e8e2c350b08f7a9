// Strict UTF-8 and NUL check of query text (RFC 3629, as PostgreSQL's
// pg_utf8_islegal).
#include "policy/text_check.h"

#include <algorithm>
#include <cstdio>

namespace pgwarden::policy::detail {
namespace {

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

//! Length of the valid sequence at text[i], or 0 if it is not valid.
std::size_t valid_sequence_length(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // 0x80-0xC1 (continuation, overlong 2-byte), 0xF5-0xFF
  }
  if (i + len > text.size()) return 0;
  const auto second = static_cast<unsigned char>(text[i + 1]);
  if (second < lo || second > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (!is_continuation(static_cast<unsigned char>(text[i + k]))) return 0;
  }
  return len;
}

//! How many bytes PostgreSQL would show for a bad sequence: the length its
//! lead byte announces, cut at the end of the text.
std::size_t shown_length(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  std::size_t len = 1;
  if (c >= 0xC0 && c <= 0xDF) len = 2;
  if (c >= 0xE0 && c <= 0xEF) len = 3;
  if (c >= 0xF0 && c <= 0xF7) len = 4;
  return std::min(len, text.size() - i);
}

}  // namespace

std::optional<InvalidText> find_invalid_text(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c != 0 && c < 0x80) {
      ++i;
      continue;
    }
    if (c == 0) return InvalidText{i, 1};
    const std::size_t len = valid_sequence_length(text, i);
    if (len == 0) return InvalidText{i, shown_length(text, i)};
    i += len;
  }
  return std::nullopt;
}

std::string invalid_text_message(std::string_view text, const InvalidText& bad) {
  std::string out = "invalid byte sequence for encoding \"UTF8\":";
  for (std::size_t k = 0; k < bad.length && bad.offset + k < text.size(); ++k) {
    char hex[8];
    std::snprintf(hex, sizeof hex, " 0x%02x",
                  static_cast<unsigned>(static_cast<unsigned char>(text[bad.offset + k])));
    out += hex;
  }
  return out;
}

}  // namespace pgwarden::policy::detail
