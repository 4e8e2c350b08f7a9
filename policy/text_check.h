// Checks on the raw query text before it reaches the parser: libpg_query takes
// a C string (a NUL ends the text early) and copies bytes without checking
// their encoding, so both are refused first.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pgwarden::policy::detail {

//! The first NUL byte or invalid UTF-8 sequence (overlong, surrogate, above
//! U+10FFFF, truncated, stray continuation byte).
struct InvalidText {
  std::size_t offset = 0;  //!< byte offset of the sequence's first byte
  std::size_t length = 1;  //!< bytes of the bad sequence shown in the message
};

std::optional<InvalidText> find_invalid_text(std::string_view text);

//! PostgreSQL's wording: invalid byte sequence for encoding "UTF8": 0xc0 0xaf
std::string invalid_text_message(std::string_view text, const InvalidText& bad);

}  // namespace pgwarden::policy::detail
