// Shared helpers of the libFuzzer targets: an invariant check that survives
// NDEBUG, and a test that a decoded view lies inside the input it came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "protocol/frame.h"

namespace pgwarden::fuzz {

//! Aborts (a libFuzzer crash with a stack) when an invariant does not hold.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

//! True if `part` views memory inside `whole` (an empty view anywhere counts:
//! it reads nothing). ASan catches reads past the input; this catches views
//! that point into some other buffer the caller would later read.
inline bool within(std::span<const std::byte> whole, std::span<const std::byte> part) {
  if (part.empty()) return true;
  const auto begin = reinterpret_cast<std::uintptr_t>(whole.data());
  const auto end = begin + whole.size();
  const auto first = reinterpret_cast<std::uintptr_t>(part.data());
  return first >= begin && first + part.size() <= end;
}

inline bool within(std::span<const std::byte> whole, std::string_view part) {
  return within(whole, std::as_bytes(std::span(part.data(), part.size())));
}

//! Every proper prefix of an accepted frame of `total` bytes decodes as
//! NeedMore: a decoder that answered early would act on bytes that have not
//! arrived. Short prefixes (the header) and the last few are enough; the
//! middle takes the same path.
template <typename Decode>
void check_prefixes(std::span<const std::byte> stream, std::size_t total, Decode decode) {
  for (std::size_t n = 0; n < total; ++n) {
    if (n > 8 && n + 8 < total) n = total - 8;
    check(decode(stream.first(n)).status == protocol::DecodeStatus::NeedMore,
          "prefix of a frame is not NeedMore");
  }
}

}  // namespace pgwarden::fuzz
