// Test helpers for the literal normaliser, shared by policy_normalize_test and
// the fuzz_normalize target: the literals libpg_query's real scanner
// (pg_query_scan) finds, and a variant of a text with every literal changed.
#pragma once

#include <pg_query.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/normalize.h"

namespace policy_test {

using pgwarden::policy::detail::LiteralKind;
using pgwarden::policy::detail::LiteralSpan;

//! A constant token of PostgreSQL's scanner: [start, end) and its kind.
struct ScannedLiteral {
  std::size_t start = 0;
  std::size_t end = 0;
  char kind = '?';  //!< a LiteralKind, or 'u' for U&'...' (USCONST)
  friend bool operator==(const ScannedLiteral&, const ScannedLiteral&) = default;
};

namespace scan_detail {

// pg_query.proto: ScanResult { int32 version = 1; repeated ScanToken tokens = 2; }
// ScanToken { int32 start = 1; int32 end = 2; Token token = 4; KeywordKind keyword_kind = 5; }
// Decoded by hand: Debian ships no protobuf-c headers.
inline bool varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& out) {
  out = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const std::uint8_t b = *p++;
    out |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

inline bool skip_field(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t wire) {
  std::uint64_t v = 0;
  switch (wire) {
    case 0:
      return varint(p, end, v);
    case 1:
      if (end - p < 8) return false;
      p += 8;
      return true;
    case 2:
      if (!varint(p, end, v) || static_cast<std::uint64_t>(end - p) < v) return false;
      p += v;
      return true;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      return true;
    default:
      return false;
  }
}

// Token numbers from pg_query.proto's enum Token.
constexpr std::uint64_t kFconst = 260, kSconst = 261, kUsconst = 262, kBconst = 263, kXconst = 264,
                        kIconst = 266;

}  // namespace scan_detail

//! The constant tokens of `sql` in text order, or nullopt when the scanner
//! reports an error (or its output cannot be decoded).
inline std::optional<std::vector<ScannedLiteral>> scan_literals(std::string_view sql) {
  using namespace scan_detail;
  const std::string text(sql);
  PgQueryScanResult result = pg_query_scan(text.c_str());
  std::optional<std::vector<ScannedLiteral>> out;
  if (result.error == nullptr) {
    out.emplace();
    const auto* p = reinterpret_cast<const std::uint8_t*>(result.pbuf.data);
    const auto* end = p + result.pbuf.len;
    while (p < end && out) {
      std::uint64_t tag = 0;
      if (!varint(p, end, tag)) {
        out.reset();
        break;
      }
      if (tag != ((2u << 3) | 2u)) {
        if (!skip_field(p, end, tag & 7)) out.reset();
        continue;
      }
      std::uint64_t len = 0;
      if (!varint(p, end, len) || static_cast<std::uint64_t>(end - p) < len) {
        out.reset();
        break;
      }
      const auto* q = p;
      const auto* token_end = p + len;
      p = token_end;
      std::uint64_t start = 0, stop = 0, token = 0;
      while (q < token_end) {
        std::uint64_t t = 0, v = 0;
        if (!varint(q, token_end, t)) break;
        if ((t & 7) != 0) {
          if (!skip_field(q, token_end, t & 7)) break;
          continue;
        }
        if (!varint(q, token_end, v)) break;
        if ((t >> 3) == 1) start = v;
        if ((t >> 3) == 2) stop = v;
        if ((t >> 3) == 4) token = v;
      }
      char kind = 0;
      if (token == kIconst) kind = static_cast<char>(LiteralKind::Integer);
      if (token == kFconst) kind = static_cast<char>(LiteralKind::Numeric);
      if (token == kSconst) kind = static_cast<char>(LiteralKind::String);
      if (token == kBconst) kind = static_cast<char>(LiteralKind::BitString);
      if (token == kXconst) kind = static_cast<char>(LiteralKind::HexString);
      if (token == kUsconst) kind = 'u';
      if (kind != 0) out->push_back({start, stop, kind});
    }
  }
  pg_query_free_scan_result(result);
  return out;
}

//! The normaliser's literals in the same form.
inline std::vector<ScannedLiteral> as_scanned(const std::vector<LiteralSpan>& spans) {
  std::vector<ScannedLiteral> out;
  for (const auto& s : spans)
    out.push_back({s.offset, s.offset + s.length, static_cast<char>(s.kind)});
  return out;
}

//! `sql` with every literal replaced by a different one of the same kind and
//! quoting (so the normalised key stays the same), or nullopt when `sql` has
//! no key or no literal.
inline std::optional<std::string> vary_literals(std::string_view sql) {
  std::string key;
  std::vector<LiteralSpan> spans;
  if (!pgwarden::policy::detail::normalize_literals(sql, key, &spans) || spans.empty()) {
    return std::nullopt;
  }
  std::string out;
  std::size_t at = 0;
  for (const auto& s : spans) {
    out.append(sql.substr(at, s.offset - at));
    const std::string_view old = sql.substr(s.offset, s.length);
    auto pick = [&old](std::string_view a, std::string_view b) {
      return std::string(old == a ? b : a);
    };
    switch (s.kind) {
      case LiteralKind::Integer:
        out += pick("42", "43");
        break;
      case LiteralKind::Numeric:
        // ".5" may follow a name directly (t.5): keep the leading dot.
        out += old.front() == '.' ? pick(".25", ".5") : pick("4.25", "5.5");
        break;
      case LiteralKind::String:
        if (old.front() == '$') {
          out += pick("$v$zz$v$", "$v$yy$v$");
        } else if (old.front() == 'e' || old.front() == 'E') {
          out += pick("E'zz\\n'", "E'yy\\n'");
        } else {
          out += pick("'zz'", "'yy'");
        }
        break;
      case LiteralKind::BitString:
        out += pick("B'0101'", "B'1'");
        break;
      case LiteralKind::HexString:
        out += pick("X'ab'", "X'1'");
        break;
    }
    at = s.offset + s.length;
  }
  out.append(sql.substr(at));
  return out;
}

}  // namespace policy_test
